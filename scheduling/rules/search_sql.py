"""The patient-facts statement of a search or a booking check, as text with its tables'
names left out: ``loading.search_rows`` fills them in and runs it on PostgreSQL, in one
round trip."""

from __future__ import annotations

# Each part answers what the ORM reads in _rows_portable. The plan's network, closures
# and time off are skipped at run time when not asked for (a false one-time filter on a
# parameter); the plan's network is also left out (NULL) when this process already holds
# it at the current network version (``known``): PostgreSQL runs an uncorrelated subquery
# only when its value is first needed, so the CASE spares the participation scan.
SEARCH_ROWS_SQL = """
    WITH cov AS (
        SELECT c.plan_id, py.name || ' ' || pl.name AS plan_name
          FROM {coverage} c
          JOIN {plan} pl ON pl.id = c.plan_id
          JOIN {payer} py ON py.id = pl.payer_id
         WHERE c.patient_id = %(p)s AND c.active
           AND (c.effective_from IS NULL OR c.effective_from <= %(d)s)
           AND (c.effective_until IS NULL OR c.effective_until >= %(d)s)
         ORDER BY c.priority LIMIT 1)
    SELECT
      (SELECT version FROM scheduling_network_version WHERE id = 1),
      (SELECT json_build_array(plan_id, plan_name) FROM cov),
      (SELECT coalesce(json_agg(json_build_array(
                  a.provider_id, a.status, (extract(epoch FROM a.start) * 1000000)::bigint)
               ORDER BY a.start DESC), '[]')
         FROM {appointment} a
        WHERE a.patient_id = %(p)s AND a.status IN ('booked', 'arrived', 'completed')),
      (SELECT coalesce(json_agg(DISTINCT e.code), '[]')
         FROM {fact} f JOIN {equipment} e ON e.id = f.requires_equipment_id
        WHERE f.patient_id = %(p)s AND f.active),
      EXISTS (SELECT 1 FROM {identifier} i
               WHERE i.patient_id = %(p)s AND i.kind = %(mrn)s AND i.location_id IS NOT NULL),
      (SELECT coalesce(json_agg(json_build_array(
                  a.id, (extract(epoch FROM a.start) * 1000000)::bigint,
                  (extract(epoch FROM a."end") * 1000000)::bigint, l.name, l.time_zone)
               ORDER BY a.start), '[]')
         FROM {appointment} a JOIN {location} l ON l.id = a.location_id
        WHERE a.patient_id = %(p)s AND a.status IN ('booked', 'arrived')
          AND a."end" > %(since)s),
      CASE WHEN %(known)s::bigint = (SELECT version FROM scheduling_network_version WHERE id = 1)
                AND (SELECT plan_id FROM cov) = ANY(%(known_plans)s::int[])
           THEN NULL
           ELSE (SELECT json_build_array(
                coalesce(json_agg(n.location_id) FILTER (WHERE n.location_id IS NOT NULL), '[]'),
                coalesce(json_agg(n.provider_id) FILTER (WHERE n.provider_id IS NOT NULL), '[]'))
         FROM {participation} n
        WHERE %(on)s::date IS NOT NULL AND n.plan_id = (SELECT plan_id FROM cov) AND n.in_network
          AND (n.effective_from IS NULL OR n.effective_from <= %(on)s::date)
          AND (n.effective_until IS NULL OR n.effective_until >= %(on)s::date)) END,
      (SELECT json_agg(json_build_array(c.location_id, c.date))
         FROM {closure} c
        WHERE %(absences)s::boolean AND c.date BETWEEN %(first)s::date AND %(last)s::date),
      (SELECT json_agg(json_build_array(t.provider_id,
                  (extract(epoch FROM t.starts_at) * 1000000)::bigint,
                  (extract(epoch FROM t.ends_at) * 1000000)::bigint))
         FROM {time_off} t
        WHERE %(absences)s::boolean
          AND t.ends_at > %(ws)s::timestamptz AND t.starts_at < %(we)s::timestamptz),
      (SELECT json_agg(DISTINCT r.location_id)
         FROM {booking} b JOIN {room} r ON r.id = b.room_id
        WHERE b.active AND b."end" > %(ws)s::timestamptz AND b.start < %(we)s::timestamptz)
"""

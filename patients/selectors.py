"""Reads for patients: the typo-tolerant search, and the rows behind the console's context.

Search has to feel instant at 100,000 patients on PostgreSQL and on SQLite, and it has
to forgive typos ("Gonzlez" finds "Gonzalez"). Neither database can do fuzzy name
matching through a btree index, so the search works in two steps on both:

1. cheap indexed prefilters: exact phone, date of birth, identifier value (MRN at any
   location) and member id each hit their own blind index (the columns themselves are
   encrypted, see ``config.crypto``); a name is matched against the set of *distinct*
   folded last names (a few hundred to a few thousand strings, kept encrypted in
   ``PatientName``, decrypted into a cache in process and invalidated when a name is
   added) with rapidfuzz, and the winners are looked up through the name blind index;
2. rapidfuzz scores the few hundred candidates with the same Jaro-Winkler similarity
   the duplicate check uses (``patients.matching``), and only the best are loaded.

pg_trgm would do step 1 inside PostgreSQL, but it needs an extension and a GIN index
that SQLite lacks; one code path measured on both keeps the behaviour identical.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from rapidfuzz.distance import JaroWinkler

from config.compiled import Compiled, CompiledByLength, stand_in_id
from config.crypto.fields import blind_index_of
from config.permissions import VIEW_PATIENT

from .matching import POSSIBLE, demographics_of, match_score, normalize_name
from .models import (
    ClinicalFact,
    ClinicalNeedRule,
    Coverage,
    DuplicateCandidate,
    Patient,
    PatientIdentifier,
)
from .names import NAME_CUTOFF, _first_names, _last_names, name_index_key
from .search_query import ParsedQuery, parse_query

SEARCH_LIMIT = 25
# Upper bound on candidate rows pulled for scoring: the most common surname in a
# 100,000-patient network has a few hundred rows, so this is never the bottleneck.
CANDIDATE_CAP = 5000

NO_PERMISSION = "You do not have permission to look up patients."
PATIENT_NOT_FOUND = "No such patient."

# Patient ids -> {location id: location name}, for the locations a search hit lists.
LocationsSeen = Callable[[list[int]], Mapping[int, Mapping[int, str]]]


@dataclass
class PatientHit:
    patient: Patient
    score: float
    matched_on: list[str]
    locations: list[str] = field(default_factory=list)
    possible_duplicates: list[int] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.patient.pk


def _can_view(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(VIEW_PATIENT))


@lru_cache(maxsize=65536)
def _norm(value: str) -> str:
    # Names repeat heavily (a few thousand distinct surnames for 100k people), so the
    # accent folding is done once per distinct string, not once per candidate row.
    return normalize_name(value)


def _similarity(a: str, b: str) -> float:
    return float(JaroWinkler.normalized_similarity(a, b)) if a and b else 0.0


def _name_score(typed: tuple[str, ...], first: str, last: str) -> float:
    """Best similarity of the typed (normalized) names to this patient's, in either order."""
    if not typed:
        return 0.0
    first_n, last_n = _norm(first), _norm(last)
    if len(typed) == 1:
        return max(_similarity(typed[0], last_n), 0.9 * _similarity(typed[0], first_n))
    # "Maria Gonzalez", "Gonzalez Maria" and "Gonzalez, Maria" all find her.
    forward = 0.6 * _similarity(typed[-1], last_n) + 0.4 * _similarity(typed[0], first_n)
    backward = 0.6 * _similarity(typed[0], last_n) + 0.4 * _similarity(typed[-1], first_n)
    return max(forward, backward)


# How many rows a lone surname may pull for scoring: all of them tie on the name, so the
# first ones alphabetically by first name are as good as any; the agent narrows with a
# first name or a DOB.
SURNAME_ONLY_ROWS = 200


def _name_candidates(
    live: Any, parsed: ParsedQuery, columns: tuple[str, ...], key: tuple[str, int | None]
) -> list[tuple]:
    """Rows whose names are within typo distance of what was typed, through name indexes."""
    names = parsed.names
    if parsed.date_of_birth:
        # With a DOB typed, a namesake born in another year is someone else: the name
        # index narrows, the clear birth year cuts (the DOB index answers equality only).
        near = {s for name in names for s in _last_names.lookup(name, key=key)}
        if not near:
            return []
        return list(
            live.filter(last_name_bidx__in=near, birth_year=parsed.date_of_birth.year).values_list(
                *columns
            )[:CANDIDATE_CAP]
        )
    if len(names) >= 2:
        # "Maria Gonzalez" or "Gonzalez Maria": try both orders, first name and surname
        # each fuzzy-matched against their own distinct values.
        either = Q(pk__in=[])
        for first_typed, last_typed in ((names[0], names[-1]), (names[-1], names[0])):
            surnames = _last_names.lookup(last_typed, key=key)
            firsts = _first_names.lookup(first_typed, key=key)
            if surnames and firsts:
                either |= Q(last_name_bidx__in=surnames, first_name_bidx__in=firsts)
        found = list(live.filter(either).values_list(*columns)[:CANDIDATE_CAP])
        if found:
            return found
        # A nickname or an unusual first name: fall back to the surname alone.
        names = (names[-1], names[0])
    rows: list[tuple] = []
    seen: set[str] = set()
    for typed in names[:2]:
        for surname in _last_names.lookup(typed, key=key):
            if surname in seen:
                continue
            seen.add(surname)
            # All of them tie on the surname; which SURNAME_ONLY_ROWS are scored is
            # arbitrary (the name is encrypted, so not alphabetical), the agent narrows.
            rows.extend(
                live.filter(last_name_bidx=surname)
                .order_by("first_name_bidx", "pk")
                .values_list(*columns)[: SURNAME_ONLY_ROWS - len(rows)]
            )
            if len(rows) >= SURNAME_ONLY_ROWS:
                return rows
    return rows


def patient_search(
    *,
    query: str,
    user: Any,
    limit: int = SEARCH_LIMIT,
    locations_seen: LocationsSeen | None = None,
) -> list[PatientHit]:
    """Patients matching a free-text query, best first, with their locations and duplicates.

    The query may hold names (typos tolerated), a date of birth, a phone number, an MRN
    from any location or a member id, in any order. Merged records are not returned:
    their survivor is. ``locations_seen`` (patient ids -> {location id: name}) adds the
    locations an app above this one knows the patients from; without it a hit lists its
    home location and the locations holding its MRNs.
    """
    if not _can_view(user):
        raise PermissionDenied(NO_PERMISSION)
    parsed = parse_query(query)
    if not (parsed.names or parsed.date_of_birth or parsed.phone or parsed.tokens):
        return []

    # candidate id -> reasons it came up through an exact (indexed) key
    exact: dict[int, list[str]] = defaultdict(list)
    if parsed.phone:
        phone_bidx = blind_index_of(Patient, "phone_bidx", parsed.phone)
        for pid in Patient.objects.filter(phone_bidx=phone_bidx).values_list("id", flat=True):
            exact[pid].append("phone")
    if parsed.phone_suffix:
        for pid in patient_ids_by_phone_suffix(parsed.phone_suffix):
            exact[pid].append("end of phone number")
    if parsed.tokens:
        values = set(parsed.tokens) | {t.upper() for t in parsed.tokens}
        idents = {blind_index_of(PatientIdentifier, "value_bidx", v) for v in values}
        members = {blind_index_of(Coverage, "member_id_bidx", v) for v in values}
        for pid in PatientIdentifier.objects.filter(value_bidx__in=idents).values_list(
            "patient_id", flat=True
        ):
            exact[pid].append("MRN")
        for pid in Coverage.objects.filter(member_id_bidx__in=members).values_list(
            "patient_id", flat=True
        ):
            exact[pid].append("member id")

    dobs: set[date] = set()
    if parsed.date_of_birth:
        dob = parsed.date_of_birth
        dobs = {dob}
        if dob.day <= 12 and dob.day != dob.month:
            # The commonest keying error swaps day and month; matching forgives it too.
            dobs.add(date(dob.year, dob.day, dob.month))

    live = Patient.objects.exclude(status=Patient.Status.MERGED)
    # Candidates are scored on blind indexes: names come folded from the name cache,
    # DOBs compare as index values, so no candidate row is decrypted; only the hits are.
    columns = ("id", "first_name_bidx", "last_name_bidx", "date_of_birth_bidx")
    key = name_index_key()
    firsts, lasts = _first_names.folded_names(key=key), _last_names.folded_names(key=key)
    dob_keys = {blind_index_of(Patient, "date_of_birth_bidx", d) for d in dobs}
    typed_dob = (
        blind_index_of(Patient, "date_of_birth_bidx", parsed.date_of_birth)
        if parsed.date_of_birth
        else None
    )
    # Every query below hits an index and returns tens of rows, not thousands.
    keyed = Q(id__in=list(exact))
    if dobs:
        # A DOB finds the patient even when the name was mangled beyond the cutoff.
        keyed |= Q(date_of_birth_bidx__in=dob_keys)
    rows = {row[0]: row for row in live.filter(keyed).values_list(*columns)} if keyed else {}
    if parsed.names:
        for row in _name_candidates(live, parsed, columns, key):
            rows.setdefault(row[0], row)
    candidates = [
        (pid, firsts.get(first, ""), lasts.get(last, ""), dob)
        for pid, first, last, dob in rows.values()
    ]

    typed = tuple(n for n in (_norm(name) for name in parsed.names) if n)
    scored: list[tuple[float, int, list[str]]] = []
    for pid, first, last, dob in candidates:
        reasons = list(exact.get(pid, []))
        score = 1.0 if reasons else 0.0
        name_ok = False
        if parsed.names:
            similarity = _name_score(typed, first, last)
            name_ok = similarity >= NAME_CUTOFF
            if name_ok:
                reasons.append("name" if similarity == 1.0 else "similar name")
                score = max(score, similarity)
            elif len(typed) > 1 and max(_similarity(t, _norm(last)) for t in typed) >= NAME_CUTOFF:
                # Surname right, first name not (a nickname): shown, ranked below.
                name_ok = True
                reasons.append("last name")
                score = max(score, similarity)
        if parsed.date_of_birth:
            if dob == typed_dob:
                reasons.append("date of birth")
                score += 0.5
            elif dob in dob_keys:
                reasons.append("date of birth with day and month swapped")
                score += 0.3
            elif name_ok:
                # Right name, different DOB: likely someone else; keep it, rank it low.
                score -= 0.3
        if not reasons:
            continue
        # A DOB alone matches many people; with a name typed, the name must fit too
        # unless it is far off but the DOB is exact (a badly misspelt name).
        if (
            parsed.names
            and not name_ok
            and not exact.get(pid)
            and (dob != typed_dob or _name_score(typed, first, last) < 0.7)
        ):
            continue
        scored.append((score, pid, reasons))
    names_of = {row[0]: (row[2], row[1]) for row in candidates}
    scored.sort(key=lambda item: (-item[0], names_of[item[1]], item[1]))
    top = scored[:limit]
    if not top:
        return []

    patients = Patient.objects.select_related("home_location").in_bulk([pid for _, pid, _ in top])
    hits = [
        PatientHit(patient=patients[pid], score=round(score, 3), matched_on=reasons)
        for score, pid, reasons in top
        if pid in patients
    ]
    patient_hits_attach_locations(
        hits, seen=locations_seen([hit.id for hit in hits]) if locations_seen else None
    )
    _attach_duplicates(hits)
    return hits


def patient_hits_again(
    *,
    ids: list[int],
    matched_on: Mapping[int, list[str]],
    user: Any,
    locations_seen: LocationsSeen | None = None,
) -> list[PatientHit]:
    """The hits of an earlier search, in its order, from their ids: how the console
    shows its last results after a reload without keeping what was typed."""
    if not _can_view(user):
        raise PermissionDenied(NO_PERMISSION)
    patients = Patient.objects.select_related("home_location").in_bulk(ids)
    hits = [
        PatientHit(patient=patients[pid], score=0.0, matched_on=list(matched_on.get(pid, [])))
        for pid in ids
        if pid in patients and patients[pid].status != Patient.Status.MERGED
    ]
    patient_hits_attach_locations(
        hits, seen=locations_seen([hit.id for hit in hits]) if locations_seen else None
    )
    _attach_duplicates(hits)
    return hits


def patient_ids_by_phone_suffix(digits: str) -> list[int]:
    """Patients whose phone number ends with ``digits`` (four or more of them).

    Phones are encrypted: the blind index of the last four digits narrows, and the exact
    check on the whole suffix runs on the decrypted values. Capped like name candidates;
    a four-digit suffix matches about one number in ten thousand.
    """
    rows = (
        Patient.objects.exclude(status=Patient.Status.MERGED)
        .filter(phone_last4_bidx=blind_index_of(Patient, "phone_last4_bidx", digits))
        .values_list("id", "phone")[:CANDIDATE_CAP]
    )
    return [pid for pid, phone in rows if phone.endswith(digits)]


def patient_hits_attach_locations(
    hits: list[PatientHit], *, seen: Mapping[int, Mapping[int, str]] | None = None
) -> None:
    """Home location, every location that knows the patient (an MRN), and ``seen``.

    ``seen`` maps a patient id to the locations (id -> name) another app knows the
    patient from; the console's read model passes where the patient had appointments.
    The home location comes first, then the rest by name.
    """
    ids = [hit.id for hit in hits]
    names: dict[int, dict[int, str]] = defaultdict(dict)
    for hit in hits:
        home = hit.patient.home_location
        if home is not None:
            names[hit.id][home.pk] = home.name
    for pid, lid, name in _identifier_locations.rows(ids=ids) if ids else []:
        names[pid][lid] = name
    for pid, located in (seen or {}).items():
        names[pid].update(located)
    for hit in hits:
        home_id = hit.patient.home_location_id
        known = names[hit.id]
        ordered = sorted(known, key=lambda lid: (lid != home_id, known[lid]))
        hit.locations = [known[lid] for lid in ordered]


# Run for every search's hits and every context opened: compiled per number of patients.
_identifier_locations: CompiledByLength[tuple[int, int, str]] = CompiledByLength(
    lambda ids: (
        PatientIdentifier.objects.filter(patient_id__in=ids, location__isnull=False)
        .order_by()
        .values_list("patient_id", "location_id", "location__name")
        .distinct()
    ),
    "ids",
)


def _attach_duplicates(hits: list[PatientHit]) -> None:
    """Flag open duplicate candidates on record, and pairs in these results that match."""
    by_id = {hit.id: hit for hit in hits}
    ids = list(by_id)
    for a, b in DuplicateCandidate.objects.filter(
        Q(patient_a_id__in=ids) | Q(patient_b_id__in=ids), status=DuplicateCandidate.Status.OPEN
    ).values_list("patient_a_id", "patient_b_id"):
        if a in by_id and b not in by_id[a].possible_duplicates:
            by_id[a].possible_duplicates.append(b)
        if b in by_id and a not in by_id[b].possible_duplicates:
            by_id[b].possible_duplicates.append(a)
    demographics = {hit.id: demographics_of(hit.patient) for hit in hits}
    for i, first in enumerate(hits):
        for second in hits[i + 1 :]:
            # Without the same (or day/month-swapped) DOB, names, phone and ZIP add up to
            # at most 0.60 in match_score, below POSSIBLE: skip the pair without scoring.
            dob_a, dob_b = first.patient.date_of_birth, second.patient.date_of_birth
            if dob_a != dob_b and (dob_a.year, dob_a.month, dob_a.day) != (
                dob_b.year,
                dob_b.day,
                dob_b.month,
            ):
                continue
            if match_score(demographics[first.id], demographics[second.id]).score >= POSSIBLE:
                if second.id not in first.possible_duplicates:
                    first.possible_duplicates.append(second.id)
                if first.id not in second.possible_duplicates:
                    second.possible_duplicates.append(first.id)


# ---------------------------------------------------------------------------
# Reads for the console's patient context (scheduling.console.readmodel)
# ---------------------------------------------------------------------------
def patient_with_home(*, patient_id: int) -> Patient | None:
    """The patient with their home location (and the record merged into) loaded."""
    return _for_viewing.first(patient_id=patient_id)


def patient_for_viewing(*, patient_id: int, user: Any, known: Patient | None = None) -> Patient:
    """The patient, for someone allowed to look patients up.

    ``known``: the row as ``patient_with_home`` read it earlier in the same request.
    Raises PermissionDenied (NO_PERMISSION) before reading anything, and
    Patient.DoesNotExist (PATIENT_NOT_FOUND) for an unknown id.
    """
    if not _can_view(user):
        raise PermissionDenied(NO_PERMISSION)
    if known is not None and known.pk == patient_id:
        return known
    patient = _for_viewing.first(patient_id=patient_id)
    if patient is None:
        raise Patient.DoesNotExist(PATIENT_NOT_FOUND)
    return patient


def patient_active_coverages(*, patient: Patient) -> list[Coverage]:
    return _active_coverages.rows(patient_id=patient.pk)


def patient_identifiers(*, patient: Patient) -> list[PatientIdentifier]:
    return _identifiers.rows(patient_id=patient.pk)


def patient_active_clinical_facts(*, patient: Patient) -> list[ClinicalFact]:
    return _active_facts.rows(patient_id=patient.pk)


# The console reads these on every patient it opens and every booking it redraws: each is
# compiled once per connection (config.compiled), since building and compiling the
# queryset cost more than PostgreSQL spent answering it. Same querysets as before, with
# the order .first() and the models' defaults gave them.
_for_viewing: Compiled[Patient] = Compiled(
    lambda patient_id: (
        Patient.objects.select_related("home_location", "merged_into")
        .filter(pk=patient_id)
        .order_by("pk")[:1]
    ),
    patient_id=stand_in_id(),
)
_active_coverages: Compiled[Coverage] = Compiled(
    lambda patient_id: Coverage.objects.filter(patient_id=patient_id, active=True).select_related(
        "plan__payer"
    ),
    patient_id=stand_in_id(),
)
_identifiers: Compiled[PatientIdentifier] = Compiled(
    lambda patient_id: PatientIdentifier.objects.filter(patient_id=patient_id).select_related(
        "location"
    ),
    patient_id=stand_in_id(),
)
_active_facts: Compiled[ClinicalFact] = Compiled(
    lambda patient_id: ClinicalFact.objects.filter(
        patient_id=patient_id, active=True
    ).select_related("source_location", "requires_equipment", "need_rule"),
    patient_id=stand_in_id(),
)


def clinical_need_codes() -> set[str]:
    """The codes some active need rule enforces (what an HL7 observation must carry to be
    recorded as a clinical fact)."""
    return set(ClinicalNeedRule.objects.filter(active=True).values_list("code", flat=True))


def clinical_fact_on_file(*, patient: Patient, source_system: str, record_id: str) -> bool:
    key = ClinicalFact.source_key_of(source_system, record_id)
    return ClinicalFact.objects.filter(patient=patient, source_key=key).exists()


def patient_ids_by_phone(digits: str) -> list[int]:
    """Active patients whose phone on file is exactly these digits (through the blind
    index: the phone itself is encrypted)."""
    if not digits:
        return []
    return list(
        Patient.objects.filter(
            phone_bidx=blind_index_of(Patient, "phone_bidx", digits),
            status=Patient.Status.ACTIVE,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )

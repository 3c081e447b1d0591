"""Region scoping as access control: which patients an agent may read and book.

An agent with a home region reaches the patients whose home location is in that region
or who have care history there (an appointment at, or a chart number from, one of its
locations), patients tied to no region at all yet, and the patients they widened to for
a call that is still open. Everyone
with the ``access_all_regions`` permission, and agents without a home region, reach all.
Out-of-scope rows are simply absent (a 404, never a 403), so scope does not confirm that
a patient or appointment exists.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.db.models import Exists, OuterRef, Q, QuerySet

from config.permissions import ACCESS_ALL_REGIONS
from patients.models import Patient, PatientIdentifier

from ..models import AccessWiden, Appointment
from .agents import home_region_id


def scoped_region_id(user: Any) -> int | None:
    """The region the user is confined to; None when they are not confined."""
    if user is None or not user.is_authenticated or user.has_perm(ACCESS_ALL_REGIONS):
        return None
    return home_region_id(user)


def _in_scope_q(user: Any, region_id: int) -> Q:
    appointments = Appointment.objects.filter(patient_id=OuterRef("pk"))
    charts = PatientIdentifier.objects.filter(patient_id=OuterRef("pk"), location__isnull=False)
    widened = AccessWiden.objects.filter(
        patient_id=OuterRef("pk"),
        user_id=user.pk,
        call__agent_id=user.pk,
        call__ended_at__isnull=True,
    )
    return (
        Q(home_location__region_id=region_id)
        | Exists(appointments.filter(location__region_id=region_id))
        | Exists(charts.filter(location__region_id=region_id))
        | Exists(widened)
        # Nobody's yet: no home location and no care history anywhere (a caller just
        # registered); the agent who registers them must be able to book them.
        | (Q(home_location__isnull=True) & ~Exists(appointments) & ~Exists(charts))
    )


def patients_in_scope(user: Any, patients: QuerySet[Patient] | None = None) -> QuerySet[Patient]:
    patients = Patient.objects.all() if patients is None else patients
    region_id = scoped_region_id(user)
    if region_id is None:
        return patients
    # A subquery, not the joins themselves: a patient with several visits or charts in the
    # region must still count once in a search's total.
    return patients.filter(pk__in=Patient.objects.filter(_in_scope_q(user, region_id)).values("pk"))


def patient_in_scope(user: Any, patient_id: int, *, loaded: bool = False) -> bool:
    """True when the user may read and book this patient (an unknown id is False).

    ``loaded``: the caller has just read the patient's row, so a user confined to no
    region needs no query to know it exists."""
    region_id = scoped_region_id(user)
    if region_id is None:
        return loaded or Patient.objects.filter(pk=patient_id).exists()
    alias = router.db_for_read(Patient)
    compiled = _one_patient_check(alias)
    if compiled is None:
        return patients_in_scope(user, Patient.objects.filter(pk=patient_id)).exists()
    sql, params = compiled
    real = {_PATIENT: patient_id, _REGION: region_id, _USER: user.pk}
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [real.get(p, p) if type(p) is int else p for p in params])
        return cursor.fetchone() is not None


# The single-patient check, compiled once per database with these stand-ins for the
# patient, region and user, which each call swaps for the real ids: building and
# compiling its EXISTS branches cost more than running them (it runs on every patient
# opened, redrawn or booked). Same query as patients_in_scope(), so one definition.
_PATIENT, _REGION, _USER = -9_000_001, -9_000_002, -9_000_003
_compiled: dict[str, tuple[str, tuple[Any, ...]] | None] = {}


class _StandInUser:
    pk = _USER  # all _in_scope_q reads of the user


def _one_patient_check(alias: str) -> tuple[str, tuple[Any, ...]] | None:
    if alias not in _compiled:
        scoped = Patient.objects.filter(
            pk__in=Patient.objects.filter(_in_scope_q(_StandInUser, _REGION)).values("pk")
        )
        query = scoped.filter(pk=_PATIENT).order_by().values_list("pk")[:1].query
        sql, params = query.get_compiler(using=alias).as_sql()
        # Every stand-in must be a parameter, or the swap would miss it: else the ORM.
        found = {p for p in params if type(p) is int}
        _compiled[alias] = (sql, tuple(params)) if {_PATIENT, _REGION, _USER} <= found else None
    return _compiled[alias]


def appointments_in_scope(
    user: Any, appointments: QuerySet[Appointment] | None = None
) -> QuerySet[Appointment]:
    appointments = Appointment.objects.all() if appointments is None else appointments
    region_id = scoped_region_id(user)
    if region_id is None:
        return appointments
    reachable = Patient.objects.filter(_in_scope_q(user, region_id)).values("pk")
    return appointments.filter(patient_id__in=reachable)

"""Writes for patients. Every function here is atomic and keyword-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q

from config.crypto.fields import blind_index_of
from config.permissions import ADD_PATIENT

from .matching import Demographics, MatchResult, demographics_of, match_score
from .models import DuplicateCandidate, Patient
from .names import _last_names, name_index_key
from .phones import normalize_phone
from .signals import patient_created
from .validation import registration_errors

# Fields an agent may fill in at registration; anything else in ``data`` is refused.
REGISTRATION_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "address_line",
    "city",
    "state",
    "zip_code",
    "preferred_language",
    "home_location",
    "consent_sms",
    "consent_email",
)

POSSIBLE_DUPLICATES = (
    "This caller may already be registered. Open one of the listed patients, or confirm "
    "that the caller is not a duplicate to register anyway."
)
NO_PERMISSION = "You do not have permission to register patients."


def dob_index(day: date) -> str:
    return blind_index_of(Patient, "date_of_birth_bidx", day)


@dataclass(frozen=True)
class DuplicateMatch:
    patient: Patient
    match: MatchResult


class PossibleDuplicate(Exception):
    """Raised by ``patient_register`` instead of creating; carries the candidates."""

    def __init__(self, candidates: list[DuplicateMatch]) -> None:
        super().__init__(POSSIBLE_DUPLICATES)
        self.candidates = candidates


def _demographics(data: Mapping[str, Any]) -> Demographics:
    return Demographics(
        first_name=data.get("first_name", ""),
        last_name=data.get("last_name", ""),
        date_of_birth=data.get("date_of_birth"),
        phone=normalize_phone(data.get("phone", "") or ""),
        zip_code=data.get("zip_code", "") or "",
        sex=data.get("sex", "") or "",
    )


def patient_duplicates(*, data: Mapping[str, Any]) -> list[DuplicateMatch]:
    """Existing patients who may be the person described by ``data``, best first.

    Candidates come from indexed keys only (same or day/month-swapped DOB, same phone,
    a last name within typo distance), then ``match_score`` judges each one, the same
    rule the inbound ADT path uses.
    """
    new = _demographics(data)
    keys = Q(pk__in=[])
    dob: date | None = new.date_of_birth
    if dob:
        dobs = {dob, date(dob.year, dob.day, dob.month)} if dob.day <= 12 else {dob}
        keys |= Q(date_of_birth_bidx__in=[dob_index(d) for d in dobs])
    if new.phone:
        keys |= Q(phone_bidx=blind_index_of(Patient, "phone_bidx", new.phone))
    live = Patient.objects.exclude(status=Patient.Status.MERGED)
    if new.last_name and dob:
        # A similar surname alone is too broad; pair it with the birth year, compared
        # here once the date is decrypted (the DOB index answers equality only).
        similar = _last_names.lookup(new.last_name, key=name_index_key())
        same_year = [
            pk
            for pk, born in live.filter(last_name_bidx__in=similar).values_list(
                "pk", "date_of_birth"
            )[:5000]
            if born.year == dob.year
        ]
        keys |= Q(pk__in=same_year)
    found: list[DuplicateMatch] = []
    for patient in live.filter(keys)[:500]:
        result = match_score(new, demographics_of(patient))
        if result.possible:
            found.append(DuplicateMatch(patient=patient, match=result))
    found.sort(key=lambda d: (-d.match.score, d.patient.pk))
    return found


@transaction.atomic
def patient_register(
    *, data: Mapping[str, Any], by: Any, confirmed_not_duplicate: bool = False
) -> Patient:
    """Create a patient after a duplicate check; tell location systems in the same commit.

    Raises ``PossibleDuplicate`` (nothing written) when existing patients match, unless
    the agent has confirmed the caller is someone else: then the patient is created and
    each shown pair is recorded as "not a duplicate", so the decision is on file.
    Raises ``ValidationError`` for bad data.
    """
    if not by.has_perm(ADD_PATIENT):
        raise PermissionDenied(NO_PERMISSION)
    unknown = set(data) - set(REGISTRATION_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown registration fields: {', '.join(sorted(unknown))}")
    fields = dict(data)
    errors = registration_errors(fields)
    if errors:
        raise ValidationError(errors)
    fields["phone"] = normalize_phone(fields.get("phone", "") or "")
    patient = Patient(**fields)
    patient.full_clean(exclude=["merged_into", "status"])

    candidates = patient_duplicates(data=fields)
    if candidates and not confirmed_not_duplicate:
        raise PossibleDuplicate(candidates)

    patient.save()
    for candidate in candidates:
        low, high = sorted((patient.pk, candidate.patient.pk))
        DuplicateCandidate.objects.create(
            patient_a_id=low,
            patient_b_id=high,
            score=candidate.match.score,
            reason="; ".join(candidate.match.reasons)[:200],
            status=DuplicateCandidate.Status.NOT_DUPLICATE,
        )
    patient_created.send(
        sender=Patient,
        patient=patient,
        location_id=patient.home_location_id,
        origin_connector_id=None,
    )
    return patient

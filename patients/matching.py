"""Demographic matching shared by the console's duplicate check and the HL7/FHIR MPI.

Pure functions over plain dataclasses, so registration (an agent typing) and inbound
ADT (a location system sending) judge "is this the same person" by one rule.
Identifiers are matched before this is ever called; demographics are the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from rapidfuzz.distance import JaroWinkler

from config.crypto.normalize import fold_name

from .phones import normalize_phone

# A score at or above AUTO_MATCH lets an inbound ADT attach to an existing patient
# without a human; between POSSIBLE and AUTO_MATCH it is flagged as a possible duplicate.
# POSSIBLE sits below the 0.80 that the date of birth and both names can reach alone, so a
# caller who gives no phone or ZIP ("Zoey Allen", same DOB as "Zoe Allen") is still caught.
AUTO_MATCH = 0.95
POSSIBLE = 0.75


@dataclass(frozen=True)
class Demographics:
    first_name: str
    last_name: str
    date_of_birth: date | None
    phone: str = ""
    zip_code: str = ""
    sex: str = ""


class HasDemographics(Protocol):
    """A Patient row or an inbound record: anything carrying the fields matching reads."""

    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def date_of_birth(self) -> date | None: ...
    @property
    def phone(self) -> str: ...
    @property
    def zip_code(self) -> str: ...
    @property
    def sex(self) -> str: ...


def demographics_of(person: HasDemographics) -> Demographics:
    """The fields matching compares, read off a patient or a source record as they are."""
    return Demographics(
        first_name=person.first_name,
        last_name=person.last_name,
        date_of_birth=person.date_of_birth,
        phone=person.phone,
        zip_code=person.zip_code,
        sex=person.sex,
    )


@dataclass(frozen=True)
class MatchResult:
    score: float
    reasons: tuple[str, ...]

    @property
    def possible(self) -> bool:
        return self.score >= POSSIBLE

    @property
    def automatic(self) -> bool:
        return self.score >= AUTO_MATCH


def normalize_name(value: str) -> str:
    """Fold accents, case, punctuation and spacing: "O'Brien-Núñez" -> "obriennunez"."""
    return fold_name(value)


def _name_similarity(a: str, b: str) -> float:
    a, b = normalize_name(a), normalize_name(b)
    if not a or not b:
        return 0.0
    return float(JaroWinkler.similarity(a, b))


def _dob_transposed(a: date, b: date) -> bool:
    """Day and month swapped: the commonest date-of-birth keying error."""
    return a.year == b.year and a.month == b.day and a.day == b.month and a != b


def match_score(a: Demographics, b: Demographics) -> MatchResult:
    """How likely two demographic records are one person, with the reasons a human reads.

    Date of birth carries the most weight because names are typed with typos and
    phones change; a transposed day/month still counts for most of it.
    """
    reasons: list[str] = []
    score = 0.0
    if a.date_of_birth and b.date_of_birth:
        if a.date_of_birth == b.date_of_birth:
            score += 0.40
            reasons.append("same date of birth")
        elif _dob_transposed(a.date_of_birth, b.date_of_birth):
            score += 0.30
            reasons.append("date of birth with day and month swapped")
    last = _name_similarity(a.last_name, b.last_name)
    first = _name_similarity(a.first_name, b.first_name)
    score += 0.25 * last + 0.15 * first
    if last == 1.0:
        reasons.append("same last name")
    elif last >= 0.85:
        reasons.append("similar last name")
    if first == 1.0:
        reasons.append("same first name")
    elif first >= 0.85:
        reasons.append("similar first name")
    phone_a, phone_b = normalize_phone(a.phone), normalize_phone(b.phone)
    if phone_a and phone_a == phone_b:
        score += 0.15
        reasons.append("same phone")
    if a.zip_code and a.zip_code[:5] == b.zip_code[:5]:
        score += 0.05
        reasons.append("same ZIP")
    if a.sex in {"F", "M"} and b.sex in {"F", "M"} and a.sex != b.sex:
        score -= 0.20
        reasons.append("different sex")
    return MatchResult(score=round(max(0.0, min(score, 1.0)), 3), reasons=tuple(reasons))

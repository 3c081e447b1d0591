"""The distinct patient names, decrypted into a per-process cache for fuzzy lookup.

Names are encrypted in the database, so neither a LIKE nor a DISTINCT over them means
anything there. ``PatientName`` keeps each distinct folded name once, encrypted, beside
the blind index its patients carry; this module decrypts them into memory (a few
thousand strings for 100,000 patients), finds what was typed within typo distance with
rapidfuzz, and hands back blind indexes for an indexed patient query.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import connection
from django.db.models import Max, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from config.crypto.fields import blind_index_of

from .matching import normalize_name
from .models import Coverage, Patient, PatientIdentifier, PatientName
from .search_query import parse_query

# Jaro-Winkler similarity a typed name needs to a stored one to be a candidate.
# 0.85 keeps one dropped or swapped letter ("Gonzlez", "Gonzaelz") and drops unrelated
# names that merely share a first letter.
NAME_CUTOFF = 0.85


class _NameIndex:
    """Distinct folded names of one kind, for fuzzy lookup without a scan.

    Holds name -> blind index in memory (decrypted PHI, never written anywhere). Rebuilt
    when this process saves or deletes a patient (signal), when the highest
    ``PatientName`` id changes (another process added a name) or after a minute;
    building it reads and decrypts one row per distinct name.
    """

    TTL_SECONDS = 60.0

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._lock = threading.Lock()
        self._key: tuple[str, int | None] | None = None
        self._built = 0.0
        self._normalized: list[str] = []
        self._bidx: dict[str, str] = {}  # folded name -> blind index
        self._folded: dict[str, str] = {}  # blind index -> folded name
        self.stale = True

    def invalidate(self) -> None:
        self.stale = True

    def _current(self, key: tuple[str, int | None]) -> tuple[list[str], dict[str, str]]:
        with self._lock:
            if self.stale or key != self._key or time.monotonic() - self._built > self.TTL_SECONDS:
                self.stale = False
                rows = PatientName.objects.filter(kind=self.kind).values_list("folded", "bidx")
                self._bidx = dict(rows.iterator(chunk_size=5000))
                self._folded = {bidx: name for name, bidx in self._bidx.items()}
                self._normalized = list(self._bidx)
                self._key, self._built = key, time.monotonic()
            return self._normalized, self._bidx

    def folded_names(self, *, key: tuple[str, int | None]) -> dict[str, str]:
        """Blind index -> folded name: what scoring compares, without decrypting rows."""
        self._current(key)
        return self._folded

    def containing(self, text: str, *, key: tuple[str, int | None]) -> list[str]:
        wanted = normalize_name(text)
        if not wanted:
            return []
        normalized, bidx_of = self._current(key)
        return [bidx_of[name] for name in normalized if wanted in name]

    def lookup(self, typed: str, *, key: tuple[str, int | None], limit: int = 40) -> list[str]:
        """Blind indexes of the stored names within typo distance of ``typed``, most
        similar first.

        ``key`` (from ``name_index_key``) says which database and which names the cached
        values must reflect.
        """
        normalized, bidx_of = self._current(key)
        wanted = normalize_name(typed)
        if not wanted:
            return []
        matches = process.extract(
            wanted,
            normalized,
            scorer=JaroWinkler.normalized_similarity,
            score_cutoff=NAME_CUTOFF,
            limit=limit,
        )
        return [bidx_of[choice] for choice, _score, _index in matches]


def patient_match_q(term: str, *, via: str = "") -> Q:
    """Rows whose patient (reached through ``via``, e.g. "patient__") matches ``term``
    exactly on phone, DOB, MRN or member id, or on a name within typo distance: the
    admin's search over encrypted columns."""
    parsed = parse_query(term)
    key = name_index_key()
    q = Q(pk__in=[])
    if parsed.phone:
        q |= Q(**{f"{via}phone_bidx": blind_index_of(Patient, "phone_bidx", parsed.phone)})
    if parsed.date_of_birth:
        dob_key = blind_index_of(Patient, "date_of_birth_bidx", parsed.date_of_birth)
        q |= Q(**{f"{via}date_of_birth_bidx": dob_key})
    values = set(parsed.tokens) | {t.upper() for t in parsed.tokens}
    if values:
        idents = [blind_index_of(PatientIdentifier, "value_bidx", v) for v in values]
        members = [blind_index_of(Coverage, "member_id_bidx", v) for v in values]
        q |= Q(**{f"{via}identifiers__value_bidx__in": idents})
        q |= Q(**{f"{via}coverages__member_id_bidx__in": members})
    for name in parsed.names:
        q |= Q(**{f"{via}last_name_bidx__in": _last_names.lookup(name, key=key)})
        q |= Q(**{f"{via}first_name_bidx__in": _first_names.lookup(name, key=key)})
    return q


def patient_name_keys_containing(*, kind: str, text: str) -> list[str]:
    """Blind indexes of the stored names (first or last) that contain ``text`` folded:
    the substring search the encrypted columns cannot do in SQL."""
    index = _first_names if kind == PatientName.Kind.FIRST else _last_names
    return index.containing(text, key=name_index_key())


def name_index_key() -> tuple[str, int | None]:
    """One cheap indexed read (the highest id) that tells whether a name was added."""
    return (connection.settings_dict["NAME"], PatientName.objects.aggregate(m=Max("id"))["m"])


_last_names = _NameIndex(PatientName.Kind.LAST)
_first_names = _NameIndex(PatientName.Kind.FIRST)


@receiver([post_save, post_delete], sender=Patient, dispatch_uid="patient-name-index")
def _names_changed(**_: Any) -> None:
    _last_names.invalidate()
    _first_names.invalidate()

"""Accounting of disclosures (45 CFR 164.528): who viewed or changed one patient's record.

The audit log names rows, not patients: an entry is about a patient when it names the
patient itself, or a row that leads to the patient through foreign keys (a coverage, an
appointment, a claim through its coverage). Those paths are found from the models that
auditlog tracks, so a new PHI model is accounted for without being listed here. The
patient model is named by ``HUB_PATIENT_MODEL``, as Django names the user model: config
sits below the apps and does not import them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import ForeignKey, Model, Q, QuerySet

from config.models import AuditEntry

# Enough for coverage -> patient, claim -> coverage -> patient, and a remittance line
# -> claim -> coverage -> patient.
MAX_HOPS = 3
ACTIONS = {
    AuditEntry.Action.CREATE: "created",
    AuditEntry.Action.UPDATE: "changed",
    AuditEntry.Action.DELETE: "deleted",
    AuditEntry.Action.ACCESS: "viewed",
}


def patient_model() -> type[Model]:
    return apps.get_model(settings.HUB_PATIENT_MODEL)


@cache
def _paths_to_patient() -> dict[type[Model], str]:
    """For each tracked model, the shortest foreign-key lookup that ends at the patient
    ("patient", "coverage__patient"); models with no such path are left out."""
    target = patient_model()
    paths: dict[type[Model], str] = {}
    for model in auditlog.get_models():
        if model is target:
            continue
        frontier: list[tuple[type[Model], str]] = [(model, "")]
        for _ in range(MAX_HOPS):
            found = None
            following = []
            for current, prefix in frontier:
                for field in current._meta.concrete_fields:
                    if not isinstance(field, ForeignKey):
                        continue
                    lookup = f"{prefix}{field.name}"
                    if field.related_model is target:
                        found = lookup
                        break
                    following.append((field.related_model, f"{lookup}__"))
                if found:
                    break
            if found:
                paths[model] = found
                break
            frontier = following
    return paths


def _about_patient(patient_id: int) -> Q:
    cts = ContentType.objects.get_for_models(patient_model(), *_paths_to_patient())
    q = Q(content_type=cts[patient_model()], object_id=patient_id)
    for model, path in _paths_to_patient().items():
        rows = model._default_manager.filter(**{path: patient_id}).values("pk")
        q |= Q(content_type=cts[model], object_id__in=rows)
    return q


def disclosures(
    *, patient_id: int, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[AuditEntry]:
    """Every audit entry about the patient's record, oldest first."""
    entries = AuditEntry.objects.filter(_about_patient(patient_id))
    if since is not None:
        entries = entries.filter(timestamp__gte=since)
    if until is not None:
        entries = entries.filter(timestamp__lt=until)
    return entries.select_related("content_type").order_by("timestamp", "id")


@dataclass(frozen=True)
class DisclosureRow:
    when: datetime
    who: str
    role: str
    action: str
    record: str
    fields: str
    surface: str
    detail: str
    address: str


def _detail(additional: Any) -> str:
    if isinstance(additional, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(additional.items()))
    return "" if additional is None else str(additional)


def disclosure_rows(entries: QuerySet[AuditEntry]) -> Iterator[DisclosureRow]:
    """What a privacy officer reads: who, when, what record and which fields (names
    only; the values stay in the log), from where."""
    for entry in entries.iterator(chunk_size=1000):
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        yield DisclosureRow(
            when=entry.timestamp,
            who=entry.actor_username or "system",
            role=entry.actor_role,
            action=ACTIONS.get(entry.action, str(entry.action)),
            record=entry.object_repr,
            fields=", ".join(sorted(changes)),
            surface=entry.surface,
            detail=_detail(entry.additional_data),
            address=entry.remote_addr or "",
        )

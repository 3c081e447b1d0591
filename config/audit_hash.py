"""Canonical content and hashes of audit entries (no models: both the entry model and
the sealer and verifier use it)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import GenericIPAddressField

GENESIS = "0" * 64
# Any constant works; it only has to be the same in every process that writes audit.
HASHED_FIELDS = (
    "seq",
    "timestamp",
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "serialized_data",
    "additional_data",
    "cid",
    "actor_username",
    "actor_role",
    "actor_email",
    "remote_addr",
    "remote_port",
    "surface",
)

# The surface (console, api, fhir.read, ...) of the request being served; set by
# AuditSurfaceMiddleware, overridden by code that knows better (a CSV export).
current_surface: ContextVar[str] = ContextVar("audit_surface", default="")
_ip = GenericIPAddressField()
# What json.dumps(sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder) uses,
# made once: the seal hashes thousands of entries a second and dumps() builds it anew.
_ENCODER = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"))


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(row: Mapping[str, Any]) -> str:
    """The hashed content of one entry, from its field values (instance or ``values()``)."""
    remote = row["remote_addr"]
    content = {
        **{name: row[name] for name in HASHED_FIELDS},
        "timestamp": _utc(row["timestamp"]),
        "object_pk": str(row["object_pk"]),
        "remote_addr": _ip.get_prep_value(remote) if remote else remote,
    }
    # The JSON columns go in as they are: dumping a value and dumping what it reads back
    # as (tuples as lists, keys as strings) give the same text, with keys sorted.
    return _ENCODER.encode(content)


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()

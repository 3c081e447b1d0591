"""The audit log's hash chain: linking new entries, and walking the chain to verify it.

Each entry stores ``entry_hash = SHA-256(prev_hash || canonical content)``, where the
canonical content is a sorted-key JSON of every column a reader relies on, as plain
values: the change diff is hashed as its plaintext, so re-encrypting the diff column
under a new key never breaks the chain. ``actor_id`` is left out on purpose: deleting a
user sets it NULL (the only change the database triggers allow), and ``actor_username``
and ``actor_role``, which are hashed, keep who did it.

Appends are serialised, so the chain cannot fork: on PostgreSQL a transaction-scoped
advisory lock is taken before the head is read and held until the writing transaction
commits; SQLite's writers already hold the database's single write lock (the hub opens
every transaction IMMEDIATE). ``seq`` is unique as well, so a writer that somehow got
past the lock would fail rather than fork.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router
from django.db.models import GenericIPAddressField

GENESIS = "0" * 64
# Any constant works; it only has to be the same in every process that writes audit.
_PG_CHAIN_LOCK = 0x4155_4449_5443_4841  # "AUDITCHA"

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
    return json.dumps(content, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()


def _row_of(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _actor_text(entry: Any, roles: dict[int, str]) -> None:
    """Keep the actor's username and role as text (the foreign key may go NULL later)."""
    actor_id = entry.actor_id
    if actor_id is None or entry.actor_username:
        return
    actor = entry.actor
    entry.actor_username = actor.get_username()
    if actor_id not in roles:
        names = sorted(actor.groups.values_list("name", flat=True))
        if not names and actor.is_superuser:
            names = ["superuser"]
        roles[actor_id] = ",".join(names)
    entry.actor_role = roles[actor_id]


def _lock_and_read_head(using: str) -> tuple[int, str]:
    from config.models import AuditEntry

    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
        table = connection.ops.quote_name(AuditEntry._meta.db_table)
        cursor.execute(f"SELECT seq, entry_hash FROM {table} ORDER BY seq DESC LIMIT 1")  # noqa: S608
        head = cursor.fetchone()
    if head is not None:
        return int(head[0]), str(head[1])
    checkpoint = checkpoint_latest(using)
    if checkpoint is not None:
        return checkpoint.seq, checkpoint.entry_hash
    return 0, GENESIS


def chain_link(entries: Sequence[Any], *, using: str | None = None) -> None:
    """Give each new entry its place in the chain and its hashes, in order.

    Precondition: the caller is inside ``transaction.atomic`` on ``using`` and inserts
    the entries in this same transaction; the chain lock taken here lasts until commit.
    Also fills in what every entry must carry: actor username and role, the surface,
    and an object repr that names the row by id only (``str(patient)`` is a name, PHI).
    """
    if not entries:
        return
    using = using or router.db_for_write(type(entries[0]))
    roles: dict[int, str] = {}
    surface = current_surface.get()
    for entry in entries:
        _actor_text(entry, roles)
        if not entry.surface:
            entry.surface = surface
        entry.object_pk = str(entry.object_pk)
        model = ContentType.objects.db_manager(using).get_for_id(entry.content_type_id)
        model_class = model.model_class()
        name = model_class.__name__ if model_class else model.model
        entry.object_repr = f"{name} #{entry.object_pk}"
    seq, prev = _lock_and_read_head(using)
    for entry in entries:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev
        entry.entry_hash = prev = entry_hash(prev, _row_of(entry))


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    entries: int
    head_seq: int | None
    head_hash: str
    broken_seq: int | None = None
    broken_entry_id: int | None = None
    problem: str = ""


def _walk(using: str, start_seq: int, start_hash: str) -> Iterator[dict[str, Any]]:
    from config.models import AuditEntry

    fields = ["id", "prev_hash", "entry_hash", *HASHED_FIELDS]
    return (
        AuditEntry.objects.using(using)
        .filter(seq__gt=start_seq)
        .order_by("seq")
        .values(*fields)
        .iterator(chunk_size=2000)
    )


def chain_verify(*, using: str = "default") -> ChainReport:
    """Walk the chain from the latest checkpoint (or the start) and report the first
    entry that was altered, removed, or inserted out of order."""
    checkpoint = checkpoint_latest(using)
    if checkpoint is not None and not checkpoint_signature_ok(checkpoint):
        return ChainReport(
            False, 0, None, "", checkpoint.seq, None, "the checkpoint's signature is wrong"
        )
    seq, prev = (checkpoint.seq, checkpoint.entry_hash) if checkpoint else (0, GENESIS)
    count = 0
    for row in _walk(using, seq, prev):
        count += 1
        expected = seq + 1
        if row["seq"] != expected:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                expected,
                row["id"],
                f"entry seq {expected} is missing: removed, or entry id {row['id']} "
                f"(seq {row['seq']}) was inserted out of order",
            )
        if row["prev_hash"] != prev:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                row["seq"],
                row["id"],
                f"entry seq {row['seq']} (id {row['id']}) does not follow entry seq {seq}: "
                "inserted out of order, or its predecessor was replaced",
            )
        if entry_hash(prev, row) != row["entry_hash"]:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                row["seq"],
                row["id"],
                f"entry seq {row['seq']} (id {row['id']}) was altered: its content does not "
                "match its hash",
            )
        seq, prev = row["seq"], row["entry_hash"]
    return ChainReport(True, count, seq, prev)


# --- checkpoints (archiving a prefix of the chain) ------------------------------------------


def _checkpoint_key() -> bytes:
    return hashlib.sha256(b"carehub audit checkpoint\n" + settings.SECRET_KEY.encode()).digest()


def checkpoint_sign(seq: int, entry_hash_: str) -> str:
    return hmac.new(_checkpoint_key(), f"{seq}:{entry_hash_}".encode(), "sha256").hexdigest()


def checkpoint_signature_ok(checkpoint: Any) -> bool:
    return hmac.compare_digest(
        checkpoint.signature, checkpoint_sign(checkpoint.seq, checkpoint.entry_hash)
    )


def checkpoint_latest(using: str) -> Any:
    from config.models import AuditCheckpoint

    return AuditCheckpoint.objects.using(using).order_by("-seq").first()


def audit_verification_record(*, using: str = "default") -> Any:
    """Verify the chain and keep the result, which integration health shows."""
    from config.models import AuditVerification

    report = chain_verify(using=using)
    return AuditVerification.objects.using(using).create(
        intact=report.intact,
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        broken_seq=report.broken_seq,
        broken_entry_id=report.broken_entry_id,
        problem=report.problem,
    )


def audit_verification_latest() -> Any:
    """The last recorded verification (None before the first nightly run)."""
    from config.models import AuditVerification

    return AuditVerification.objects.order_by("-checked_at", "-pk").first()

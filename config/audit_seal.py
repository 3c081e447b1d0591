"""Writing into the audit chain: preparing new entries, and sealing committed ones.

Each entry stores ``entry_hash = SHA-256(prev_hash || canonical content)``, where the
canonical content is a sorted-key JSON of every column a reader relies on, as plain
values: the change diff is hashed as its plaintext, so re-encrypting the diff column
under a new key never breaks the chain. ``actor_id`` is left out on purpose: deleting a
user sets it NULL (one of the two updates the triggers allow), and ``actor_username``
and ``actor_role``, which are hashed, keep who did it.

Writers insert entries inside their own transaction with no chain position; the
entries are immutable from that moment (the triggers refuse any change to their content).
Right after the transaction commits, ``audit_seal`` gives every committed, unsealed entry
its ``seq`` and hashes, in a short transaction of its own under a lock (a PostgreSQL
transaction-scoped advisory lock; SQLite transactions are all BEGIN IMMEDIATE), so the
chain cannot fork and ``seq`` follows commit order. Sealing in the writer's transaction
instead would hold the chain lock from its first audit write to its commit: a writer
holding it and waiting for a row lock, against a writer holding that row and waiting for
the chain, deadlocks (booking agents racing the worker's batch did exactly that). The
sealer takes no lock but the chain's and touches only unsealed audit rows, so it cannot
deadlock with anyone. ``seq`` is unique as well: two sealers could not both extend one
head. A process seals at most once a second after its commits; a beat task every ten
seconds seals the rest (and what a crash between commit and seal left behind), and
``audit_verify`` seals before it walks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.db.models import Model

from config.audit_hash import GENESIS, HASHED_FIELDS, current_surface, entry_hash

# Any constant works; it only has to be the same in every process that writes audit.
_PG_CHAIN_LOCK = 0x4155_4449_5443_4841  # "AUDITCHA"
SEAL_BATCH = 2000


def _actor_text(entry: Any, roles: dict[int, str]) -> None:
    """Keep the actor's username and role as text (the foreign key may go NULL later)."""
    actor_id = entry.actor_id
    if actor_id is None or entry.actor_username:
        return
    actor = entry.actor
    entry.actor_username = actor.get_username()
    if actor_id not in roles:
        # Kept on the user object too: a request that saves rows one by one asks once.
        role = getattr(actor, "_audit_role", None)
        if role is None:
            names = sorted(actor.groups.values_list("name", flat=True))
            if not names and actor.is_superuser:
                names = ["superuser"]
            role = actor._audit_role = ",".join(names)
        roles[actor_id] = role
    entry.actor_role = roles[actor_id]


def entries_prepare(entries: Sequence[Any], *, using: str) -> None:
    """Fill in what every new entry must carry before it is inserted: the actor's
    username and role as text, the surface, and an object repr that names the row by id
    only (``str(patient)`` is a name, PHI)."""
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


def seal_after_commit(entry_model: type[Model], checkpoint_model: type[Model], using: str) -> None:
    """Call after inserting entries: they are sealed once their transaction commits (at
    once in autocommit). Robust: a failed seal must not fail the caller's request; the
    beat task and audit_verify seal what is left."""
    transaction.on_commit(
        lambda: _seal_soon(entry_model, checkpoint_model, using), using=using, robust=True
    )


# A busy process seals at most this often after its commits: one seal then links many
# entries, instead of every single-row save paying for a transaction of its own.
SEAL_INTERVAL_SECONDS = 1.0
_last_seal = 0.0


def _seal_soon(entry_model: type[Model], checkpoint_model: type[Model], using: str) -> None:
    global _last_seal
    now = time.monotonic()
    if now - _last_seal < SEAL_INTERVAL_SECONDS:
        return  # a seal ran a moment ago; the next one (or the beat task) links these
    _last_seal = now
    chain_seal(entry_model, checkpoint_model, using=using, wait=False)


def _lock_and_read_head(
    entry_model: type[Model], checkpoint_model: type[Model], using: str, wait: bool
) -> tuple[int, str] | None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A seal lost in a crash is redone by the next one (entries stay unsealed,
            # not lost), so its commit need not wait for the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
            if not wait:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
                if not cursor.fetchone()[0]:
                    return None
            else:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
    head = (
        entry_model._default_manager.using(using)
        .filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "entry_hash")
        .first()
    )
    if head is not None:
        return int(head[0]), str(head[1])
    checkpoint = (
        checkpoint_model._default_manager.using(using)
        .order_by("-seq")
        .values_list("seq", "entry_hash")
        .first()
    )
    if checkpoint is not None:
        return int(checkpoint[0]), str(checkpoint[1])
    return 0, GENESIS


def chain_seal(
    entry_model: type[Model], checkpoint_model: type[Model], *, using: str, wait: bool = True
) -> int:
    """Link every committed, unsealed entry into the chain, oldest insert first; returns
    how many. Idempotent: an entry is sealed once (``seq IS NULL`` in the update).

    ``wait=False`` (the seal after each commit) gives up at once when another seal holds
    the chain: that one, the next, or the minute beat task links these entries too."""
    sealed = 0
    connection = connections[using]
    table = connection.ops.quote_name(entry_model._meta.db_table)
    fields = ["id", *[f for f in HASHED_FIELDS if f != "seq"]]
    with transaction.atomic(using=using):
        head = _lock_and_read_head(entry_model, checkpoint_model, using, wait)
        if head is None:
            return 0
        seq, prev = head
        while True:
            rows = list(
                entry_model._default_manager.using(using)
                .filter(seq__isnull=True)
                .order_by("id")
                .values(*fields)[:SEAL_BATCH]
            )
            if not rows:
                return sealed
            updates = []
            for row in rows:
                seq += 1
                row["seq"] = seq
                digest = entry_hash(prev, row)
                updates.append((row["id"], seq, prev, digest))
                prev = digest
            with connection.cursor() as cursor:
                cursor.execute(*_seal_statement(connection.vendor, table, updates))
            sealed += len(updates)


def _seal_statement(vendor: str, table: str, updates: list[tuple[Any, ...]]) -> tuple[str, Any]:
    """One UPDATE per batch: row-by-row statements cost a round trip each. PostgreSQL
    takes the batch as four arrays (a VALUES list of thousands of placeholders costs
    more to parse than to run); SQLite as a VALUES list (columns named column1..4)."""
    if vendor == "postgresql":
        ids, seqs, prevs, hashes = (list(column) for column in zip(*updates, strict=True))
        return (
            f"UPDATE {table} SET seq = v.seq, prev_hash = v.prev, entry_hash = v.hash "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
            f"AS v(id, seq, prev, hash) WHERE {table}.id = v.id AND {table}.seq IS NULL",
            [ids, seqs, prevs, hashes],
        )
    marks = ", ".join(["(%s, %s, %s, %s)"] * len(updates))
    return (
        f"UPDATE {table} SET seq = v.column2, prev_hash = v.column3, "  # noqa: S608
        f"entry_hash = v.column4 FROM (VALUES {marks}) AS v "
        f"WHERE {table}.id = v.column1 AND {table}.seq IS NULL",
        [value for update in updates for value in update],
    )

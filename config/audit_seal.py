"""Writing into the audit chain: preparing new entries, and sealing committed ones.

Each entry stores ``entry_hash = SHA-256(prev_hash || canonical content)``, where the
canonical content is a sorted-key JSON of every column a reader relies on, as plain
values: the change diff is hashed as its plaintext, so re-encrypting the diff column
under a new key never breaks the chain. ``actor_id`` is left out on purpose: deleting a
user sets it NULL (one of the two updates the triggers allow), and ``actor_username``
and ``actor_role``, which are hashed, keep who did it.

Writers insert entries inside their own transaction; the entries are immutable from that
moment (the triggers refuse any change to their content), and a trigger marks each one
pending (``AuditPending``). Right after the transaction commits, ``chain_seal`` inserts
an ``AuditLink`` (``seq`` and hashes) for every committed, pending entry and deletes
their marks, in a short transaction of its own under a lock (a PostgreSQL
transaction-scoped advisory lock; SQLite transactions are all BEGIN IMMEDIATE), so the
chain cannot fork and ``seq`` follows commit order. The entry row is never updated.
Sealing in the writer's transaction instead would hold the chain lock from its first
audit write to its commit: a writer holding it and waiting for a row lock, against a
writer holding that row and waiting for the chain, deadlocks (booking agents racing the
worker's batch did exactly that). The sealer takes no lock but the chain's and writes
only the link and pending tables, so it cannot deadlock with anyone. ``seq`` is unique
as well: two sealers could not both extend one head. A process seals at most once a
second after its commits; a beat task every ten seconds seals the rest (and what a
crash between commit and seal left behind), and
``audit_verify`` seals before it walks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.db.models import Model

from config.audit_hash import GENESIS, HASHED_FIELDS, current_surface, entry_hash
from config.roles import user_roles

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
            names = sorted(user_roles(actor))
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
    names: dict[int, str] = {}  # a batch's entries name a handful of models, many times
    surface = current_surface.get()
    for entry in entries:
        _actor_text(entry, roles)
        if not entry.surface:
            entry.surface = surface
        entry.object_pk = str(entry.object_pk)
        name = names.get(entry.content_type_id)
        if name is None:
            model = ContentType.objects.db_manager(using).get_for_id(entry.content_type_id)
            model_class = model.model_class()
            name = names[entry.content_type_id] = (
                model_class.__name__ if model_class else model.model
            )
        entry.object_repr = f"{name} #{entry.object_pk}"


def seal_after_commit(using: str) -> None:
    """Call after inserting entries: they are sealed once their transaction commits (at
    once in autocommit). Robust: a failed seal must not fail the caller's request; the
    beat task and audit_verify seal what is left."""
    transaction.on_commit(lambda: _seal_soon(using), using=using, robust=True)


# A busy process seals at most this often after its commits: one seal then links many
# entries, instead of every single-row save paying for a transaction of its own.
SEAL_INTERVAL_SECONDS = 1.0
_last_seal = 0.0


def _seal_soon(using: str) -> None:
    global _last_seal
    now = time.monotonic()
    if now - _last_seal < SEAL_INTERVAL_SECONDS:
        return  # a seal ran a moment ago; the next one (or the beat task) links these
    _last_seal = now
    chain_seal(using=using, wait=False)


def _models() -> tuple[type[Model], type[Model], type[Model], type[Model]]:
    # Looked up, not imported: config.models imports this module.
    return (
        apps.get_model("config", "AuditEntry"),
        apps.get_model("config", "AuditLink"),
        apps.get_model("config", "AuditPending"),
        apps.get_model("config", "AuditCheckpoint"),
    )


def _lock_and_read_head(using: str, wait: bool) -> tuple[int, str] | None:
    _, link_model, _, checkpoint_model = _models()
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A seal lost in a crash is redone by the next one (entries stay pending,
            # not lost), so its commit need not wait for the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
            if not wait:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
                if not cursor.fetchone()[0]:
                    return None
            else:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
    for model in (link_model, checkpoint_model):
        head = (
            model._default_manager.using(using)
            .order_by("-seq")
            .values_list("seq", "entry_hash")
            .first()
        )
        if head is not None:
            return int(head[0]), str(head[1])
    return 0, GENESIS


def chain_seal(*, using: str, wait: bool = True) -> int:
    """Link every committed entry still pending into the chain, oldest insert first;
    returns how many. Idempotent: the link and the removal of the pending mark commit
    together, and an entry that has a link is never linked again.

    ``wait=False`` (the seal after each commit) gives up at once when another seal holds
    the chain: that one, the next, or the beat task links these entries too."""
    entry_model, link_model, pending_model, _ = _models()
    sealed = 0
    connection = connections[using]
    links = connection.ops.quote_name(link_model._meta.db_table)
    pending = connection.ops.quote_name(pending_model._meta.db_table)
    fields = ["id", *[f for f in HASHED_FIELDS if f != "seq"]]
    with transaction.atomic(using=using):
        head = _lock_and_read_head(using, wait)
        if head is None:
            return 0
        seq, prev = head
        while True:
            # Read from the pending marks, not from the entries: the work list is as long
            # as the backlog, whatever plan the entry table's statistics suggest.
            ids = list(
                pending_model._default_manager.using(using)
                .order_by("entry_id")
                .values_list("entry_id", flat=True)[:SEAL_BATCH]
            )
            if not ids:
                return sealed
            rows = list(
                entry_model._default_manager.using(using)
                .filter(id__in=ids, link__isnull=True)
                .order_by("id")
                .values(*fields)
            )
            new_links = []
            for row in rows:
                seq += 1
                row["seq"] = seq
                digest = entry_hash(prev, row)
                new_links.append((row["id"], seq, prev, digest))
                prev = digest
            with connection.cursor() as cursor:
                _insert_links(cursor, connection.vendor, links, pending, new_links, ids)
            sealed += len(new_links)
            if len(ids) < SEAL_BATCH:
                return sealed  # the marks ran out: no need to ask again


def _insert_links(
    cursor: Any,
    vendor: str,
    links: str,
    pending: str,
    new_links: list[tuple[Any, ...]],
    done: list[Any],
) -> None:
    """One INSERT of the batch's links and one DELETE of the pending marks read (an
    entry already linked keeps its link; its mark goes too). PostgreSQL takes the batch
    as arrays (a VALUES list of thousands of placeholders costs more to parse than to
    run), each sent as one comma-joined text: the driver quotes a Python list element
    by element, which cost more than the rest of the seal together. Every element is an
    integer or a hex digest, so no comma can occur inside one."""
    if vendor == "postgresql":
        if new_links:
            columns = [",".join(map(str, column)) for column in zip(*new_links, strict=True)]
            cursor.execute(
                f"INSERT INTO {links} (entry_id, seq, prev_hash, entry_hash) "  # noqa: S608
                "SELECT * FROM unnest(string_to_array(%s, ',')::bigint[], "
                "string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), "
                "string_to_array(%s, ','))",
                columns,
            )
        cursor.execute(
            f"DELETE FROM {pending} "  # noqa: S608
            "WHERE entry_id = ANY(string_to_array(%s, ',')::bigint[])",
            [",".join(map(str, done))],
        )
        return
    cursor.executemany(
        f"INSERT INTO {links} (entry_id, seq, prev_hash, entry_hash) "  # noqa: S608
        "VALUES (%s, %s, %s, %s)",
        new_links,
    )
    cursor.executemany(
        f"DELETE FROM {pending} WHERE entry_id = %s",  # noqa: S608
        [(entry_id,) for entry_id in done],
    )

"""Re-encrypt stored rows under the newest data key, and recompute blind indexes.

One routine serves three jobs: the migrations that first encrypt plaintext rows, key
rotation (``rotate_data_keys``) and a blind-index rebuild. It reads raw column values
with plain SQL (a historical model in a migration has the same fields, and raw reads
let a plaintext row and a row under a retired key be told apart), walks the table in
primary-key order in batches, and writes each row back with a conditional UPDATE that
only succeeds if the row still holds what was read. A row the application rewrote in
the meantime was written under the newest key already, so losing that race is fine;
nothing is locked for longer than one batch's statement and the product keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from .cipher import decrypt_text, is_ciphertext, key_id_of, key_ring
from .fields import DERIVED, EncryptedMixin


@dataclass
class TableProgress:
    table: str
    last_pk: int = 0
    scanned: int = 0
    rewritten: int = 0
    done: bool = False


# Tables whose rows the database refuses to update (the append-only audit trail): their
# ciphertexts stay under the key that wrote them, which stays in the ring until archived.
APPEND_ONLY_TABLES = frozenset({"config_auditentry"})


def encrypted_models(models: Iterable[type[Model]]) -> list[type[Model]]:
    return [
        m
        for m in models
        if not m._meta.abstract
        and not m._meta.proxy
        and m._meta.db_table not in APPEND_ONLY_TABLES
        and any(isinstance(f, (EncryptedMixin, *DERIVED)) for f in m._meta.concrete_fields)
    ]


def _plain(field: Any, raw: Any) -> tuple[str | None, bool]:
    """(plaintext as stored text, whether the column needs rewriting under the newest key)."""
    if raw is None or raw == "":
        return raw, False
    if not isinstance(raw, str):
        raw = field_text(field, raw)  # a legacy non-text column value (date, JSON)
        return raw, True
    if is_ciphertext(raw):
        return decrypt_text(raw), key_id_of(raw) != key_ring().primary_id
    return raw, True


def field_text(field: Any, value: Any) -> str:
    return field.to_text(value)


def _changes(
    old: dict[str, Any], encrypted: list[Any], indexes: list[Any], force: bool
) -> dict[str, Any]:
    """The column values a row read as ``old`` needs: ciphertext under the newest key
    for values in clear or under another key, and derived columns that disagree."""
    names = {f.name for f in encrypted}
    new: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for f in encrypted:
        text, stale = _plain(f, old[f.name])
        if text is None or text == "":
            plain[f.name] = "" if text == "" and f.blank_is_text else None
        else:
            plain[f.name] = f.from_text(text)
        if stale or (force and text):
            new[f.name] = f.get_db_prep_value(plain[f.name], connection)
    for f in indexes:
        value = plain.get(f.source) if f.source in names else old.get(f.source)
        computed = f.compute(value)
        if computed != old[f.name]:
            new[f.name] = computed
    return new


# A row the application keeps rewriting while rotation tries to is retried this often
# (each retry re-reads it); past that, the next run of the command picks it up.
RACE_RETRIES = 5


def reencrypt_batch(
    model: type[Model], *, after_pk: int, batch_size: int, force: bool = False, write: bool = True
) -> tuple[int, int, int]:
    """One batch: (last pk seen or 0 when the table is done, rows scanned, rows rewritten).

    With ``write=False`` nothing is written and the count is of rows that need it.
    """
    fields = model._meta.concrete_fields
    encrypted = [f for f in fields if isinstance(f, EncryptedMixin)]
    indexes = [f for f in fields if isinstance(f, DERIVED)]
    column = {f.name: str(f.column) for f in fields}
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = quote(str(model._meta.pk.column))
    read = [*encrypted, *indexes]
    names = [f.name for f in read]
    cols = ", ".join(quote(column[n]) for n in names)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {cols} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s",  # noqa: S608
            [after_pk, batch_size],
        )
        rows = cursor.fetchall()
        rewritten = 0
        for row in rows:
            old = dict(zip(names, row[1:], strict=True))
            for _attempt in range(RACE_RETRIES):
                new = _changes(old, encrypted, indexes, force)
                if not new or not write:
                    rewritten += bool(new)
                    break
                sets = ", ".join(f"{quote(column[n])} = %s" for n in new)
                conds = " AND ".join(
                    f"{quote(column[n])} IS NULL" if old[n] is None else f"{quote(column[n])} = %s"
                    for n in new
                )
                params = [*new.values(), row[0], *(old[n] for n in new if old[n] is not None)]
                cursor.execute(
                    f"UPDATE {table} SET {sets} WHERE {pk} = %s AND {conds}",  # noqa: S608
                    params,
                )
                if cursor.rowcount:
                    rewritten += 1
                    break
                # Someone wrote the row since it was read: read it again and redo it.
                cursor.execute(
                    f"SELECT {cols} FROM {table} WHERE {pk} = %s",  # noqa: S608
                    [row[0]],
                )
                fresh = cursor.fetchone()
                if fresh is None:
                    break  # deleted meanwhile
                old = dict(zip(names, fresh, strict=True))
    last = rows[-1][0] if len(rows) == batch_size else 0
    return last, len(rows), rewritten


def reencrypt_model(
    model: type[Model],
    *,
    batch_size: int = 1000,
    start_after: int = 0,
    force: bool = False,
    write: bool = True,
    progress: Callable[[TableProgress], None] | None = None,
    pause: Callable[[], None] | None = None,
) -> TableProgress:
    """Every row of ``model`` under the newest key with current blind indexes.

    Resumable: ``start_after`` is the last primary key a previous run reported.
    """
    state = TableProgress(table=model._meta.db_table, last_pk=start_after)
    while True:
        last, scanned, rewritten = reencrypt_batch(
            model, after_pk=state.last_pk, batch_size=batch_size, force=force, write=write
        )
        state.scanned += scanned
        state.rewritten += rewritten
        state.done = last == 0
        if not state.done:
            state.last_pk = last
        if progress is not None:
            progress(state)
        if state.done:
            return state
        if pause is not None:
            pause()


def encrypt_existing_rows(app_label: str, model_names: Iterable[str]) -> Callable[..., None]:
    """A RunPython operation body that encrypts the rows written before encryption."""

    def run(apps: Any, schema_editor: Any) -> None:
        for name in model_names:
            reencrypt_model(apps.get_model(app_label, name))

    return run

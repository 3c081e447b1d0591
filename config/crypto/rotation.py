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


def encrypted_models(models: Iterable[type[Model]]) -> list[type[Model]]:
    return [
        m
        for m in models
        if not m._meta.abstract
        and not m._meta.proxy
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


def reencrypt_batch(
    model: type[Model], *, after_pk: int, batch_size: int, force: bool = False
) -> tuple[int, int, int]:
    """One batch: (last pk seen or 0 when the table is done, rows scanned, rows rewritten)."""
    fields = model._meta.concrete_fields
    encrypted = [f for f in fields if isinstance(f, EncryptedMixin)]
    indexes = [f for f in fields if isinstance(f, DERIVED)]
    by_name = {f.name: f for f in fields}
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = quote(model._meta.pk.column)
    read = [*encrypted, *indexes]
    cols = ", ".join(quote(f.column) for f in read)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {cols} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s",  # noqa: S608
            [after_pk, batch_size],
        )
        rows = cursor.fetchall()
        rewritten = 0
        for row in rows:
            old = dict(zip([f.name for f in read], row[1:], strict=True))
            new: dict[str, Any] = {}
            plain: dict[str, Any] = {}
            for f in encrypted:
                text, stale = _plain(f, old[f.name])
                plain[f.name] = None if text is None or text == "" else f.from_text(text)
                if text == "" and not f.blank_is_text:
                    plain[f.name] = None
                if stale or force:
                    new[f.name] = f.get_db_prep_value(plain[f.name], connection)
                    if text == "" and f.blank_is_text:
                        new[f.name] = ""
            for f in indexes:
                source = by_name[f.source]
                value = plain.get(f.source) if source in encrypted else old.get(f.source)
                computed = f.compute(value)
                if computed != old[f.name]:
                    new[f.name] = computed
            if not new:
                continue
            sets = ", ".join(f"{quote(by_name[n].column)} = %s" for n in new)
            conds = " AND ".join(
                f"{quote(by_name[n].column)} IS NULL"
                if old[n] is None
                else f"{quote(by_name[n].column)} = %s"
                for n in new
            )
            params = [*new.values(), row[0], *(old[n] for n in new if old[n] is not None)]
            cursor.execute(
                f"UPDATE {table} SET {sets} WHERE {pk} = %s AND {conds}",  # noqa: S608
                params,
            )
            rewritten += cursor.rowcount
    last = rows[-1][0] if len(rows) == batch_size else 0
    return last, len(rows), rewritten


def reencrypt_model(
    model: type[Model],
    *,
    batch_size: int = 1000,
    start_after: int = 0,
    force: bool = False,
    progress: Callable[[TableProgress], None] | None = None,
) -> TableProgress:
    """Every row of ``model`` under the newest key with current blind indexes.

    Resumable: ``start_after`` is the last primary key a previous run reported.
    """
    state = TableProgress(table=model._meta.db_table, last_pk=start_after)
    while True:
        last, scanned, rewritten = reencrypt_batch(
            model, after_pk=state.last_pk, batch_size=batch_size, force=force
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


def encrypt_existing_rows(app_label: str, model_names: Iterable[str]) -> Callable[..., None]:
    """A RunPython operation body that encrypts the rows written before encryption."""

    def run(apps: Any, schema_editor: Any) -> None:
        for name in model_names:
            reencrypt_model(apps.get_model(app_label, name))

    return run

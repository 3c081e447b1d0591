"""Model fields that keep their value encrypted in the database, and blind indexes.

The Python side sees plain values; the column holds ``E1$…`` ciphertext (see
``cipher``). No database operator works on ciphertext, so every lookup other than
``isnull`` raises at query-build time: an exact search goes through the column's
``BlindIndexField`` (``blind_index_of``), and a query nobody converted fails in the tests
instead of silently matching nothing.

Changing ``EncryptedJSONField`` for a plain ``JSONField`` (and back) is a one-line change
for code that reads and writes Python values: both take and return the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from typing import Any

from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .cipher import blind_index, decrypt_text, encrypt_text
from .normalize import NORMALIZERS

ERR_NO_LOOKUP = (
    "{model}.{field} is encrypted: it cannot be filtered, ordered or compared in SQL; "
    "look it up through its blind index"
)


class EncryptedMixin:
    """Encrypt on the way to the database, decrypt on the way back; text column."""

    name: str
    model: Any

    def get_internal_type(self) -> str:
        return "TextField"

    def db_type(self, connection: Any) -> str | None:
        return models.TextField().db_type(connection)

    def to_text(self, value: Any) -> str:
        return str(value)

    def from_text(self, text: str) -> Any:
        return text

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        if value == "":
            return "" if self.blank_is_text else None
        return self.from_text(decrypt_text(value))

    # "" is stored as "" for text columns (an absent phone is not worth a ciphertext);
    # columns whose empty value is not text store NULL.
    blank_is_text = True

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if self.blank_is_text and value == "":
            return ""
        return encrypt_text(self.to_text(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)  # type: ignore[misc]
        raise FieldError(ERR_NO_LOOKUP.format(model=self.model.__name__, field=self.name))

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(ERR_NO_LOOKUP.format(model=self.model.__name__, field=self.name))


class EncryptedCharField(EncryptedMixin, models.CharField):
    """A CharField whose ``max_length`` bounds the plaintext (forms, validation); the
    column is text, because the ciphertext is longer."""


class EncryptedTextField(EncryptedMixin, models.TextField):
    pass


class EncryptedEmailField(EncryptedMixin, models.EmailField):
    pass


class EncryptedDateField(EncryptedMixin, models.DateField):
    blank_is_text = False

    def to_text(self, value: Any) -> str:
        return self.to_python(value).isoformat()

    def from_text(self, text: str) -> date:
        return date.fromisoformat(text)


class EncryptedJSONField(EncryptedMixin, models.JSONField):
    """JSON kept as encrypted text: the document is never queried inside the database."""

    blank_is_text = False

    def to_text(self, value: Any) -> str:
        return json.dumps(value, cls=self.encoder or DjangoJSONEncoder, separators=(",", ":"))

    def from_text(self, text: str) -> Any:
        return json.loads(text, cls=self.decoder)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        return self.get_db_prep_value(value, connection)


class BlindIndexField(models.CharField):
    """HMAC of a sibling field's normalized value, set whenever the model is saved.

    ``source`` names the encrypted field, ``normalizer`` a key of ``NORMALIZERS`` and
    ``domain`` the HMAC sub-key, so two columns share index values only when they share
    a domain on purpose.
    """

    def __init__(
        self, *args: Any, source: str, normalizer: str = "exact", domain: str = "", **kwargs: Any
    ) -> None:
        self.source, self.normalizer, self.domain = source, normalizer, domain or source
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, normalizer=self.normalizer, domain=self.domain)
        for key, default in (("max_length", 32), ("editable", False), ("blank", True)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        if kwargs.get("default") == "":
            kwargs.pop("default")
        return name, path, args, kwargs

    def compute(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        memo = _memo.get()
        if memo is None:
            return blind_index(self.domain, NORMALIZERS[self.normalizer](value))
        key = (self.domain, self.normalizer, value)
        found = memo.get(key)
        if found is None:
            found = memo[key] = blind_index(self.domain, NORMALIZERS[self.normalizer](value))
        return found

    def pre_save(self, model_instance: Any, add: bool) -> str:
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


class BirthYearField(models.PositiveSmallIntegerField):
    """The clear year of an encrypted date, kept from it like a blind index.

    For aggregates the database must compute (an age range over a million visits): the
    year alone is not an identifier under HIPAA's Safe Harbor, the full date is.
    """

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key, default in (("null", True), ("blank", True), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def compute(self, value: Any) -> int | None:
        return value.year if isinstance(value, date) else None

    def pre_save(self, model_instance: Any, add: bool) -> int | None:
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


DERIVED = (BlindIndexField, BirthYearField)

_memo: ContextVar[dict[tuple[str, str, Any], str] | None] = ContextVar(
    "blind_index_memo", default=None
)


@contextmanager
def blind_indexes_memoized() -> Iterator[None]:
    """Inside the block each blind index is derived once per distinct value: a batch of
    records repeats the same birth dates, phones, names and identifiers many times, and
    each derivation is a normalization and an HMAC. The memo maps plaintext to index
    values, so it lives for the block only and is dropped when it ends."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def blind_index_of(model: type[models.Model], field_name: str, value: Any) -> str:
    """The index value ``model.<field_name>`` (a BlindIndexField) holds for ``value``."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, BlindIndexField)
    return field.compute(value)


def blind_indexes_for(model: type[models.Model], sources: Any) -> list[str]:
    """Names of the blind indexes whose source is among ``sources`` (for update_fields)."""
    wanted = set(sources)
    return [
        f.name for f in model._meta.concrete_fields if isinstance(f, DERIVED) and f.source in wanted
    ]


class BlindIndexedModel(models.Model):
    """Keeps blind indexes current on ``save(update_fields=[...])`` too.

    Django calls ``pre_save`` only for the fields being saved; a save that names the
    encrypted source must also write its index, or the index goes stale. Bulk paths
    (``bulk_update``, ``QuerySet.update``) name the index fields themselves.
    """

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = blind_indexes_for(type(self), update_fields)
            kwargs["update_fields"] = [
                *update_fields,
                *(f for f in extra if f not in update_fields),
            ]
        super().save(*args, **kwargs)


def refresh_blind_indexes(obj: models.Model) -> list[str]:
    """Set every blind index of ``obj`` from its sources; the names, for bulk_update."""
    names = []
    for f in obj._meta.concrete_fields:
        if isinstance(f, DERIVED):
            f.pre_save(obj, add=False)
            names.append(f.name)
    return names

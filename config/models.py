"""The audit trail's tables: the hash-chained log entry, verification runs, checkpoints.

``AuditEntry`` is django-auditlog's LogEntry (``AUDITLOG_LOGENTRY_MODEL``) with the
actor's username and role kept as text, so deleting a user leaves who did what readable.
Its chain position lives in ``AuditLink``, a narrow row per entry (sequence, the
predecessor's hash and its own) that ``config.audit_seal`` inserts shortly after each
writing transaction commits: an entry is written once and never updated. Entries and
links are append-only in the database (``config.audit_triggers``).
"""

from __future__ import annotations

from typing import Any

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.db import models

from config.audit_seal import entries_prepare, seal_after_commit
from config.compiled_inserts import CompiledInserts
from config.crypto.fields import EncryptedJSONField


class AuditEntryQuerySet(models.QuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        entries_prepare(objs, using=self.db)
        created = super().bulk_create(objs, *args, **kwargs)
        seal_after_commit(self.db)
        return created

    def update(self, **kwargs: Any) -> int:
        # Deleting a user unlinks its entries (SET_NULL); the username stays as text.
        # The database trigger allows that one change and refuses every other.
        if kwargs != {"actor": None}:
            raise AuditLogIsAppendOnly("audit entries cannot be updated")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("audit entries cannot be deleted")


class AuditLogIsAppendOnly(Exception):
    pass


class AuditEntryManager(LogEntryManager.from_queryset(AuditEntryQuerySet)):  # type: ignore[misc]
    pass


class AuditEntry(CompiledInserts, AbstractLogEntry):
    # Who, as text: the actor foreign key goes NULL when a user is deleted.
    actor_username = models.CharField(max_length=150, blank=True, default="", editable=False)
    actor_role = models.CharField(max_length=150, blank=True, default="", editable=False)
    # Where PHI was shown or changed: "console", "api", "fhir.read", "billing.claim", ...
    surface = models.CharField(max_length=64, blank=True, default="")
    # The change diff is the one place an entry holds PHI (old and new values), so it is
    # encrypted like the columns it describes. The chain hashes the decrypted diff, and
    # entries are never re-encrypted (they are append-only): a retired key stays in the
    # ring, decrypt-only, until the entries it wrote are archived.
    changes = EncryptedJSONField(null=True, blank=True)

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["content_type", "object_id", "timestamp"]),
        ]
        permissions = [
            ("view_disclosures", "Can view the accounting of disclosures of a patient"),
        ]

    def _do_insert(self, manager: Any, using: Any, fields: Any, returning_fields: Any, raw: Any):
        # save() reaches here after pre_save, where auditlog's context receiver filled in
        # the actor: only now is the actor known, so only now can its name be kept.
        entries_prepare([self], using=using)
        result = super()._do_insert(manager, using, fields, returning_fields, raw)
        seal_after_commit(using)
        return result

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("audit entries cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditLogIsAppendOnly("audit entries cannot be deleted")


class AuditLink(models.Model):
    """An entry's place in the hash chain, inserted by the sealer once the entry's
    transaction has committed, and never changed (the triggers refuse it).

    Kept apart from the entry so that sealing inserts a narrow row instead of rewriting
    a wide one (an UPDATE gives the row a new version in each of the entry table's
    indexes). No foreign key constraint: an entry removed behind the triggers' back must
    leave its link behind, as the gap in the chain that ``audit_verify`` reports.
    """

    entry = models.OneToOneField(
        AuditEntry,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="link",
    )
    # Consecutive from 1 (or from the last archived checkpoint), in commit order.
    # Unique, so two sealers could not both extend one head.
    seq = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit link seq {self.seq}"


class AuditPending(models.Model):
    """An entry committed but not linked into the chain yet: the sealer's work list.

    A database trigger inserts one with every entry (whoever inserts it, however), and
    the sealer deletes it in the transaction that inserts the entry's link, so the work
    list stays as short as the backlog however long the chain grows.
    """

    entry = models.OneToOneField(
        AuditEntry,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="pending",
    )

    def __str__(self) -> str:
        return f"audit entry #{self.pk} waiting for its seal"


class AuditVerification(models.Model):
    """One run of ``audit_verify`` (nightly from beat, or by hand)."""

    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    intact = models.BooleanField()
    entries = models.BigIntegerField(default=0)
    head_seq = models.BigIntegerField(null=True)
    head_hash = models.CharField(max_length=64, blank=True, default="")
    # The first entry found broken (its id, or the missing sequence number) and why.
    broken_seq = models.BigIntegerField(null=True)
    broken_entry_id = models.BigIntegerField(null=True)
    problem = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]
        get_latest_by = "checked_at"

    def __str__(self) -> str:
        return f"{'intact' if self.intact else 'broken'} at {self.checked_at:%Y-%m-%d %H:%M}"


class AuditCheckpoint(models.Model):
    """The last entry of an archived prefix of the chain, signed with SECRET_KEY's
    derived key: verification starts here once the prefix has left the database."""

    seq = models.BigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    archive_name = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-seq"]
        get_latest_by = "seq"

    def __str__(self) -> str:
        return f"checkpoint at seq {self.seq}"

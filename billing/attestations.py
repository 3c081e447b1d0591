"""A biller's attestation that a high-dollar visit is documented in the chart.

It replaces nothing the EHR sends: it is the audited, reasoned exception for a visit the
EHR documented outside the hub's feeds (a scanned note, a downtime paper chart). Rows are
only ever added; the newest one for a claim is the one in force.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.crypto.fields import EncryptedTextField


class DocumentationAttestation(models.Model):
    claim = models.ForeignKey(
        "billing.Claim", on_delete=models.CASCADE, related_name="documentation_attestations"
    )
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attested_at = models.DateTimeField()
    # Free text about a visit's documentation (clinical detail): encrypted.
    reason = EncryptedTextField(max_length=300, help_text="Where the documentation is, and why")

    class Meta:
        app_label = "billing"
        ordering = ["-attested_at"]

    def __str__(self) -> str:
        return f"Attestation for claim #{self.claim_id}"

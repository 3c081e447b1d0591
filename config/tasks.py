from __future__ import annotations

import logging

from celery import shared_task

from config.audit_chain import audit_seal, audit_verification_record

logger = logging.getLogger(__name__)


@shared_task
def audit_verify_task() -> None:
    """Nightly: verify the audit chain and record the result (read-only on the chain,
    so running it twice only records a second result)."""
    result = audit_verification_record()
    # The head hash is no PHI; logged so that a copy lives outside the database, where
    # whoever rewrites the whole chain consistently cannot reach it.
    if result.intact:
        logger.info(
            "audit chain intact head_seq=%s head_hash=%s", result.head_seq, result.head_hash
        )
    else:
        logger.error("audit chain broken at seq=%s: %s", result.broken_seq, result.problem)


@shared_task
def audit_seal_task() -> None:
    """Seal what the seals after commits left (idempotent)."""
    audit_seal()

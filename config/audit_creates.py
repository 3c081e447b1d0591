"""auditlog's CREATE entries for single saves, with the diff worked out by ``CreateDiffs``.

auditlog's post_save receiver diffs every new row against None with
``model_instance_diff``, which per row lists the model's fields again (less the
registration's exclusions) and reads each one off None, an exception per field, to learn
that the "before" side is "None". A booking writes three such rows (the appointment, its
encounter, often an eligibility check), and that diff was about 7 % of its Python.
``CreateDiffs`` keeps the field list and the "before" side per model and returns the same
dict, key for key and in the same order (``tests/test_audit_creates.py`` compares both on
a booking's rows and on the stored entries).

Only the diff function auditlog's receivers call is replaced, and only for a create (no
old instance, no ``fields_to_check``): the receiver, its pre_log and post_log signals,
``LogEntry.objects.log_create`` and so the entry written stay auditlog's own. Updates and
deletes get ``model_instance_diff`` itself.
"""

from __future__ import annotations

from typing import Any

import auditlog.receivers
from auditlog.diff import model_instance_diff

from config.audit import CreateDiffs

# One per value of AUDITLOG_STORE_JSON_CHANGES (the receivers pass it on every call).
_creates: dict[bool, CreateDiffs] = {}


def diff(
    old: Any, new: Any, fields_to_check: Any = None, use_json_for_changes: bool = False
) -> dict[str, Any] | None:
    """``model_instance_diff`` with its signature; a create goes through ``CreateDiffs``."""
    if old is None and new is not None and not fields_to_check:
        creates = _creates.get(use_json_for_changes)
        if creates is None:
            creates = _creates[use_json_for_changes] = CreateDiffs(json=use_json_for_changes)
        return creates(new)
    return model_instance_diff(
        old, new, fields_to_check=fields_to_check, use_json_for_changes=use_json_for_changes
    )


def install() -> None:
    """Point auditlog's receivers at ``diff`` (they look the name up on every call)."""
    auditlog.receivers.model_instance_diff = diff

"""The admin site, auditing every admin page that shows PHI-bearing rows.

Admin views are many (change list, change form, delete confirmation, history, and the
custom views each ModelAdmin adds), and each app registers its own ModelAdmins. Every
one of them is wrapped by ``AdminSite.admin_view``, so the audit is taken there, once,
from the rows the response is about to render: a new ModelAdmin is audited without
remembering to be.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from auditlog.registry import auditlog
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from config.audit import audit_access

# Registered with auditlog for its changes, but holding no PHI.
NOT_PHI = {
    "integrations.connector",
    # Room and equipment time: which resource, when, why; never who the patient is.
    "scheduling.mobileequipment",
    "scheduling.resourcebooking",
}


def is_phi_model(model: type[Model]) -> bool:
    """The models registered with auditlog are the PHI-bearing ones; so is the audit log
    itself, whose diffs hold the changed values."""
    label = model._meta.label_lower
    if label == "config.auditentry":
        return True
    return auditlog.contains(model) and label not in NOT_PHI


def _shown(response: HttpResponse) -> list[Model]:
    context = getattr(response, "context_data", None) or {}
    rows: list[Model] = []
    changelist = context.get("cl")
    if changelist is not None and is_phi_model(changelist.model):
        rows.extend(changelist.result_list)
    for key in ("original", "object"):
        obj = context.get(key)
        if isinstance(obj, Model) and is_phi_model(type(obj)):
            rows.append(obj)
    return rows


class HubAdminSite(admin.AdminSite):
    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        inner = super().admin_view(view, cacheable)
        # A ModelAdmin whose PHI depends on who looks (a message's raw payload is shown
        # only with its own permission) says so with ``phi_shown(request)``.
        phi_shown = getattr(getattr(view, "__self__", None), "phi_shown", None)

        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = inner(request, *args, **kwargs)
            if phi_shown is not None and not phi_shown(request):
                return response
            if response.status_code == 200 and request.user.is_authenticated:
                rows = _shown(response)
                if rows:
                    audit_access(actor=request.user, instances=rows)
            return response

        return update_wrapper(audited, view)

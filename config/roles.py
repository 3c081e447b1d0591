"""Roles are Django groups; this keeps their permissions in one place and in sync."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

from config import permissions as perms
from config.compiled import Compiled, stand_in_id

AGENT = "agent"
OPS_MANAGER = "ops_manager"
BILLER = "biller"
COMPLIANCE = "compliance"
ADMIN = "admin"
# Reads the audit trail and break-glass widens; signs in with MFA like every role above agent.
COMPLIANCE = "compliance"


def user_roles(user: Any) -> frozenset[str]:
    """The names of the user's groups. Asked on every request (the MFA gate) and again by
    each audit entry the request writes, so the answer is kept on the user object, which
    lives as long as the request: a role change applies from the next request."""
    roles: frozenset[str] | None = getattr(user, "_hub_roles", None)
    if roles is None:
        roles = user._hub_roles = frozenset(_group_names.rows(user_id=user.pk))
    return roles


# Compiled once per connection (config.compiled): it runs on every request.
_group_names: Compiled[str] = Compiled(
    lambda user_id: Group.objects.filter(user__id=user_id).values_list("name", flat=True),
    user_id=stand_in_id(),
)


# "app_label.codename" names from config.permissions; "*" is every permission.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: [
        perms.USE_CONSOLE,
        perms.OVERRIDE_NETWORK,
        perms.VIEW_PATIENT,
        perms.ADD_PATIENT,
        perms.CHANGE_PATIENT,
        perms.VIEW_APPOINTMENT,
        perms.ADD_APPOINTMENT,
        perms.CHANGE_APPOINTMENT,
        perms.ADD_WAITLIST,
        perms.VIEW_WAITLIST,
        perms.ADD_CALL,
        perms.CHANGE_CALL,
    ],
    OPS_MANAGER: [
        perms.VIEW_KPI,
        # time off, closures, template edits and the rebooking worklist they produce
        perms.MANAGE_SCHEDULE,
        # Deliberate double-booking; an ops manager who also works the console (in the
        # agent group too) can do it there and over the API.
        perms.OVERBOOK,
        perms.VIEW_APPOINTMENT,
        perms.VIEW_CALL,
        perms.VIEW_SLOT,
        perms.VIEW_CONNECTOR,
        perms.VIEW_MESSAGE,
        # the eligibility batch's progress
        perms.VIEW_ELIGIBILITY_BATCH_RUN,
        perms.VIEW_ELIGIBILITY_CHECK,
    ],
    BILLER: [
        perms.WORK_CLAIMS,
        perms.VIEW_CLAIM,
        perms.CHANGE_CLAIM,
        perms.VIEW_ENCOUNTER,
        perms.CHANGE_CHARGE,
        perms.CHANGE_DIAGNOSIS,
        perms.VIEW_REMITTANCE,
        perms.VIEW_ELIGIBILITY_CHECK,
        perms.VIEW_PATIENT,
        perms.VIEW_COVERAGE,
        # the diagnosis-procedure rule table, eligibility runs, remittances
        perms.VIEW_ELIGIBILITY_BATCH_RUN,
        perms.VIEW_DIAGNOSIS_PROCEDURE_RULE,
        perms.VIEW_REMITTANCE_CLAIM,
        perms.CHANGE_REMITTANCE_CLAIM,
    ],
    # The privacy officer: the accounting of disclosures and the break-glass widens
    # (in the admin, as staff), nothing clinical besides.
    COMPLIANCE: [perms.VIEW_DISCLOSURES, perms.VIEW_ACCESS_WIDEN],
    ADMIN: ["*"],
}


def roles_sync(**_: Any) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    # post_migrate reaches apps one by one; make sure every app's permissions exist
    # before the groups point at them.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        if names == ["*"]:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = []
        for dotted in names:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is None:
                raise LookupError(f"Role {role} names unknown permission {dotted}")
            wanted.append(perm)
        group.permissions.set(wanted)

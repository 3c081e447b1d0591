"""Roles are Django groups; this keeps their permissions in one place and in sync."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

AGENT = "agent"
OPS_MANAGER = "ops_manager"
BILLER = "biller"
ADMIN = "admin"

# app_label.codename; "app.view_*" style entries are expanded for every model of the app.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: [
        "scheduling.use_console",
        "scheduling.override_network",
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "scheduling.view_appointment",
        "scheduling.add_appointment",
        "scheduling.change_appointment",
        "scheduling.add_waitlist",
        "scheduling.view_waitlist",
        "scheduling.add_call",
        "scheduling.change_call",
    ],
    OPS_MANAGER: [
        "scheduling.view_kpi",
        "scheduling.view_appointment",
        "scheduling.view_call",
        "scheduling.view_slot",
        "integrations.view_connector",
        "integrations.view_message",
        # issue 5: eligibility batch progress
        "billing.view_eligibilitybatchrun",
        "billing.view_eligibilitycheck",
    ],
    BILLER: [
        "billing.work_claims",
        "billing.view_claim",
        "billing.change_claim",
        "billing.view_encounter",
        "billing.change_charge",
        "billing.change_diagnosis",
        "billing.view_remittance",
        "billing.view_eligibilitycheck",
        "patients.view_patient",
        "patients.view_coverage",
        # issue 5: rule table, eligibility runs, remittances
        "billing.view_eligibilitybatchrun",
        "billing.view_diagnosisprocedurerule",
        "billing.view_remittanceclaim",
        "billing.change_remittanceclaim",
    ],
    ADMIN: ["*"],
}


def roles_sync(**_: Any) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    # post_migrate reaches apps one by one; make sure every app's permissions exist
    # before the groups point at them.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        if perms == ["*"]:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is None:
                raise LookupError(f"Role {role} names unknown permission {dotted}")
            wanted.append(perm)
        group.permissions.set(wanted)

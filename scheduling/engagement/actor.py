"""The account automated patient actions are recorded under (a text reply, an offer
accepted by text): it cannot sign in, and the audit trail names it as the actor."""

from __future__ import annotations

from django.contrib.auth.models import User

ENGAGEMENT_USERNAME = "patient-engagement"


def engagement_actor() -> User:
    user, created = User.objects.get_or_create(
        username=ENGAGEMENT_USERNAME, defaults={"is_active": False, "first_name": "Patient texts"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user

"""Reads about agents: where an agent works, which scopes what they see by default."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from ..models import AgentProfile


def home_region_id(user: AbstractBaseUser | AnonymousUser | None) -> int | None:
    if user is None or not user.is_authenticated:
        return None
    return (
        AgentProfile.objects.filter(user_id=user.pk)
        .values_list("home_region_id", flat=True)
        .first()
    )

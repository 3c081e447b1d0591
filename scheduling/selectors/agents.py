"""Reads about agents: where an agent works, which scopes what they see by default."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from config.compiled import Compiled, stand_in_id

from ..models import AgentProfile


def home_region_id(user: AbstractBaseUser | AnonymousUser | None) -> int | None:
    if user is None or not user.is_authenticated:
        return None
    return _home_region.first(user_id=user.pk)


# Read on every booking and scoped read: compiled once (config.compiled). What .first()
# reads: the profile with the lowest id.
_home_region: Compiled[int | None] = Compiled(
    lambda user_id: (
        AgentProfile.objects.filter(user_id=user_id)
        .order_by("pk")
        .values_list("home_region_id", flat=True)[:1]
    ),
    user_id=stand_in_id(),
)

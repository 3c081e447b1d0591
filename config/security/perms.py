"""Permission checks in one query per request instead of two.

Django's ``ModelBackend`` reads a user's own permissions and their groups' permissions
with two queries the first time a request asks ``has_perm``, and keeps the union on the
user object (``_perm_cache``). Every console click and API call asks at least once, so
``OneQueryPermissionBackend``, listed before ``ModelBackend``, fills that same cache with
one UNION query; ``ModelBackend`` then answers from it. It authenticates nobody (sessions
keep naming ``ModelBackend``), caches nothing beyond the request's user object, and
grants exactly what ``ModelBackend`` grants, so a role change applies at the next request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission


class OneQueryPermissionBackend:
    """Not a ``BaseBackend``: it has no ``get_user``, so a login (or the test client's
    ``force_login``, which takes the first backend that has one) never records it."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None  # signs nobody in

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            names = ("content_type__app_label", "codename")
            if user_obj.is_superuser:
                rows = Permission.objects.values_list(*names)
            else:
                # Unordered: SQLite refuses ORDER BY inside a compound statement.
                rows = (
                    Permission.objects.filter(user=user_obj)
                    .order_by()
                    .values_list(*names)
                    .union(
                        Permission.objects.filter(group__user=user_obj)
                        .order_by()
                        .values_list(*names)
                    )
                )
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active) and perm in self.get_all_permissions(user_obj, obj=obj)

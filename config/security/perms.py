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

from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections, router

from config.prepared import prepared_cursor


def _user_and_group_permissions(user_id: int) -> list[tuple[str, str]]:
    """(app label, codename) of the user's own and their groups' permissions, in one
    statement written out: it runs on every request, and building the same UNION through
    the ORM cost more CPU than the database spends answering it."""
    alias = router.db_for_read(Permission)
    quote = connections[alias].ops.quote_name
    perm, ctype = quote(Permission._meta.db_table), quote(ContentType._meta.db_table)
    own = quote(User.user_permissions.through._meta.db_table)
    group_perms = quote(Group.permissions.through._meta.db_table)
    member = quote(User.groups.through._meta.db_table)
    # Table names from the models, quoted; the user id is a bound parameter.
    picked = (
        f"SELECT ct.app_label, p.codename FROM {perm} p"  # noqa: S608
        f" JOIN {ctype} ct ON ct.id = p.content_type_id"
    )
    sql = (
        f"{picked} JOIN {own} up ON up.permission_id = p.id WHERE up.user_id = %s"
        f" UNION {picked} JOIN {group_perms} gp ON gp.permission_id = p.id"
        f" JOIN {member} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s"
    )
    # Prepared on the server where it can be (config.prepared): the planning of a UNION
    # of joins is most of what PostgreSQL spends on it.
    if alias == DEFAULT_DB_ALIAS:
        with prepared_cursor() as cursor:
            cursor.execute(sql, [user_id, user_id])
            return cursor.fetchall()
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [user_id, user_id])
        return cursor.fetchall()


class OneQueryPermissionBackend:
    """Not a ``BaseBackend``: it has no ``get_user``, so a login (or the test client's
    ``force_login``, which takes the first backend that has one) never records it."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None  # signs nobody in

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                rows = list(Permission.objects.values_list("content_type__app_label", "codename"))
            else:
                rows = _user_and_group_permissions(user_obj.pk)
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active) and perm in self.get_all_permissions(user_obj, obj=obj)

"""Heavy reads on a PostgreSQL streaming replica; everything else on the primary.

With ``DATABASE_REPLICA_URL`` set, settings add the ``replica`` alias and this router.
Reads go to the replica only inside ``replica_reads()``, which the reporting surfaces
open around their queries (KPI pages, drill-downs and their CSV exports); everything
else reads where it writes, so a booking, a console page or a worker sees its own
writes at once. Inside a transaction already open on the primary, reads stay there
too: the replica may lag the primary by the replay delay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
_heavy_reads: ContextVar[bool] = ContextVar("heavy_reads", default=False)


def replica_alias() -> str:
    """The alias heavy reads use: the replica when one is configured."""
    return REPLICA if REPLICA in connections.settings else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads() -> Iterator[str]:
    """Route this block's reads to the replica (when there is one); yields the alias."""
    token = _heavy_reads.set(True)
    try:
        yield replica_alias()
    finally:
        _heavy_reads.reset(token)


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if not _heavy_reads.get() or REPLICA not in connections.settings:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS  # read-your-writes inside the caller's transaction
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS

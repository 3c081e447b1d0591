"""Server-side prepared statements for the few hot reads that run on every slot search.

Django binds parameters client-side and never prepares, so PostgreSQL plans each
statement on every execution. For the search's patient-facts statement (a dozen
subqueries over small, indexed reads) planning took longer than running it: about
0.5 ms of planning for 0.3 ms of execution. ``prepared_cursor`` runs a statement with
server-side binding, prepared once per connection by psycopg, so later executions skip
the parse and, once PostgreSQL settles on its generic plan, the planning.

The cursor is wrapped like any Django cursor: errors are Django's, the execute wrappers
run and ``CaptureQueriesContext`` counts each statement once.

``DB_PREPARED_STATEMENTS=0`` in the environment (or a False setting of that name) turns
it off, for a deployment behind a pooler that cannot keep named prepared statements
(PgBouncer in transaction mode before 1.21, or without ``max_prepared_statements``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# psycopg prepares on the connection when a query has run this many times; Django
# leaves the threshold unset (never prepare). Only cursors made here ask it to prepare,
# and they do on the first execution; this only has to be a number.
_NEVER_BY_COUNT = 2**31 - 1
_OFF = {"0", "false", "no", "off"}


class _PreparingCursor(psycopg.Cursor[Any]):
    """Server-side binding; every statement prepared (Django's wrapper passes no flag)."""

    binary_results = False

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True, binary=self.binary_results)


class _DebugWrapper(CursorDebugWrapper):
    """Django's debug cursor, logging the statement as written: psycopg keeps no
    client-side text of a statement bound on the server, so Django would log None where
    ``CaptureQueriesContext`` and ``connection.queries`` expect the SQL."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params):  # the text as given, not Django's None
            return CursorWrapper.execute(self, sql, params)  # wrappers and error mapping


def prepared_enabled(db: Any = None) -> bool:
    """``db``: the default connection when the caller holds it already."""
    # A setting wins (tests flip it); else the environment, on unless set to 0/false.
    configured = getattr(settings, "DB_PREPARED_STATEMENTS", None)
    if configured is None:
        configured = os.environ.get("DB_PREPARED_STATEMENTS", "1").strip().lower() not in _OFF
    return bool(configured) and (db or connection).vendor == "postgresql"


@contextmanager
def prepared_cursor(*, binary: bool = False) -> Iterator[Any]:
    """A cursor whose statements are prepared on the server (PostgreSQL), else Django's.

    Parameters use the same ``%(name)s`` placeholders; cast them in the SQL where the
    type matters (server-side, a parameter's type is the Python value's). ``binary``
    asks for results in binary format: cheaper to decode for many rows of integers.
    """
    # The default connection itself, once: each attribute of the ``connection`` proxy
    # is a context-local lookup, and a search opens two of these cursors.
    db = connections[DEFAULT_DB_ALIAS]
    if not prepared_enabled(db):
        with db.cursor() as plain:
            yield plain
        return
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = db.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _NEVER_BY_COUNT
    cursor: Any = _PreparingCursor(raw)
    cursor.binary_results = binary
    wrapped = _DebugWrapper(cursor, db) if db.queries_logged else db.make_cursor(cursor)
    try:
        yield wrapped
    finally:
        cursor.close()

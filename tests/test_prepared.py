"""Prepared statements look like any Django query to the tools that watch queries."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from config.prepared import prepared_cursor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's; elsewhere it is Django's cursor")


def test_a_prepared_statement_is_logged_with_its_text():
    with CaptureQueriesContext(connection) as queries, prepared_cursor() as cursor:
        cursor.execute("SELECT %(n)s::int + 1", {"n": 41})
        assert cursor.fetchone() == (42,)
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT %(n)s::int + 1"]


def test_a_failing_prepared_statement_raises_djangos_error():
    with pytest.raises(DatabaseError), prepared_cursor() as cursor:
        cursor.execute("SELECT %(n)s::int / 0", {"n": 1})

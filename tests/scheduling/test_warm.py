"""A web worker loads the ZIP index, the network snapshot and the console's templates as
it starts, so the first caller's search does not pay for them."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from scheduling import geo
from scheduling.rules import snapshot
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_warming_a_worker_fills_the_caches_a_first_search_would(django_assert_max_num_queries):
    f.provider(locations=[f.location()])
    geo._rows_by_zip.cache_clear()
    snapshot._snapshots.clear()

    apps.get_app_config("scheduling").warm()

    assert geo._rows_by_zip.cache_info().currsize == 1
    assert geo.zip_index_load() > 40_000
    if connection.vendor == "postgresql":  # only PostgreSQL keeps a versioned snapshot
        assert snapshot._snapshots
        with django_assert_max_num_queries(1):  # the version, nothing rebuilt
            snapshot.network_snapshot(on=timezone.localdate())

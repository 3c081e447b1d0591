"""Every result of the slot-search benchmark's searches, serialized, for comparing two trees.

Runs ``test_slot_search``'s 210 queries (its seed, "today" and ``now`` frozen) three ways:
as given, with limits 5/30/60 and a preferred time of day, and as agents (three users,
the network override asked for, home region on and off); writes one line per search.
Run it from each tree against the same database copy and compare the files byte for
byte; a copy with some live holds (by those users) exercises held starts too:

    cd <tree> && DATABASE_URL=postgresql://…/copy HUB_VAR_DIR=… \\
        .venv/bin/python <this file> /tmp/digest-<tree>.txt
    cmp /tmp/digest-old.txt /tmp/digest-new.txt
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, os.getcwd())  # the tree being compared, wherever this file is
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

NOW = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {repr(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return f"{value.isoformat()}|{value.tzinfo}"
    return repr(value)


def main(out: str) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from scheduling.selectors import slot_search
    from tests.bench.test_slot_search import _queries

    timezone.now = lambda: NOW  # the queries' dates follow "today"
    queries = _queries(random.Random(20261122))
    users = list(get_user_model().objects.order_by("pk")[:3])
    with open(out, "w") as fh:
        for variant in ("plain", "limits", "user"):
            for i, query in enumerate(queries):
                q = dict(query, now=NOW)
                if variant == "limits":
                    q["limit"] = (5, 30, 60)[i % 3]
                    if i % 2:
                        q["preferred_time_of_day"] = ("morning", "afternoon")[i % 4 // 2]
                elif variant == "user" and users:
                    q.update(
                        user=users[i % len(users)],
                        allow_out_of_network=True,
                        home_region_only=bool(i % 2),
                    )
                result = slot_search(**q)
                doc = _plain(dataclasses.replace(result, extra={}))
                doc["read"] = _plain(result.extra.get("read"))
                fh.write(f"{variant} {i} {doc!r}\n")


if __name__ == "__main__":
    main(sys.argv[1])

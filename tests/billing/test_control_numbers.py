"""ISA13/GS06 control numbers: unique and increasing, even with concurrent writers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from billing.services import control_number_next

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_batches_never_share_a_control_number():
    drawn: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            mine = [control_number_next() for _ in range(20)]
            with lock:
                drawn.extend(mine)
            # Each thread's own numbers only grow.
            assert mine == sorted(mine)
        except BaseException as exc:  # surfaced below, with the thread's error
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(drawn) == list(range(1, 81))

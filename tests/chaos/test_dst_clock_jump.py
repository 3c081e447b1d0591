"""The wall clock jumps an hour across a DST change while holds run: a hold lasts
HOLD_MINUTES of real time, never an hour more or less.

Holds expire at an absolute UTC instant, so the case replays the clock around each
change (``now`` injected into the services, no patched time) and asks the expiry sweep
what it releases a second before and at the expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.selectors.holds import open_holds
from scheduling.services import hold_expire_stale, hold_place
from tests import factories as f

pytestmark = [pytest.mark.chaos, pytest.mark.django_db]

DENVER = ZoneInfo("America/Denver")


@pytest.mark.parametrize(
    ("placed_utc", "expires_local"),
    [
        # 01:58:30 MDT; at 02:00 MDT the clocks go back to 01:00 MST.
        (datetime(2027, 11, 7, 7, 58, 30, tzinfo=UTC), "01:01:30 MST"),
        # 01:58:30 MST; at 02:00 MST the clocks go forward to 03:00 MDT.
        (datetime(2027, 3, 14, 8, 58, 30, tzinfo=UTC), "03:01:30 MDT"),
    ],
    ids=["fall-back", "spring-forward"],
)
def test_a_hold_across_a_dst_change_expires_after_its_minutes_of_real_time(
    settings, agent, placed_utc, expires_local
):
    settings.HOLD_MINUTES = 3
    location = f.location(time_zone="America/Denver")
    slot = f.slot(
        provider=f.provider(locations=[location]),
        location=location,
        start=placed_utc + timedelta(hours=6),
    )
    hold = hold_place(slot=slot, by=agent, now=placed_utc)
    expiry = placed_utc + timedelta(minutes=3)

    assert hold.expires_at == expiry
    assert hold.expires_at.astimezone(DENVER).strftime("%H:%M:%S %Z") == expires_local
    assert hold_expire_stale(now=expiry - timedelta(seconds=1)) == 0, "not an hour early"
    assert open_holds().filter(pk=hold.pk).exists()
    assert hold_expire_stale(now=expiry) == 1, "not an hour late"
    assert not open_holds().filter(pk=hold.pk).exists()
    # The wall clock reads the same hour twice after falling back: a second pass at the
    # later instant with the same local time releases nothing more.
    assert hold_expire_stale(now=expiry + timedelta(hours=1)) == 0

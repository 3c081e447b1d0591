"""Fixtures of the scheduling service tests."""

from __future__ import annotations

import pytest

from scheduling import signals

from .services_world import World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def heard():
    events: list[tuple[str, dict]] = []

    def on_hold(sender, **kw):
        events.append(("hold", kw))

    def on_change(sender, **kw):
        events.append((kw["event"], kw))

    signals.hold_placed.connect(on_hold)
    signals.appointment_changed.connect(on_change)
    yield events
    signals.hold_placed.disconnect(on_hold)
    signals.appointment_changed.disconnect(on_change)

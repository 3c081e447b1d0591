"""Fixtures for the integration engine: a connector per sender, a live MLLP listener."""

from __future__ import annotations

import asyncio
import threading

import pytest

from integrations.mllp.server import MLLPListener
from integrations.models import Connector
from tests import factories as f


@pytest.fixture
def pms(db) -> Connector:
    """A location's PMS that sends HL7 v2 and receives our SIU/ADT."""
    return Connector.objects.create(
        name="Denver PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(),
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )


class RunningListener:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.listener = MLLPListener("127.0.0.1", 0, dispatch=self.keys.extend)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.listener.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)
        self.host, self.port = "127.0.0.1", self.listener.port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def listener(transactional_db):
    running = RunningListener()
    yield running
    running.stop()

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
    def __init__(self, ssl_context=None) -> None:
        self.keys: list[str] = []
        self.listener = MLLPListener(
            "127.0.0.1", 0, dispatch=self.keys.extend, ssl_context=ssl_context
        )
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


class ScriptedMLLPServer:
    """A live python-hl7 asyncio MLLP server that answers from a script.

    Each entry is "AA", "AE", "AR" or "timeout" (read the message, answer nothing);
    once the script runs out it accepts everything. Every message received is kept.
    """

    def __init__(self, script: list[str]) -> None:
        import hl7.mllp

        self.script = list(script)
        self.received: list[tuple[str, str, str]] = []  # (control id, type, answer)
        self.messages: list[str] = []  # each message as it came off the socket
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def handle(reader, writer):
            try:
                while not reader.at_eof():
                    message = await reader.readmessage()
                    answer = self.script.pop(0) if self.script else "AA"
                    self.messages.append(str(message))
                    msh = message.segment("MSH")
                    self.received.append((str(msh(10)), str(msh(9)), answer))
                    if answer == "timeout":
                        continue  # say nothing; the sender's timeout closes the socket
                    writer.writemessage(message.create_ack(answer))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionResetError, ValueError):
                pass
            finally:
                writer.close()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                hl7.mllp.start_hl7_server(handle, "127.0.0.1", 0)
            )
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            # Cancel the connection handlers while the loop still runs: left pending, they
            # are collected after the loop closes and print "Event loop is closed" noise.
            self.server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def mllp_server():
    servers: list[ScriptedMLLPServer] = []

    def start(script: list[str]) -> ScriptedMLLPServer:
        server = ScriptedMLLPServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def booked_appointment(*, location, patient=None, start=None):
    """An appointment plus the outbox event a booking service writes with it."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from integrations.outbox import APPOINTMENT_BOOKED, outbox_enqueue

    provider = f.provider(locations=[location])
    start = start or timezone.now().replace(microsecond=0) + timedelta(days=2)
    slot = f.slot(provider=provider, location=location, start=start)
    with transaction.atomic():
        appt = f.appointment(
            patient=patient or f.patient(), slot=slot, appointment_type=f.appointment_type()
        )
        outbox_enqueue(
            event_type=APPOINTMENT_BOOKED,
            aggregate_type="appointment",
            aggregate_id=appt.pk,
            location_id=location.pk,
        )
    return appt


class TcpProxy:
    """Forwards TCP to a real server and can cut it off: "the database is down" for one
    process only, without touching the shared PostgreSQL server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.blocked = False
        self.links: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def handle(client_reader, client_writer):
            if self.blocked:
                client_writer.close()
                return
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError:
                client_writer.close()
                return
            self.links += [client_writer, server_writer]
            await asyncio.gather(
                pipe(client_reader, server_writer), pipe(server_reader, client_writer)
            )

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def block(self) -> None:
        def cut() -> None:
            self.blocked = True
            for writer in self.links:
                writer.transport.abort()
            self.links.clear()

        self.loop.call_soon_threadsafe(cut)

    def unblock(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self, "blocked", False)

    def stop(self) -> None:
        self.block()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def database_url(host: str | None = None, port: int | None = None) -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    host = host or db["HOST"] or "127.0.0.1"
    port = port or int(db["PORT"] or 5432)
    return f"postgresql://{db['USER']}@{host}:{port}/{db['NAME']}"

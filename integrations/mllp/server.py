"""The MLLP listener: asyncio sockets in front, one database thread behind.

Each connection may send many messages and may pipeline them (send the next before
the previous ACK). Frames from every connection go into one queue; a single writer
thread (Django connections are per thread) stores whatever has queued up in one
transaction and commits, and only then are the ACKs written back, in each
connection's order. Processing is handed to Celery after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from celery import current_app
from django.db import close_old_connections

from config.logs import logging_message
from integrations.hl7v2.batch import batch_ack, is_batch, parse_batch

from . import END_BLOCK, START_BLOCK, decode, unframe
from .peers import Peer

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_BATCH = 500
# After the broker refused a dispatch, stored rows are left to the sweeper for this long
# instead of paying a failed connection attempt per batch.
DISPATCH_PAUSE_SECONDS = 5.0


@dataclass
class _Pending:
    raw: str
    future: asyncio.Future[bytes]
    peer: Peer | None = None
    decode_error: str = ""


@dataclass
class ListenerStats:
    connections: int = 0
    frames: int = 0
    batches: int = 0
    acks: dict[str, int] = field(default_factory=dict)


INBOUND_DRAIN_TASK = "integrations.tasks.inbound_drain_task"


def dispatch_to_workers(keys: list[str]) -> None:
    """Queue processing of these patient keys for the workers.

    Sent by task name: the listener sits below the task modules (they import the
    sandbox, which feeds the hub the way this listener does), so it must not import them.
    """
    current_app.send_task(INBOUND_DRAIN_TASK, args=[keys])


class MLLPListener:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2575,
        *,
        ssl_context: ssl.SSLContext | None = None,
        dispatch: Callable[[list[str]], None] | None = dispatch_to_workers,
        reuse_port: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        self.ssl_context = ssl_context
        self.dispatch = dispatch
        self.stats = ListenerStats()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        # Queueing work for Celery has its own thread: with the broker down each attempt
        # takes a while to fail, and storing (hence ACKing) must never wait for it.
        self._dispatcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dispatch")
        self._dispatch_paused_until = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._directory = None

    # -- database side (runs in the single ledger thread) --------------------------
    def _store(self, batch: list[_Pending]) -> list[tuple[str, str, int | None, str]]:
        from integrations.ledger import ConnectorDirectory, Frame, inbound_store_batch

        if self._directory is None:
            self._directory = ConnectorDirectory()  # type: ignore[assignment]
        close_old_connections()
        frames = [Frame(p.raw, peer=p.peer, decode_error=p.decode_error) for p in batch]
        results = inbound_store_batch(frames, directory=self._directory)
        return [(r.ack, r.ack_code, r.message_id, r.ordering_key) for r in results]

    def _dispatch(self, keys: list[str]) -> None:
        if not keys or self.dispatch is None:
            return
        if time.monotonic() < self._dispatch_paused_until:
            return  # the broker failed moments ago; the beat sweeper finds these rows
        try:
            self.dispatch(keys)
        except Exception as exc:  # the broker is down: the beat sweeper finds the rows later
            self._dispatch_paused_until = time.monotonic() + DISPATCH_PAUSE_SECONDS
            logger.warning(
                "could not queue processing (%s); rows wait for the sweeper", type(exc).__name__
            )

    async def _run_batcher(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._executor, self._store, batch)
            except Exception as exc:  # never leave a sender hanging
                logger.exception("ledger write failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            self.stats.batches += 1
            keys: list[str] = []
            for pending, (ack, code, message_id, key) in zip(batch, results, strict=True):
                self.stats.acks[code] = self.stats.acks.get(code, 0) + 1
                with logging_message(message_id or ""):
                    # Ids and the ACK code only: the frame itself is PHI.
                    logger.debug("MLLP frame stored, answered %s", code)
                if message_id is not None and key not in keys:
                    keys.append(key)
                if not pending.future.done():
                    pending.future.set_result(ack.encode("utf-8"))
            if keys:
                loop.run_in_executor(self._dispatcher, self._dispatch, keys)

    # -- socket side --------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._queue is not None
        self.stats.connections += 1
        in_order: asyncio.Queue[asyncio.Future[bytes] | None] = asyncio.Queue()

        async def send_acks() -> None:
            while True:
                future = await in_order.get()
                if future is None:
                    return
                try:
                    ack = await future
                except Exception:
                    # Could not store and could not even build an AR: drop the
                    # connection so the sender knows nothing was acknowledged.
                    writer.close()
                    return
                writer.write(START_BLOCK + ack + END_BLOCK)
                await writer.drain()

        sender = asyncio.create_task(send_acks())
        loop = asyncio.get_running_loop()
        # Who is really at the other end (address, TLS client certificate): the ledger
        # checks it against the connector the message claims to come from.
        peer = Peer.of_connection(
            writer.get_extra_info("peername"), writer.get_extra_info("ssl_object")
        )
        try:
            while True:
                try:
                    block = await reader.readuntil(END_BLOCK)
                except asyncio.IncompleteReadError:
                    break  # the peer closed the connection
                except asyncio.LimitOverrunError:
                    logger.warning("frame over %s bytes; closing connection", MAX_FRAME_BYTES)
                    break
                payload = unframe(block)
                if START_BLOCK not in block and not payload.strip():
                    continue  # whitespace between frames, not a frame
                # Anything else is a frame, even an empty one: every frame is answered.
                self.stats.frames += 1
                decoded = decode(payload)
                if is_batch(decoded.text) and not decoded.error:
                    await in_order.put(await self._enqueue_batch(decoded.text, peer))
                    continue
                future: asyncio.Future[bytes] = loop.create_future()
                await in_order.put(future)
                await self._queue.put(_Pending(decoded.text, future, peer, decoded.error))
        except (ConnectionResetError, ssl.SSLError):
            pass
        finally:
            await in_order.put(None)
            with contextlib.suppress(Exception):
                await sender
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _enqueue_batch(self, text: str, peer: Peer) -> asyncio.Future[bytes]:
        """Queue each message of an FHS/BHS batch; the returned future is the batch ACK,
        ready once every one of them has its ACK (HL7 v2.5.1 ch. 2 §2.10.3)."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        received = parse_batch(text)
        futures: list[asyncio.Future[bytes]] = []
        for raw in received.messages:
            future: asyncio.Future[bytes] = loop.create_future()
            futures.append(future)
            await self._queue.put(_Pending(raw, future, peer))

        async def combine() -> bytes:
            acks = [(await f).decode("utf-8") for f in futures]
            return batch_ack(received, acks).encode("utf-8")

        return asyncio.ensure_future(combine())

    async def start(self) -> tuple[str, int]:
        self._queue = asyncio.Queue()
        self._batcher = asyncio.create_task(self._run_batcher())
        self._server = await asyncio.start_server(
            self._handle,
            self.host,
            self.port,
            ssl=self.ssl_context,
            limit=MAX_FRAME_BYTES,
            # Several listener processes on one address: the kernel spreads connections
            # over them. Each stores and ACKs on its own; ordering is the ledger's.
            reuse_port=self.reuse_port or None,
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = sockname[1]
        return sockname[0], sockname[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
        self._executor.submit(_close_connection).result()
        self._executor.shutdown(wait=True)
        self._dispatcher.shutdown(wait=True)


def tls_context(certfile: str, keyfile: str, cafile: str = "") -> ssl.SSLContext:
    """Server-side TLS; with ``cafile`` the sender must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _close_connection() -> None:
    from django.db import connection

    connection.close()

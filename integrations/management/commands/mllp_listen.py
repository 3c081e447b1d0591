from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.mllp.server import MLLPListener, tls_context
from integrations.transport_security import secure_transport_required


class Command(BaseCommand):
    help = "Receive HL7 v2 over MLLP: store each message in the ledger, commit, then ACK."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument("--certfile", default="", help="PEM certificate: serve MLLP over TLS")
        parser.add_argument("--keyfile", default="", help="PEM private key for --certfile")
        parser.add_argument(
            "--cafile", default="", help="require client certificates signed by this CA"
        )
        parser.add_argument(
            "--reuse-port",
            action="store_true",
            help="share the port with other listener processes (SO_REUSEPORT)",
        )
        parser.add_argument(
            "--no-dispatch",
            action="store_true",
            help="store and ACK only; leave processing to the periodic sweeper",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if bool(opts["certfile"]) != bool(opts["keyfile"]):
            raise CommandError("--certfile and --keyfile go together")
        context = (
            tls_context(opts["certfile"], opts["keyfile"], opts["cafile"])
            if opts["certfile"]
            else None
        )
        listener = MLLPListener(
            opts["host"], opts["port"], ssl_context=context, reuse_port=opts["reuse_port"]
        )
        if opts["no_dispatch"]:
            listener.dispatch = None
        asyncio.run(self._serve(listener))

    async def _serve(self, listener: MLLPListener) -> None:
        host, port = await listener.start()
        scheme = "MLLP/TLS" if listener.ssl_context else "MLLP"
        # Tests and run_hub read this line to learn the port when started with --port 0.
        self.stdout.write(f"{scheme} listening on {host}:{port}", ending="\n")
        self.stdout.flush()
        if listener.ssl_context is None and secure_transport_required():
            self.stderr.write(
                "plain MLLP under production settings: only connectors that allow plain "
                "transport are accepted; start with --certfile/--keyfile/--cafile for TLS"
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serving = asyncio.create_task(listener.serve_forever())
        await stop.wait()
        serving.cancel()
        await listener.stop()
        self.stdout.write(f"stopped after {listener.stats.frames} messages: {listener.stats.acks}")

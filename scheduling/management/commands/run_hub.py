from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.settings import DEVELOPMENT, hub_env, settings_module


def port_in_use(host: str, port: int, option: str, what: str) -> None:
    """CommandError naming the option to change when ``port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"Port {port} on {host} is already in use ({exc.strerror}), so the {what} "
                f"cannot start. Stop whatever holds it, or pick another port with "
                f"{option} (make run: {option.removeprefix('--').replace('-', '_').upper()}=...)."
            ) from None


def metrics_dir_fresh() -> Path:
    """The directory where every web worker keeps its Prometheus samples, emptied: files
    left by an earlier run would be summed into this run's figures."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.VAR_DIR / "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


class Command(BaseCommand):
    help = "Start the web server, a Celery worker with beat, and the MLLP listener; stop them together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--mllp-port",
            type=int,
            default=int(os.environ.get("MLLP_PORT", "2575")),
            help="Port of the HL7 v2 MLLP listener (default 2575, or $MLLP_PORT)",
        )
        parser.add_argument(
            "--smtp-port",
            type=int,
            default=int(os.environ.get("SMTP_PORT", "1025")),
            help="Port of the demo's local SMTP server (default 1025, or $SMTP_PORT)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        # Check the ports before starting anything: one process failing to bind would
        # otherwise stop all the others a second later with a less helpful message.
        mllp = self._has_command("mllp_listen")
        port_in_use(opts["host"], opts["port"], "--port", "web server")
        if mllp:
            port_in_use(opts["host"], opts["mllp_port"], "--mllp-port", "MLLP listener")
        # The messaging sandboxes are the demo's (HUB_ENV=development); a production hub
        # talks to its real provider and mail server through its own connectors.
        sandboxes = hub_env() == DEVELOPMENT and self._has_command("sandbox_smtp")
        if sandboxes:
            port_in_use(opts["host"], opts["smtp_port"], "--smtp-port", "SMTP server")
        bin_dir = os.path.dirname(sys.executable)
        # The processes run production settings unless HUB_ENV=development asks otherwise
        # (make run does, for the demo on plain http://127.0.0.1).
        try:
            module = settings_module()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        if hub_env() != DEVELOPMENT and not os.environ.get("SECRET_KEY"):
            raise CommandError(
                "Production settings need SECRET_KEY (and CACHE_URL, ALLOWED_HOSTS); "
                "for the demo run with HUB_ENV=development."
            )
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": module,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir_fresh()),
        }
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"{opts['host']}:{opts['port']}",
                "--workers",
                str(opts["web_workers"]),
                "--access-logfile",
                "-",
                "--access-logformat",
                '%(h)s "%(m)s %(U)s" %(s)s %(M)sms',
            ],
            # -B embeds beat in the worker: one process runs the periodic jobs.
            "worker": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "worker",
                "-B",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        }
        if sandboxes:
            # Patient messaging in the demo: email to a local SMTP server, texts to the
            # sandbox gateway this web server serves (by command name: integrations sits
            # above this app).
            from django.core.management import call_command

            smtp = f"{opts['host']}:{opts['smtp_port']}"
            call_command(
                "messaging_sandbox", web=f"http://{opts['host']}:{opts['port']}", smtp=smtp
            )
            commands["smtp"] = [
                sys.executable,
                "manage.py",
                "sandbox_smtp",
                "--host",
                opts["host"],
                "--port",
                str(opts["smtp_port"]),
            ]
        if mllp:
            commands["mllp"] = [
                sys.executable,
                "manage.py",
                "mllp_listen",
                "--port",
                str(opts["mllp_port"]),
            ]
        procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(f"\nCare Hub is running at http://{opts['host']}:{opts['port']}/")
        )
        self.stdout.write(
            "Logins (password 'carehub-demo'): agent, agent2 (agents), ops, biller, compliance, "
            "admin"
        )
        if mllp:
            self.stdout.write(f"HL7 v2 (MLLP) listener on {opts['host']}:{opts['mllp_port']}")
        if "smtp" in commands:
            self.stdout.write(
                f"Patient texts: http://{opts['host']}:{opts['port']}/integrations/sms/sandbox/ ; "
                f"email: SMTP on {opts['host']}:{opts['smtp_port']} (var/mail/) ; "
                f"self-scheduling: http://{opts['host']}:{opts['port']}/book/"
            )
        self.stdout.write(
            "ops, biller, compliance and admin enrol an authenticator app (TOTP) at their first sign-in."
        )
        self.stdout.write(f"Processes: {', '.join(procs)}. Ctrl-C stops them all.\n")

        def stop(*_: Any) -> None:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            raise SystemExit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(
                        f"{name} exited with code {proc.returncode}; stopping the others."
                    )
                    stop()
            time.sleep(1)

    @staticmethod
    def _has_command(name: str) -> bool:
        from django.core.management import get_commands

        return name in get_commands()

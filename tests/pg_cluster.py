"""A throwaway PostgreSQL primary and streaming standby for replica tests.

Both run from the machine's PostgreSQL binaries in a temporary directory, on free ports
of 44000-44999, as the ``postgres`` user when the tests run as root (initdb refuses
root). ``missing()`` says why this machine cannot, so a test skips with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORTS = range(44000, 45000)
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_dump", "psql")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def missing() -> str:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"PostgreSQL tools not installed: {', '.join(absent)}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as postgres"
    return ""


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 44000-44999")


def _run(*cmd: str, stdin: int | None = None) -> None:
    subprocess.run([*_as_postgres(), *cmd], check=True, capture_output=True, text=True, stdin=stdin)


@dataclass
class Pair:
    primary_port: int
    standby_port: int
    root: Path

    def url(self, port: int, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"


def _settings(data: Path, port: int, root: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\nwal_level = replica\n"
            "max_wal_senders = 4\nhot_standby = on\nfsync = off\n"
            "synchronous_commit = off\nshared_buffers = 32MB\nmax_connections = 40\n"
        )


def _start(data: Path) -> None:
    _run("pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60", "start")


@contextmanager
def streaming_pair() -> Iterator[Pair]:
    """A primary (wal_level=replica) and a standby made from it with pg_basebackup -R."""
    root = Path(tempfile.mkdtemp(prefix="carehub-scale-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary, standby = root / "primary", root / "standby"
    started: list[Path] = []
    try:
        primary_port = _free_port()
        _run("initdb", "-D", str(primary), "-A", "trust", "-U", "postgres", "--no-sync")
        _settings(primary, primary_port, root)
        _start(primary)
        started.append(primary)
        standby_port = _free_port()  # the primary holds its port by now
        _run(
            *("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres"),
            *("-D", str(standby), "-R", "-X", "stream", "--no-sync"),
        )
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {standby_port}\n")
        _start(standby)
        started.append(standby)
        yield Pair(primary_port, standby_port, root)
    finally:
        for data in reversed(started):
            subprocess.run(
                [*_as_postgres(), "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)

"""A PostgreSQL cluster and a Redis server that the chaos suite owns and may kill.

The shared servers are never touched: ``python -m tests.chaos.servers CMD...`` creates a
cluster (``initdb``, trust auth) and a Redis in a temporary directory on their own ports,
runs CMD with ``DATABASE_URL`` and ``CELERY_BROKER_URL`` pointing at them (so the test
database itself lives on the cluster the cases restart), and removes both afterwards.
The cases find them again through the ``CHAOS_*`` variables set here.

The cluster runs with ``fsync=off``: the faults injected are process crashes
(``pg_ctl stop -m immediate``), after which PostgreSQL replays its WAL from the page
cache like after any crash; only a power cut would need the flushes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

PG_PORT = int(os.environ.get("CHAOS_PG_PORT", "43432"))
REDIS_PORT = int(os.environ.get("CHAOS_REDIS_PORT", "43379"))


def pg_bin(name: str) -> str:
    """A PostgreSQL program of the newest installed major version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_major)
    return found[-1] if found else name


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: under root (a CI container) the cluster belongs to
    the ``postgres`` system user, as the distribution's own clusters do."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _major(path: str) -> int:
    return int(Path(path).parts[4]) if Path(path).parts[4].isdigit() else 0


class PgCluster:
    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = Path(data), port

    def init(self) -> None:
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(
            _as_owner(
                [
                    pg_bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60"
        )
        subprocess.run(
            _as_owner(
                [
                    pg_bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.data / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def crash(self) -> None:
        """Stop without a checkpoint, like a killed server: the next start replays WAL."""
        subprocess.run(
            _as_owner([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_owner([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


class RedisServer:
    """No persistence, on purpose: a restart loses every queued task, the worst case.

    Daemonized, so a case can stop it and start another that outlives the case."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = Path(data), port
        self.client = redis.Redis(port=port, socket_connect_timeout=0.5)

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--logfile",
                str(self.data / "redis.log"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if not self._wait(up=True):
            raise RuntimeError(f"redis on port {self.port} did not start")

    def kill(self) -> None:
        """Stop without saving: whatever was queued in it is gone."""
        with contextlib.suppress(redis.ConnectionError):
            self.client.shutdown(nosave=True)
        if not self._wait(up=False):
            raise RuntimeError(f"redis on port {self.port} did not stop")

    def up(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def _wait(self, *, up: bool) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.up() == up:
                return True
            time.sleep(0.05)
        return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def cluster() -> PgCluster:
    """The running suite's cluster (inside a ``python -m tests.chaos.servers`` run)."""
    return PgCluster(Path(os.environ["CHAOS_PG_DATA"]), int(os.environ["CHAOS_PG_PORT"]))


def broker() -> RedisServer:
    return RedisServer(Path(os.environ["CHAOS_REDIS_DIR"]), int(os.environ["CHAOS_REDIS_PORT"]))


def main(argv: list[str]) -> int:
    if not argv:
        sys.exit("usage: python -m tests.chaos.servers COMMAND [ARGS...]")
    root = Path(tempfile.mkdtemp(prefix="hub-chaos-"))
    root.chmod(0o755)  # the cluster's owner must reach its directory inside
    pg = PgCluster(root / "pg", PG_PORT)
    rd = RedisServer(root / "redis", REDIS_PORT)
    try:
        pg.init()
        pg.start()
        rd.start()
        env = {
            **os.environ,
            "DATABASE_URL": pg.url("carehub"),
            "CELERY_BROKER_URL": rd.url(),
            "CHAOS_PG_DATA": str(pg.data),
            "CHAOS_PG_PORT": str(pg.port),
            "CHAOS_REDIS_DIR": str(rd.data),
            "CHAOS_REDIS_PORT": str(rd.port),
        }
        return subprocess.run(argv, env=env, check=False).returncode
    finally:
        if rd.up():
            rd.kill()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

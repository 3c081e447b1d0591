"""``make soak``: the hub under mixed load for SOAK_SECONDS (default 600), then a report.

It starts its own hub with ``run_hub`` (gunicorn, a Celery worker with beat, the MLLP
listener) on PostgreSQL and Redis, in its own database (carehub_soak, dropped and made
again) and Redis database, on ports it picks free on 127.0.0.1. All at once:

* 20 agents (Locust, headless) working calls through the console over HTTP;
* a steady HL7 v2 stream (ADT^A04/A08, SOAK_HL7_RATE per second, default 200) over
  MLLP on several connections, each message with its own MSH-10;
* the eligibility batch (270s to the sandbox payer), FHIR polling of the sandbox EHR
  and the sandbox tick, the last two also on beat's own schedule.

The report (var/soak/report.json, rss.csv, and the chart static/soak/rss.svg) gives the
errors, the MSH-10s sent and missing from the ledger or in it twice, p50/p95 per
console action, and every process's RSS sampled over time.

Settings: SOAK_SECONDS, SOAK_HL7_RATE, SOAK_DATABASE_URL (a database it may drop),
SOAK_REDIS_URL.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.soak.chart import rss_svg  # noqa: E402

OUT = ROOT / "var" / "soak"
CHART = ROOT / "static" / "soak" / "rss.svg"
PY = sys.executable
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
HL7_RATE = int(os.environ.get("SOAK_HL7_RATE", "200"))
HL7_CONNECTIONS = 4
DB_URL = os.environ.get("SOAK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/carehub_soak")
REDIS_URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/4")
AGENTS = 20
# Every MSH-10 of a run starts with this, so a reused database's earlier runs never count.
RUN = f"S{int(time.time()) % 100000:05d}-"
PASSWORD = "soak-agent-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env() -> dict[str, str]:
    return {
        **os.environ,
        "HUB_ENV": "development",
        "HUB_LOG_JSON": "1",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": "soak",
        "HUB_VAR_DIR": str(OUT / "hub"),
        "PROMETHEUS_MULTIPROC_DIR": str(OUT / "hub" / "prometheus"),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "LOGIN_IP_FAILURE_LIMIT": "1000",
        "API_TOKEN_RATE_PER_MINUTE": "100000",
        "PYTHONUNBUFFERED": "1",
    }


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def database_fresh() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# Runs inside the hub's settings: the agents, and what they and the stream work with.
WORLD_SCRIPT = """
import json, sys
from django.contrib.auth.models import Group, User
from django.test import Client
from integrations.models import Connector
from patients.models import Patient
from scheduling.models import AgentProfile, AppointmentType
agents = []
for i in range(1, {agents} + 1):
    user, made = User.objects.get_or_create(username=f"soak-agent{{i:02}}")
    if made:
        user.set_password("{password}")
        user.save()
        user.groups.add(Group.objects.get(name="agent"))
        AgentProfile.objects.create(user=user, home_region=None)
    # Signed in as the sign-in form would (an agent signs in once a shift, so the soak
    # measures the calls, not twenty password hashes on a shared CPU).
    client = Client()
    client.force_login(user)
    agents.append(dict(username=user.username, session=client.cookies["sessionid"].value))
patients = [
    dict(id=p.pk, phone=p.phone, last_name=p.last_name, dob=p.date_of_birth.strftime("%m/%d/%Y"))
    for p in Patient.objects.order_by("?")[:300] if p.phone
]
types = list(AppointmentType.objects.order_by("duration_minutes").values_list("pk", flat=True)[:4])
pms = Connector.objects.filter(role="location_pms").order_by("pk").first()
json.dump(dict(agents=agents, password="{password}", patients=patients, appointment_types=types,
    pms=dict(app=pms.sending_application, facility=pms.sending_facility,
             authority=pms.identifier_system)), open("{out}", "w"))
"""


SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "de", "po"]


def adt(control_id: str, n: int, pms: dict[str, str]) -> bytes:
    """5,000 synthetic people, each always with the same name and birth date, all
    different from each other: people who share a birth date and nearly a name are what
    the duplicate check exists for, and would make the stream a duplicate-check storm."""
    event = "A04" if n % 3 else "A08"
    person = n % 5000
    mrn = f"SOAK{person:05d}"
    last = "".join(SYLLABLES[int(d)] for d in f"{person:04d}").capitalize()
    first = SYLLABLES[person % 7].capitalize() + SYLLABLES[person % 9]
    dob = (date(1940, 1, 1) + timedelta(days=person * 5)).strftime("%Y%m%d")
    segments = [
        f"MSH|^~\\&|{pms['app']}|{pms['facility']}|CAREHUB|HUB|20261206100000||ADT^{event}^ADT_A01|{control_id}|P|2.5.1",
        f"EVN|{event}|20261206100000",
        f"PID|1||{mrn}^^^{pms['authority']}^MR||{last}^{first}^Q||{dob}|F|||1 Soak St^^Denver^CO^80202||(303)555-{person:04d}",
        "PV1|1|O",
    ]
    return b"\x0b" + ("\r".join(segments) + "\r").encode() + b"\x1c\r"


class Hl7Stream:
    """HL7_RATE messages a second over HL7_CONNECTIONS persistent connections, each
    waiting for its ACK before the next (as a PMS interface engine does)."""

    def __init__(self, port: int, pms: dict[str, str], until: float) -> None:
        self.port, self.pms, self.until = port, pms, until
        self.sent: list[str] = []
        self.acks: dict[str, int] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.counter = 0

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def run_one(self, lane: int) -> None:
        """Sends what is due at this lane's share of the rate, then reads that many ACKs
        (the listener answers in order): when ACKs come back slowly, the next burst is
        bigger, so the stream keeps its rate instead of slowing to the round trip."""
        lane_rate = HL7_RATE / HL7_CONNECTIONS
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        began, sent, pending = time.monotonic(), 0, b""
        try:
            while time.time() < self.until:
                due = min(int((time.monotonic() - began) * lane_rate) - sent, 500)
                if due <= 0:
                    time.sleep(0.02)
                    continue
                burst = []
                for _ in range(due):
                    n = self._next()
                    burst.append(f"{RUN}{n:08d}")
                    sock.sendall(adt(burst[-1], n, self.pms))
                codes = []
                while len(codes) < len(burst):
                    while b"\x1c\r" not in pending:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("listener closed the connection")
                        pending += chunk
                    frame, pending = pending.split(b"\x1c\r", 1)
                    codes.append(
                        frame.split(b"MSA|", 1)[1][:2].decode() if b"MSA|" in frame else "??"
                    )
                sent += len(burst)
                with self.lock:
                    self.sent.extend(burst)
                    for code in codes:
                        self.acks[code] = self.acks.get(code, 0) + 1
        except Exception as exc:
            with self.lock:
                self.errors.append(f"lane {lane}: {type(exc).__name__}: {exc}")
        finally:
            sock.close()

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run_one, args=(lane,), daemon=True)
            for lane in range(HL7_CONNECTIONS)
        ]
        for t in threads:
            t.start()
        return threads


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_label(pid: int) -> str:
    try:
        argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    text = " ".join(a.decode(errors="replace") for a in argv)
    if "gunicorn" in text:
        return "gunicorn"
    if "celery" in text:
        return "celery"
    if "mllp_listen" in text:
        return "mllp"
    return ""


def rss_kib(pid: int) -> int | None:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample_rss(root: int, started: float, rows: list[dict], stop: threading.Event) -> None:
    names: dict[int, str] = {}
    while not stop.is_set():
        for pid in descendants(root):
            label = process_label(pid)
            if not label:
                continue
            if pid not in names:
                same = sum(1 for n in names.values() if n.startswith(label))
                names[pid] = f"{label}-{same + 1}"
            kib = rss_kib(pid)
            if kib is not None:
                rows.append({"t": round(time.time() - started, 1), "process": names[pid],
                             "pid": pid, "rss_mib": round(kib / 1024, 1)})  # fmt: skip
        stop.wait(5)


def wait_for_hub(port: int, mllp_port: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("run_hub exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                socket.create_connection(("127.0.0.1", mllp_port), timeout=2).close()
                return
        except OSError:
            time.sleep(1)
    sys.exit("the hub did not start within 120 s")


LEDGER_SCRIPT = """
import json, sys
from django.db.models import Count
from integrations.models import Message
rows = Message.objects.filter(direction=Message.Direction.INBOUND, control_id__startswith=RUN)
dupes = rows.values("control_id").annotate(n=Count("id")).filter(n__gt=1).count()
ids = list(rows.values_list("control_id", flat=True))
status = dict(rows.values_list("status").annotate(n=Count("id")))
json.dump(dict(ids=ids, duplicates=dupes, status=status), open(sys.argv[-1], "w"))
"""


def ledger(env: dict[str, str]) -> dict:
    path = OUT / "ledger.json"
    script = LEDGER_SCRIPT.replace("sys.argv[-1]", repr(str(path))).replace("=RUN", f"={RUN!r}")
    manage("shell", "-c", script, env=env)
    return json.loads(path.read_text())


def latencies(prefix: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with open(f"{prefix}_stats.csv") as f:
        for row in csv.DictReader(f):
            out[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
            }
    return out


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hub" / "prometheus").mkdir(parents=True, exist_ok=True)
    env = hub_env()
    print(f"soak: {SECONDS} s, {AGENTS} agents, HL7 at {HL7_RATE}/s; database {DB_URL}")
    world_file = OUT / "world.json"  # synthetic demo people only
    # SOAK_REUSE_DB=1 keeps the last run's database (to rerun quickly while debugging).
    if os.environ.get("SOAK_REUSE_DB") != "1":
        database_fresh()
        manage("migrate", "--noinput", "-v0", env=env)
        manage("seed_demo", "--locations", "4", "--providers", "12", "--patients", "1000",
               "--days", "21", "--history-months", "1", env=env)  # fmt: skip
    script = WORLD_SCRIPT.format(agents=AGENTS, password=PASSWORD, out=world_file)
    manage("shell", "-c", script, env=env)
    world = json.loads(world_file.read_text())

    port, mllp_port = free_port(), free_port()
    hub = subprocess.Popen(
        [PY, "manage.py", "run_hub", "--host", "127.0.0.1", "--port", str(port),
         "--mllp-port", str(mllp_port)],
        cwd=ROOT, env=env, stdout=open(OUT / "hub.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    try:
        wait_for_hub(port, mllp_port, hub)
        started = time.time()
        rss: list[dict] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(hub.pid, started, rss, stop))
        sampler.start()
        stream = Hl7Stream(mllp_port, world["pms"], until=started + SECONDS)
        lanes = stream.start()
        locust = subprocess.Popen(
            [os.path.join(os.path.dirname(PY), "locust"), "-f", str(ROOT / "tests/soak/locustfile.py"),
             "--headless", "-u", str(AGENTS), "-r", "5", "-t", f"{SECONDS}s",
             "--host", f"http://127.0.0.1:{port}", "--csv", str(OUT / "locust"),
             "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
            cwd=ROOT, env={**os.environ, "SOAK_WORLD": str(OUT / "world.json")},
            stdout=open(OUT / "locust.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        # Billing and polling load besides: the eligibility batch, FHIR polls, sandbox ticks.
        batch = subprocess.Popen(
            [PY, "manage.py", "eligibility_batch", "--days", "14"], cwd=ROOT, env=env,
            stdout=open(OUT / "eligibility.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        poke = "from integrations.tasks import fhir_poll_task, sandbox_tick_task; fhir_poll_task.delay(); sandbox_tick_task.delay()"
        while time.time() < started + SECONDS:
            manage("shell", "-c", poke, env=env)
            time.sleep(min(30, max(0, started + SECONDS - time.time())))
        for lane in lanes:
            lane.join(60)
        locust.wait(120)
        batch.wait(300)
        # Let the workers finish what the stream queued before counting the ledger.
        drain_deadline = time.time() + 180
        while True:
            book = ledger(env)
            waiting = sum(
                n for s, n in book["status"].items() if s in {"received", "pending", "failed"}
            )
            if not waiting or time.time() > drain_deadline:
                break
            time.sleep(5)
        drained_after = round(time.time() - started - SECONDS, 1)
        stop.set()
        sampler.join()
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(60)
        except subprocess.TimeoutExpired:
            hub.kill()

    sent = set(stream.sent)
    stored = book["ids"]
    actions = latencies(OUT / "locust")
    http_errors = sum(v["failures"] for v in actions.values())
    report = {
        "seconds": SECONDS,
        "agents": AGENTS,
        "hl7": {
            "target_rate_per_s": HL7_RATE,
            "sent": len(sent),
            "achieved_rate_per_s": round(len(sent) / SECONDS, 1),
            "acks": stream.acks,
            "stream_errors": stream.errors,
            "lost": len(sent - set(stored)),
            "duplicated": book["duplicates"],
            "ledger_status": book["status"],
            "drained_seconds_after_end": drained_after,
            # Stored and acknowledged but not yet applied when the drain wait ran out.
            "unprocessed_after_drain": waiting,
        },
        "http_errors": http_errors,
        "eligibility_batch_exit": batch.returncode,
        "console": actions,
        "rss_first_last_mib": rss_summary(rss),
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=2))
    with open(OUT / "rss.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["t", "process", "pid", "rss_mib"])
        writer.writeheader()
        writer.writerows(rss)
    CHART.parent.mkdir(parents=True, exist_ok=True)
    CHART.write_text(rss_svg(rss, title=f"RSS per process over a {SECONDS} s soak"))
    print(json.dumps(report, indent=2))
    errors = http_errors + len(stream.errors) + report["hl7"]["lost"] + book["duplicates"]
    errors += waiting  # a hub that cannot keep up with its stream does not pass
    errors += sum(n for code, n in stream.acks.items() if code != "AA")
    print(
        f"soak: {'PASS' if not errors else 'FAIL'}; report in {OUT / 'report.json'}, chart {CHART}"
    )
    return 1 if errors else 0


def rss_summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Each process's RSS in its first and last minute (median of the samples), MiB."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted({r["process"] for r in rows}):
        mine = [r for r in rows if r["process"] == name]
        end = mine[-1]["t"]
        first = sorted(r["rss_mib"] for r in mine if r["t"] <= mine[0]["t"] + 60)
        last = sorted(r["rss_mib"] for r in mine if r["t"] >= end - 60)
        out[name] = {"first_min": first[len(first) // 2], "last_min": last[len(last) // 2],
                     "max": max(r["rss_mib"] for r in mine)}  # fmt: skip
    return out


if __name__ == "__main__":
    random.seed(2026)
    sys.exit(main())

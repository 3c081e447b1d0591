"""Benchmark: batched HL7 processing of this tree against the unencrypted baseline, by CPU.

On a shared machine wall time says little, so both trees run the same flow
(``hl7_cpu_flow.py``: 1,000 messages of each type, batches of 500) and count the CPU of
the worker process and of its PostgreSQL backend; the runs alternate, baseline first, so
both see the same load. The goal is at least 0.87 of the baseline's messages per
CPU-second for every type, the median of the runs against the median of the runs.

    git worktree add ../hl7base b560b0a && ln -s "$PWD/.venv" ../hl7base/.venv
    HL7_BASELINE_TREE=../hl7base DATABASE_URL=postgresql://... make bench

Each run makes and drops its own test database, named after DATABASE_URL's; set
``HL7_BASELINE_DATABASE_URL`` to give the baseline another one. ``HL7_CPU_RUNS`` (2)
sets how many runs each tree gets.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.hl7_cpu_flow import TYPES

GOAL = 0.87
HERE = Path(__file__).resolve()
THIS_TREE = HERE.parents[2]


def _run(tree: Path, database_url: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, str(HERE.with_name("hl7_cpu_flow.py")), "--tree", str(tree)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["rates"]


def test_batched_hl7_processing_within_15_percent_of_the_unencrypted_baseline():
    baseline = os.environ.get("HL7_BASELINE_TREE")
    if not baseline:
        pytest.skip("set HL7_BASELINE_TREE to a checkout of the unencrypted tree (b560b0a)")
    base_tree = Path(baseline).resolve()
    runs = int(os.environ.get("HL7_CPU_RUNS", "2"))
    base_url = os.environ.get("HL7_BASELINE_DATABASE_URL")
    rates: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(runs):
        rates["baseline"].append(_run(base_tree, base_url))
        rates["this"].append(_run(THIS_TREE, None))
    ratios = {
        t: statistics.median(r[t] for r in rates["this"])
        / statistics.median(r[t] for r in rates["baseline"])
        for t in TYPES
    }
    lines = [f"\n[hl7 cpu] messages per CPU-second (process + database backend), {runs} runs"]
    for label, figures in rates.items():
        lines.append(
            f"  {label:8} "
            + " · ".join(f"{t} {', '.join(f'{r[t]:,.0f}' for r in figures)}" for t in TYPES)
        )
    lines.append("  ratio    " + " · ".join(f"{t} {ratios[t]:.2f}" for t in TYPES))
    print("\n".join(lines))
    assert all(r >= GOAL for r in ratios.values()), ratios

"""Erlang C against the simulation: print the table and write the README's chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from scheduling.hubs.compare import comparison_svg, erlang_comparison

DEFAULT_OUT = "static/docs/hubs-erlang-c.svg"


class Command(BaseCommand):
    help = "Compare simulated average speed of answer with Erlang C; write the SVG chart."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--calls-per-hour", type=float, default=66)
        parser.add_argument("--handle-seconds", type=float, default=300)
        parser.add_argument("--agents", default="6-10", help="a range, e.g. 6-10")
        parser.add_argument("--days", type=int, default=20)
        parser.add_argument("--hours", type=float, default=10)
        parser.add_argument("--out", default=DEFAULT_OUT)

    def handle(self, *args: Any, **opts: Any) -> None:
        low, high = (int(x) for x in opts["agents"].split("-"))
        rows = erlang_comparison(
            calls_per_hour=opts["calls_per_hour"],
            handle_seconds=opts["handle_seconds"],
            staffing=range(low, high + 1),
            days=opts["days"],
            hours=opts["hours"],
        )
        self.stdout.write("agents  ASA Erlang C  ASA simulated  SL30 Erlang C  SL30 simulated")
        for r in rows:
            self.stdout.write(
                f"{r.agents:>6}  {r.predicted_asa:>12.1f}  {r.measured_asa:>13.1f}  "
                f"{r.predicted_sl:>13.1%}  {r.measured_sl:>14.1%}"
            )
        title = (
            f"{opts['calls_per_hour']:g} calls/h, {opts['handle_seconds']:g} s handle time: "
            f"Erlang C vs {opts['days']} simulated {opts['hours']:g}-hour days"
        )
        out = Path(opts["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(comparison_svg(rows, title=title))
        self.stdout.write(f"wrote {out}")

"""Erlang C's prediction beside the simulation's measurement, for one hub's traffic at
several staffing levels, and the SVG chart of it that the README shows."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from html import escape

from . import erlang
from .simulate import HubPlan, simulate
from .traffic import RegionTraffic, day_of_calls


@dataclass(frozen=True)
class Comparison:
    agents: int
    predicted_asa: float
    measured_asa: float
    predicted_sl: float
    measured_sl: float


def erlang_comparison(
    *, calls_per_hour: float, handle_seconds: float, staffing: range, days: int, hours: float
) -> list[Comparison]:
    """Per staffing level: Erlang C's ASA and 30 s service level, and the medians over
    ``days`` simulated days (seeds 0..days-1) without overflow."""
    rows = []
    traffic = {"r": RegionTraffic(calls_per_hour, handle_seconds)}
    for agents in staffing:
        asas, sls = [], []
        for seed in range(days):
            calls = day_of_calls(traffic, hours=hours, seed=seed)
            result = simulate([HubPlan("hub", agents, ("r",))], calls, overflow=False)["hub"]
            asas.append(result.average_speed_of_answer)
            sls.append(result.service_level)
        rows.append(
            Comparison(
                agents,
                erlang.average_speed_of_answer(
                    calls_per_hour=calls_per_hour, handle_seconds=handle_seconds, agents=agents
                ),
                statistics.median(asas),
                erlang.service_level(
                    calls_per_hour=calls_per_hour,
                    handle_seconds=handle_seconds,
                    agents=agents,
                    within_seconds=30,
                ),
                statistics.median(sls),
            )
        )
    return rows


def comparison_svg(rows: list[Comparison], *, title: str) -> str:
    """Paired bars per staffing level: predicted (dark) and measured (light) ASA."""
    width, height, left, bottom, top = 640, 280, 56, 40, 52
    plot_w, plot_h = width - left - 16, height - bottom - top
    peak = max(max(r.predicted_asa, r.measured_asa) for r in rows) or 1
    step = plot_w / len(rows)
    bar = step * 0.32
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13">{escape(title)}</text>',
        f'<rect x="{left}" y="22" width="10" height="10" fill="#1f4e79"/>'
        f'<text x="{left + 14}" y="31">Erlang C prediction</text>'
        f'<rect x="{left + 150}" y="22" width="10" height="10" fill="#9dc3e6"/>'
        f'<text x="{left + 164}" y="31">simulated (median of days)</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 16}" '
        f'y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:.0f} s</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, row in enumerate(rows):
        x0 = left + i * step + step * 0.16
        for j, (value, color) in enumerate(
            ((row.predicted_asa, "#1f4e79"), (row.measured_asa, "#9dc3e6"))
        ):
            h = plot_h * value / peak
            x = x0 + j * bar
            y = top + plot_h - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}"/>'
            )
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" '
                f'text-anchor="middle">{value:.0f}</text>'
            )
        out.append(
            f'<text x="{x0 + bar:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{row.agents} agents</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
        "average speed of answer (seconds) by staffing</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"

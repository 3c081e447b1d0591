"""A line chart of RSS per process over time, as a small self-contained SVG (no plotting
library, no network)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 30, 40
COLOURS = ["#1b6ca8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c", "#8d6a9f", "#444"]


def rss_svg(rows: list[dict], *, title: str) -> str:
    names = sorted({r["process"] for r in rows})
    t_max = max((r["t"] for r in rows), default=1) or 1
    y_max = max((r["rss_mib"] for r in rows), default=1) * 1.1 or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + t / t_max * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="18" font-size="13">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#999"/>',
    ]
    for i in range(5):
        v = y_max * i / 4
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>'
            f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + plot_w}" y2="{y(v):.1f}" stroke="#eee"/>'
        )
        t = t_max * i / 4
        parts.append(
            f'<text x="{x(t):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{t:.0f}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">seconds</text>'
        f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" '
        'text-anchor="middle">RSS (MiB)</text>'
    )
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(
            f"{x(r['t']):.1f},{y(r['rss_mib']):.1f}" for r in rows if r["process"] == name
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
        ly = TOP + 14 * i + 6
        parts.append(
            f'<line x1="{LEFT + plot_w + 12}" y1="{ly}" x2="{LEFT + plot_w + 30}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{LEFT + plot_w + 34}" y="{ly + 4}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

"""Server-rendered SVG charts: no JavaScript library, no CDN, readable without scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 160
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 22, 10


def bar_chart(
    points: Sequence[tuple[date | str, float | None]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
) -> SafeString:
    """Vertical bars, one per point; a missing value is drawn as a gap, never as zero."""
    if not points:
        return mark_safe("")
    values = [v for _, v in points if v is not None]
    top = max_value or (max(values) if values else 0) or 1
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / len(points)
    bar_w = max(1.0, step * 0.8)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 4}" '
        f'y2="{PAD_TOP + plot_h}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" class="tick">'
        f"{escape(_num(top, unit))}</text>",
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        h = plot_h * min(value, top) / top
        x = PAD_LEFT + i * step + (step - bar_w) / 2
        y = PAD_TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(str(label))}: {escape(_num(value, unit))}</title></rect>"
        )
    first, last = str(points[0][0]), str(points[-1][0])
    parts.append(
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}" class="tick">{escape(first)}</text>'
        f'<text x="{WIDTH - 4}" y="{HEIGHT - 6}" text-anchor="end" class="tick">'
        f"{escape(last)}</text></svg>"
    )
    # Every dynamic piece above went through html.escape.
    return mark_safe("".join(parts))  # noqa: S308


def _num(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:.0f} %"
    return f"{value:,.0f}"

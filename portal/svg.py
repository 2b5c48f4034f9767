"""The quality-over-time chart as inline SVG, drawn on the server (no script, no download):
a line of the quality score of each publish, with its axis labels and a text alternative
(`<title>`/`<desc>` and a table next to it on the page) for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape


def quality_chart(points: Sequence[tuple[datetime, float]], title: str, desc: str,
                  width: int = 480, height: int = 180) -> Markup:
    """`points` = (published at, score 0-100), oldest first. The y axis spans from a round
    floor under the lowest score to 100, so a dip of a tenth of a point stays visible."""
    left, right, top, bottom = 60, 12, 12, 28
    w, h = width - left - right, height - top - bottom
    if not points:
        return Markup("")
    low = min(s for _, s in points)
    floor = 0.0 if low < 50 else float(int(low) // 5 * 5 - (5 if low % 5 == 0 and low > 0 else 0))
    floor = min(floor, 95.0)
    span = 100.0 - floor

    def x(i: int) -> float:
        return left + (w * i / (len(points) - 1) if len(points) > 1 else w / 2)

    def y(score: float) -> float:
        return top + h * (1 - (score - floor) / span)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'class="chart" role="img" aria-label="{escape(title)}. {escape(desc)}">',
             f'<title>{escape(title)}</title><desc>{escape(desc)}</desc>']
    for tick in (floor, floor + span / 2, 100.0):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end" class="axis">{tick:g}%</text>')
    coords = " ".join(f"{x(i):.1f},{y(s):.1f}" for i, (_, s) in enumerate(points))
    if len(points) > 1:
        parts.append(f'<polyline points="{coords}" class="line" fill="none"/>')
    for i, (at, s) in enumerate(points):
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(s):.1f}" r="4" class="dot">'
                     f'<title>{escape(at.strftime("%Y-%m-%d %H:%M"))}: {s:.2f}%</title></circle>')
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{left}" y="{height - 8}" class="axis">'
                 f'{escape(first.strftime("%Y-%m-%d"))}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{left + w}" y="{height - 8}" text-anchor="end" class="axis">'
                     f'{escape(last.strftime("%Y-%m-%d"))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

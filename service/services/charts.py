"""Small inline SVG charts drawn on the server (learning curves, importance bars) for self-contained pages.

Every label is escaped; the SVG needs no script, font or stylesheet from anywhere (the page's own CSS
colours nothing here: colours are attributes), so a saved page shows the same charts offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    """One line: its name, one value per round (``None`` = no value that round), colour and dash."""

    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]
    dashed: bool = False


def number(value: float | None, digits: int = 4) -> str:
    """A short human form of a number: 4 significant digits, ``—`` for none."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(1, n - 1)
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    start = math.ceil(low / step) * step
    ticks: list[float] = []
    t = start
    while t <= high + step * 1e-9 and len(ticks) < 3 * n:
        ticks.append(round(t, 12))
        t += step
    return ticks


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    x_label: str = "round",
    marker_x: int | None = None,
    marker_label: str = "kept",
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Lines over rounds 1..n (a single round draws dots), an optional vertical marker at round ``marker_x``
    (0-based), y axis with round ticks, and a legend. Empty series give a chart saying so."""
    left, right, top, bottom = 64, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [float(v) for s in series for v in s.values if v is not None and math.isfinite(float(v))]
    n = max((len(s.values) for s in series), default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    if not finite or n == 0:
        parts.append(f'<text x="{left}" y="{top + plot_h / 2:.1f}" {_FONT} fill="#666">no values recorded</text></svg>')
        return Markup("".join(parts))
    low, high = min(finite), max(finite)
    if high == low:
        pad = abs(high) * 0.05 or 1.0
        low, high = low - pad, high + pad
    else:
        pad = (high - low) * 0.05
        low, high = low - pad, high + pad

    def x_of(i: int) -> float:  # 0-based round → pixels
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc" stroke-width="1"/>'
    )
    for t in _ticks(low, high):
        y = y_of(t)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" {_FONT} text-anchor="end">{escape(number(t, 3))}</text>')
    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):
        parts.append(f'<text x="{x_of(i):.1f}" y="{top + plot_h + 14}" {_FONT} text-anchor="middle">{i + 1}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" {_FONT} text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" {_FONT} text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    if marker_x is not None and 0 <= marker_x < n and n > 1:
        x = x_of(marker_x)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#888" stroke-dasharray="2 3"/>'
        )
        parts.append(f'<text x="{x + 3:.1f}" y="{top + 10}" {_FONT} fill="#555">{escape(marker_label)}</text>')
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        path: list[str] = []
        pen_up = True
        for i, v in enumerate(s.values):
            if v is None or not math.isfinite(float(v)):
                pen_up = True
                continue
            path.append(f"{'M' if pen_up else 'L'}{x_of(i):.1f} {y_of(float(v)):.1f}")
            pen_up = False
        if len(path) > 1:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}/>')
        for i, v in enumerate(s.values):
            if len(s.values) <= 3 and v is not None and math.isfinite(float(v)):
                parts.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(float(v)):.1f}" r="3.5" fill="{s.color}"/>')
    lx = left + plot_w - 150
    for k, s in enumerate(series):
        y = top + 12 + 14 * k
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{s.color}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{lx + 24}" y="{y}" {_FONT}>{escape(s.name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    items: Sequence[tuple[str, float, float | None]],
    *,
    title: str,
    value_label: str,
    width: int = 640,
    color: str = PALETTE[0],
) -> Markup:
    """Horizontal bars, largest first as given: ``(label, value, sd or None)``; negative values draw no bar
    (their number still shows), an ``sd`` draws a whisker."""
    label_w, right, top, row = 190, 70, 28, 20
    plot_w = width - label_w - right
    height = top + row * max(1, len(items)) + 28
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    top_value = max((max(v + (sd or 0.0), v) for _, v, sd in items if math.isfinite(v)), default=0.0)
    scale = plot_w / top_value if top_value > 0 else 0.0
    for k, (label, value, sd) in enumerate(items):
        y = top + row * k
        short = label if len(label) <= 30 else label[:28] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" {_FONT} text-anchor="end"><title>{escape(label)}</title>'
            f"{escape(short)}</text>"
        )
        length = max(0.0, value) * scale if math.isfinite(value) else 0.0
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" fill="{color}"/>')
        if sd is not None and scale and math.isfinite(sd) and sd > 0:
            x1, x2 = label_w + max(0.0, value - sd) * scale, label_w + (value + sd) * scale
            parts.append(
                f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y + row / 2:.1f}" y2="{y + row / 2:.1f}" stroke="#333"/>'
            )
        end = length
        if sd is not None and scale and math.isfinite(sd) and sd > 0:
            end = max(length, (value + sd) * scale)
        parts.append(f'<text x="{label_w + end + 4:.1f}" y="{y + 13}" {_FONT}>{escape(number(value, 3))}</text>')
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 8}" {_FONT} text-anchor="middle">'
        f"{escape(value_label)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))

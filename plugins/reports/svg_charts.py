"""The report charts as inline SVG: the chart frame and its axes, the equity curve, the drawdown
(underwater) curve, several equity curves overlaid, and the heatmap of a sweep's objective."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tektii_plugins.reports.chart_maths import downsample_minmax, nice_ticks, tick_decimals, time_ticks
from tektii_plugins.reports.formatting import escape, fixed, fmt_time, plain
from tektii_plugins.reports.scenario_results import Curve

# Colours are part of the contract with tests/plugins/reports (the Chromium test looks for the
# equity and drawdown line colours in the screenshot): keep them distinct from each other.
EQUITY_COLOUR = "#1d4ed8"
DRAWDOWN_COLOUR = "#dc2626"
# The overlay's line colours, in order (the sweep report's Chromium test looks for the first two).
OVERLAY_COLOURS = ("#1d4ed8", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
# The heatmap runs from HEAT_WORST to HEAT_BEST (better objective: darker green), missing cells grey.
HEAT_WORST, HEAT_BEST, HEAT_MISSING = "#fef3c7", "#047857", "#e5e7eb"
MAX_HEAT_COLUMNS = 12  # more distinct values than this (continuous parameters) are binned


class _Frame(NamedTuple):
    """A chart's drawing area in SVG user units, and the data ranges mapped onto it."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    t0: float
    t1: float
    y0: float  # bottom of the plot
    y1: float  # top of the plot

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    def x(self, t: float) -> float:
        return self.left + (t - self.t0) / (self.t1 - self.t0) * self.plot_width

    def y(self, v: float) -> float:
        return self.top + (self.y1 - v) / (self.y1 - self.y0) * self.plot_height


def _points(frame: _Frame, points: Sequence[tuple[float, float]]) -> list[str]:
    """SVG coordinates "x,y" at 0.1 unit, consecutive duplicates dropped (the SVG stays small)."""
    out: list[str] = []
    last = ""
    for t, v in points:
        text = f"{frame.x(t):.1f},{frame.y(v):.1f}".replace(".0,", ",")
        if text.endswith(".0"):
            text = text[:-2]
        if text != last:
            out.append(text)
            last = text
    return out


def _axes(frame: _Frame, y_ticks: Sequence[float], y_label: Any) -> list[str]:
    """Grid lines, y labels (via `y_label(value)`) and calendar x labels."""
    parts = ['<g class="grid">']
    for v in y_ticks:
        y = f"{frame.y(v):.1f}"
        parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}"/>')
    parts.append('</g><g class="ylab">')
    for v in y_ticks:
        parts.append(f'<text x="{frame.left - 8}" y="{frame.y(v) + 4:.1f}">{escape(y_label(v))}</text>')
    parts.append('</g><g class="grid">')
    ticks = time_ticks(frame.t0, frame.t1, max(2, frame.plot_width // 110))
    for t, _, _ in ticks:
        x = f"{frame.x(t):.1f}"
        parts.append(f'<line x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.height - frame.bottom}"/>')
    parts.append('</g><g class="xlab">')
    base = frame.height - frame.bottom
    for t, label, context in ticks:
        x = f"{frame.x(t):.1f}"
        parts.append(f'<text x="{x}" y="{base + 17}">{escape(label)}</text>')
        if context:
            parts.append(f'<text class="ctx" x="{x}" y="{base + 32}">{escape(context)}</text>')
    parts.append("</g>")
    parts.append(
        f'<rect class="frame" x="{frame.left}" y="{frame.top}" width="{frame.plot_width}" height="{frame.plot_height}"/>'
    )
    return parts


def _time_range(curve: Curve) -> tuple[float, float]:
    t0, t1 = curve.times[0], curve.times[-1]
    return (t0, t1) if t1 > t0 else (t0 - 30, t0 + 30)  # one point still gets a window


def equity_svg(curve: Curve, capital: float, *, width: int = 1000, height: int = 320) -> str:
    """The equity curve with a dashed reference line at the initial capital."""
    t0, t1 = _time_range(curve)
    low, high = min(min(curve.equity), capital), max(max(curve.equity), capital)
    margin = (high - low) * 0.03  # the curve never grazes the frame
    ticks = nice_ticks(low - margin, high + margin, 6)
    frame = _Frame(width, height, 84, 18, 14, 42, t0, t1, ticks[0], ticks[-1])
    decimals = tick_decimals(ticks)
    points = _points(frame, downsample_minmax(curve.times, curve.equity, frame.plot_width))
    bottom = frame.height - frame.bottom
    first_x, last_x = points[0].split(",")[0], points[-1].split(",")[0]
    ref_y = f"{frame.y(capital):.1f}"
    parts = [
        f'<svg class="chart" id="equity-chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="equity-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="equity-title">Equity curve</title>',
        '<defs><linearGradient id="equity-fill" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{EQUITY_COLOUR}" stop-opacity="0.16"/>'
        f'<stop offset="1" stop-color="{EQUITY_COLOUR}" stop-opacity="0.01"/></linearGradient></defs>',
        *_axes(frame, ticks, lambda v: fixed(v, decimals)),
        f'<path class="area" fill="url(#equity-fill)" d="M{first_x},{bottom}L{"L".join(points)}L{last_x},{bottom}Z"/>',
        f'<line class="capital" x1="{frame.left}" x2="{width - frame.right}" y1="{ref_y}" y2="{ref_y}"/>',
        f'<text class="capital-label" x="{width - frame.right - 6}" y="{float(ref_y) - 6:.1f}">'
        f"Initial capital {escape(fixed(capital, 2))}</text>",
        f'<polyline class="equity-line" fill="none" stroke="{EQUITY_COLOUR}" points="{" ".join(points)}"/>',
        "</svg>",
    ]
    return "".join(parts)


def drawdown_svg(curve: Curve, *, width: int = 1000, height: int = 220) -> str:
    """The underwater chart: drawdown as 0 down to -max percent, filled to the zero line."""
    t0, t1 = _time_range(curve)
    worst = max(curve.drawdown)
    # a drawdown of float noise only is no drawdown: keep a readable 0..-1 % axis
    ticks = [t for t in nice_ticks(-worst * 1.04, 0.0, 5) if t <= 0] if worst > 1e-9 else [-1.0, -0.5, 0.0]
    frame = _Frame(width, height, 84, 18, 14, 42, t0, t1, ticks[0], 0.0)
    decimals = tick_decimals(ticks)
    under = [-d for d in curve.drawdown]
    points = _points(frame, downsample_minmax(curve.times, under, frame.plot_width))
    zero = f"{frame.y(0.0):.1f}"
    first_x, last_x = points[0].split(",")[0], points[-1].split(",")[0]
    parts = [
        f'<svg class="chart" id="drawdown-chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="drawdown-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="drawdown-title">Drawdown (underwater) curve</title>',
        *_axes(frame, ticks, lambda v: fixed(v, decimals) + "%"),
        f'<path class="area" fill="{DRAWDOWN_COLOUR}" fill-opacity="0.16" '
        f'd="M{first_x},{zero}L{"L".join(points)}L{last_x},{zero}Z"/>',
        f'<polyline class="drawdown-line" fill="none" stroke="{DRAWDOWN_COLOUR}" points="{" ".join(points)}"/>',
    ]
    if worst > 1e-9:
        i = curve.drawdown.index(worst)
        x, y = frame.x(curve.times[i]), frame.y(-worst)
        anchor = "end" if x > frame.left + frame.plot_width * 0.75 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(f'<circle class="trough" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>')
        parts.append(
            f'<text class="trough-label" x="{x + dx:.1f}" y="{max(y - 8, frame.top + 12):.1f}" '
            f'text-anchor="{anchor}">Max {escape(fixed(-worst, 2))}% · {escape(fmt_time(curve.times[i]))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def overlay_svg(curves: Sequence[tuple[str, Curve]], *, width: int = 1000, height: int = 340) -> str:
    """Several equity curves on one time axis, each in its OVERLAY_COLOURS colour, with a legend."""
    drawn = [(label, c) for label, c in curves if c.times]
    if not drawn:
        return '<p class="empty">No equity data was recorded.</p>'
    t0, t1 = min(c.times[0] for _, c in drawn), max(c.times[-1] for _, c in drawn)
    if t1 <= t0:
        t0, t1 = t0 - 30, t0 + 30
    low, high = min(min(c.equity) for _, c in drawn), max(max(c.equity) for _, c in drawn)
    margin = (high - low) * 0.03 or abs(high) * 0.01 or 1.0
    ticks = nice_ticks(low - margin, high + margin, 6)
    frame = _Frame(width, height, 84, 18, 14, 42, t0, t1, ticks[0], ticks[-1])
    decimals = tick_decimals(ticks)
    parts = [
        f'<svg class="chart" id="overlay-chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="overlay-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="overlay-title">Equity curves overlaid</title>',
        *_axes(frame, ticks, lambda v: fixed(v, decimals)),
    ]
    legend = []
    for i, (label, curve) in enumerate(drawn):
        colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
        points = _points(frame, downsample_minmax(curve.times, curve.equity, frame.plot_width))
        parts.append(f'<polyline class="overlay-line" data-series="{i}" fill="none" stroke="{colour}" '
                     f'points="{" ".join(points)}"/>')
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{escape(label)}</li>')
    parts.append("</svg>")
    return "".join(parts) + f'<ul class="legend">{"".join(legend)}</ul>'


def _numeric(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _axis(values: Sequence[str]) -> tuple[list[str], Any]:
    """The labels of one heatmap axis and a function from a trial's value to its label."""
    distinct = sorted(set(values), key=lambda v: (float(v), v) if _numeric([v]) else (math.inf, v))
    numbers = _numeric(distinct)
    if numbers is None or len(distinct) <= MAX_HEAT_COLUMNS:
        return distinct, lambda v: v
    low, high = min(numbers), max(numbers)
    width = (high - low) / 10 or 1.0
    edges = [low + k * width for k in range(11)]
    labels = [f"{plain(edges[k])}–{plain(edges[k + 1])}" for k in range(10)]
    return labels, lambda v: labels[min(int((float(v) - low) / width), 9)]


def _mix(a: str, b: str, t: float) -> str:
    ra, ga, ba = (int(a[i:i + 2], 16) for i in (1, 3, 5))
    rb, gb, bb = (int(b[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in ((ra, rb), (ga, gb), (ba, bb)))


def heatmap_svg(trials: Sequence[Mapping[str, Any]], x: str, y: str | None, direction: str, objective: str, *,
                width: int = 1000) -> str:
    """The objective over two parameters: one cell per (x, y) value pair holding the best trial
    there (over the other parameters), coloured from worst (amber) to best (green)."""
    scored = [t for t in trials if isinstance(t.get("objective"), (int, float))]
    if not scored:
        return '<p class="empty">No trial has a value of the objective yet.</p>'
    xs, x_of = _axis([str(t["parameters"][x]) for t in scored])
    ys, y_of = _axis([str(t["parameters"][y]) for t in scored]) if y else ([""], lambda v: "")
    better = max if direction == "maximize" else min
    cells: dict[tuple[str, str], float] = {}
    for t in scored:
        key = (x_of(str(t["parameters"][x])), y_of(str(t["parameters"][y])) if y else "")
        cells[key] = better(cells[key], t["objective"]) if key in cells else t["objective"]
    low, high = min(cells.values()), max(cells.values())
    left, top, bottom = 110, 16, 56
    cell_w = (width - left - 20) / len(xs)
    cell_h = 44
    height = top + cell_h * len(ys) + bottom
    parts = [f'<svg class="chart" id="heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" aria-labelledby="heatmap-title" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="heatmap-title">{escape(objective)} over {escape(x)}{" and " + escape(y) if y else ""}</title>']
    for row, yv in enumerate(reversed(ys)):  # larger y values on top
        cy = top + row * cell_h
        parts.append(f'<text class="ylab" x="{left - 8}" y="{cy + cell_h / 2 + 4:.1f}" text-anchor="end">{escape(yv)}</text>')
        for col, xv in enumerate(xs):
            value = cells.get((xv, yv))
            if value is None:
                colour, text = HEAT_MISSING, "—"
            else:
                share = (value - low) / (high - low) if high > low else 1.0
                colour = _mix(HEAT_WORST, HEAT_BEST, share if direction == "maximize" else 1.0 - share)
                text = fixed(value, 2)
            dark = value is not None and (share if direction == "maximize" else 1.0 - share) > 0.55
            cx = left + col * cell_w
            parts.append(f'<rect class="cell" x="{cx:.1f}" y="{cy}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" '
                         f'fill="{colour}" data-x="{escape(xv)}" data-y="{escape(yv)}" '
                         f'data-value="{"" if value is None else value}"/>')
            parts.append(f'<text class="cell-label" x="{cx + cell_w / 2:.1f}" y="{cy + cell_h / 2 + 4:.1f}" '
                         f'fill="{"#ffffff" if dark else "#1f2328"}">{escape(text)}</text>')
    base = top + cell_h * len(ys)
    for col, xv in enumerate(xs):
        parts.append(f'<text class="xlab" x="{left + col * cell_w + cell_w / 2:.1f}" y="{base + 16}" '
                     f'text-anchor="middle">{escape(xv)}</text>')
    parts.append(f'<text class="axis-title" x="{left + (width - left) / 2:.1f}" y="{base + 40}">{escape(x)}</text>')
    if y:
        parts.append(f'<text class="axis-title" x="14" y="{top + cell_h * len(ys) / 2:.1f}" '
                     f'transform="rotate(-90 14 {top + cell_h * len(ys) / 2:.1f})">{escape(y)}</text>')
    parts.append("</svg>")
    return "".join(parts)


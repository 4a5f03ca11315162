"""The maths behind the report charts: round axis ticks, calendar time ticks and the per-pixel
downsampling that keeps long curves small. Pure functions, stdlib only."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import UTC, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round axis ticks (1, 2 or 5 times a power of ten apart) covering [lo, hi].

    Heckbert's "nice numbers": the first tick is <= lo, the last >= hi, about `target` ticks.
    A range narrower than a billionth of its values (or 1e-12) is drawn as a flat line.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"axis bounds must be finite, got {lo!r}, {hi!r}")
    lo, hi = min(lo, hi), max(lo, hi)
    scale = max(abs(lo), abs(hi))
    if hi - lo <= max(scale * 1e-9, 1e-12):  # flat, or flat up to float noise: an axis around it
        middle = (lo + hi) / 2
        pad = scale * 0.01 if scale * 0.01 >= 1e-9 else 1.0
        lo, hi = middle - pad, middle + pad
    span = _nice_number(hi - lo, rounding=False)
    step = _nice_number(span / max(target - 1, 1), rounding=True)
    digits = max(0, -math.floor(math.log10(step))) + 1  # drop float noise such as 0.30000000000000004
    ticks = [round(i * step, digits) for i in range(math.floor(lo / step), math.ceil(hi / step) + 1)]
    # lo / step can round (or underflow) across a tick: settle the ends on the rounded values
    while ticks[0] > lo:
        ticks.insert(0, round(ticks[0] - step, digits))
    while ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, digits))
    while len(ticks) > 2 and ticks[1] <= lo:
        ticks.pop(0)
    while len(ticks) > 2 and ticks[-2] >= hi:
        ticks.pop()
    return ticks


def _nice_number(x: float, *, rounding: bool) -> float:
    exponent = math.floor(math.log10(x))
    fraction = x / 10**exponent
    if rounding:
        nice = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    else:
        nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return nice * 10.0**exponent


def tick_decimals(ticks: Sequence[float]) -> int:
    """Decimals that tell neighbouring ticks apart (0 for steps of 1 or more)."""
    if len(ticks) < 2:
        return 0
    step = abs(ticks[1] - ticks[0])
    return max(0, -math.floor(math.log10(step))) if step > 0 else 0


def downsample_minmax(xs: Sequence[float], ys: Sequence[float], buckets: int) -> list[tuple[float, float]]:
    """Reduce a curve to at most 4 points per x bucket: the first, lowest, highest and last.

    `xs` must be non-decreasing. Drawn `buckets` pixels wide, the result is pixel-identical
    to the full curve (the "M4" method): every spike and trough keeps its extreme value.
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"xs and ys differ in length ({n} != {len(ys)})")
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if n <= 4 * buckets:
        return list(zip(xs, ys))
    x0, width = xs[0], (xs[-1] - xs[0]) / buckets
    out: list[tuple[float, float]] = []
    start = 0
    for b in range(buckets):
        # bucket b holds x in [x0 + b*width, x0 + (b+1)*width); the last one takes the rest
        end = n if b == buckets - 1 else bisect.bisect_left(xs, x0 + (b + 1) * width, start)
        if end <= start:
            continue
        segment = ys[start:end]
        low = start + segment.index(min(segment))
        high = start + segment.index(max(segment))
        for i in sorted({start, low, high, end - 1}):
            out.append((xs[i], ys[i]))
        start = end
    return out


# (seconds, label kind) of the steps a time axis may use, finest first
_FIXED_STEPS = (
    (1, "s"), (2, "s"), (5, "s"), (10, "s"), (15, "s"), (30, "s"),
    (60, "m"), (120, "m"), (300, "m"), (600, "m"), (900, "m"), (1800, "m"),
    (3600, "m"), (7200, "m"), (10800, "m"), (21600, "m"), (43200, "m"),
    (86400, "d"), (2 * 86400, "d"), (7 * 86400, "w"), (14 * 86400, "w"),
)  # fmt: skip
_MONTH_STEPS = (1, 2, 3, 6)
_MONDAY = 4 * 86400  # 1970-01-01 was a Thursday: weekly ticks fall on Mondays


def time_ticks(t0: float, t1: float, max_ticks: int = 8) -> list[tuple[float, str, str]]:
    """Calendar-aligned ticks for epoch seconds [t0, t1] (UTC): (time, label, context).

    The step is the finest of 1s..2w, 1/2/3/6 months or 1/2/5/10.. years that gives at most
    `max_ticks` ticks (months vary in length: a month step may give one more). `context` is
    the coarser unit (date under a clock time, year under a day or month) on the first tick
    and wherever it changes; otherwise "".
    """
    if t1 < t0:
        t0, t1 = t1, t0
    span = t1 - t0
    for step, kind in _FIXED_STEPS:
        if span // step + 1 <= max_ticks:
            offset = _MONDAY if kind == "w" else 0
            first = offset + math.ceil((t0 - offset) / step) * step
            times = [float(t) for t in range(int(first), int(t1) + 1, step)]
            return _label(times, kind)
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * 86400) + 1 <= max_ticks:
            return _label(_month_starts(t0, t1, months), "mo")
    years = 1
    while span / (years * 365.25 * 86400) + 1 > max_ticks:
        years = years * 5 // 2 if str(years).startswith("2") else years * 2  # 1, 2, 5, 10, 20, 50...
    return _label(_month_starts(t0, t1, 12 * years), "y")


def _month_starts(t0: float, t1: float, months: int) -> list[float]:
    start = datetime.fromtimestamp(t0, UTC)
    index = start.year * 12 + start.month - 1  # months since year 0
    if (start.day, start.hour, start.minute, start.second, start.microsecond) != (1, 0, 0, 0, 0):
        index += 1
    index = math.ceil(index / months) * months  # align: quarters start in Jan/Apr/Jul/Oct
    out: list[float] = []
    while index // 12 <= 9999:  # datetime's last year
        t = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()
        if t > t1:
            break
        out.append(t)
        index += months
    return out


def _label(times: list[float], kind: str) -> list[tuple[float, str, str]]:
    out = []
    previous: datetime | None = None
    for t in times:
        d = datetime.fromtimestamp(t, UTC)
        if kind in ("s", "m"):
            label = f"{d:%H:%M:%S}" if kind == "s" else f"{d:%H:%M}"
            changed = previous is None or previous.date() != d.date()
            context = f"{d.day:02d} {_MONTHS[d.month - 1]}" if changed else ""
        elif kind in ("d", "w"):
            label = f"{d.day:02d} {_MONTHS[d.month - 1]}"
            context = str(d.year) if previous is None or previous.year != d.year else ""
        elif kind == "mo":
            label = _MONTHS[d.month - 1]
            context = str(d.year) if previous is None or previous.year != d.year else ""
        else:
            label, context = str(d.year), ""
        out.append((t, label, context))
        previous = d
    return out

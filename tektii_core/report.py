"""The self-contained HTML report of one backtest scenario (`tektii scenario report`).

`render_report` returns ONE page: inline CSS and inline SVG charts drawn here, no script,
no external resource (a Content-Security-Policy forbids loading any), so the file opens
offline, survives being mailed around and prints. Every string from the results is escaped.

Stdlib only and cheap to import: the CLI imports this module only for `scenario report`.
Long equity curves are reduced per pixel column (first/min/max/last, "M4"), so a year of
one-minute points draws in a few kilobytes of SVG with every spike still visible.
"""

from __future__ import annotations

import bisect
import html
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tektii_core.errors import TektiiError

# Colours are part of the contract with tests/report (the Chromium test looks for the
# equity and drawdown line colours in the screenshot): keep them distinct from each other.
EQUITY_COLOUR = "#1d4ed8"
DRAWDOWN_COLOUR = "#dc2626"
GAIN_COLOUR = "#15803d"
LOSS_COLOUR = "#b91c1c"
DEFAULT_CAPITAL = 100_000.0
DEFAULT_MAX_TRADES = 5_000  # rows in the table; the full log is `scenario results --type trades`
NOT_ENOUGH_DATA = "not enough data"

# (field, label, kind, description) of the metrics, headline cards first (docs/metrics.md).
HEADLINE = (
    ("totalReturn", "Total return", "signed_pct", "Change of equity over the window, in percent"),
    ("sharpeRatio", "Sharpe ratio", "ratio", "Annualised mean over standard deviation of daily returns"),
    ("maxDrawdownPct", "Max drawdown", "pct", "Largest fall from a running equity peak, in percent"),
    ("totalTrades", "Trades", "int", "Closed round trips"),
    ("winRatePct", "Win rate", "pct", "Share of closed trades with a positive P&L"),
)
DETAIL = (
    ("sortinoRatio", "Sortino ratio", "ratio", "Like Sharpe, over the downside deviation only"),
    ("cagrPct", "CAGR", "signed_pct", "Compound annual growth rate"),
    ("volatilityPct", "Volatility", "pct", "Annualised standard deviation of daily returns"),
    ("profitFactor", "Profit factor", "ratio", "Gross profit over gross loss of closed trades"),
    ("averageWin", "Average win", "money", "Mean P&L of winning trades"),
    ("averageLoss", "Average loss", "money", "Mean P&L of losing trades"),
    ("exposureTimePct", "Exposure time", "pct", "Share of the window with an open position"),
    ("totalFees", "Total fees", "money", "Commissions paid"),
    ("longestDrawdownDays", "Longest drawdown", "days", "Longest time below a previous equity peak"),
    ("startEquity", "Start equity", "money", "Initial capital"),
    ("endEquity", "End equity", "money", "Equity at the end of the window"),
)
STATE_CLASS = {"COMPLETE": "ok", "FAILED": "bad", "CANCELLED": "off", "RUNNING": "busy", "PENDING": "busy"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MINUS = "\u2212"  # a real minus sign: same width as "+" in tabular figures


def render_report(
    metadata: Mapping[str, Any],
    timeseries: Sequence[Mapping[str, Any]],
    trades: Sequence[Mapping[str, Any]],
    *,
    max_trades: int = DEFAULT_MAX_TRADES,
    generated_at: datetime | None = None,
) -> str:
    """The HTML page for one scenario, from the platform's three result types.

    ``metadata``: the scenario object (ids, state, ``config``, timestamps, flattened metrics).
    ``timeseries``: rows ``{"time", "equity", "cash", "drawdownPct"}``; ``drawdownPct`` is
    recomputed from the equity when a row lacks it.
    ``trades``: rows ``{"symbol", "side", "quantity", "entryTime", "exitTime", "entryPrice",
    "exitPrice", "pnl", "fees"}``, any of them may be missing; extra fields are ignored.

    Raises TektiiError listing every malformed field at once when the results cannot be read.
    """
    problems: list[str] = []
    meta = _read_metadata(metadata, problems)
    capital = _initial_capital(meta, problems)
    curve = _read_curve(timeseries, capital, problems)
    rows = _read_trades(trades, problems)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise TektiiError(
            f"cannot render the report: {len(problems)} malformed field(s) in the scenario results:\n{listed}",
            hint="Check the raw results with `tektii scenario results STRATEGY_ID SCENARIO_ID --type ...`",
        )
    generated = generated_at or datetime.now(UTC)
    return _page(meta, capital, curve, rows, max_trades, generated)


# ---------------------------------------------------------------- chart maths


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


# ---------------------------------------------------------------- reading the results


class _Curve(NamedTuple):
    times: list[float]  # epoch seconds, non-decreasing
    equity: list[float]
    drawdown: list[float]  # percent below the running peak, >= 0


class _Trade(NamedTuple):
    symbol: str
    side: str
    quantity: float | None
    entry_time: float | None
    exit_time: float | None
    entry_price: float | None
    exit_price: float | None
    pnl: float | None
    fees: float | None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, path: str, problems: list[str], *, required: bool = False) -> float | None:
    """A finite number, or None when absent; a wrong value is reported under `path`."""
    if value is None:
        if required:
            problems.append(f"{path}: missing")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        problems.append(f"{path}: not a finite number: {_show(value)}")
        return None
    problems.append(f"{path}: expected a number, got {_show(value)}")
    return None


def parse_time(value: Any) -> float:
    """Epoch seconds of an RFC 3339 string (a missing offset means UTC) or of a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        datetime.fromtimestamp(value, UTC)  # raises for NaN and for times no calendar can show
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    moment = datetime.fromisoformat(value)  # 3.11 reads "Z" and fractional seconds
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _aware(value: Any) -> datetime | None:
    """The datetime of an RFC 3339 string with an offset, else None (caller checks fully)."""
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
    return None


def _time(value: Any, path: str, problems: list[str], *, required: bool = False) -> float | None:
    if value is None:
        if required:
            problems.append(f"{path}: missing")
        return None
    try:
        return parse_time(value)
    except (ValueError, TypeError, OverflowError, OSError):
        problems.append(f"{path}: not an RFC 3339 timestamp: {_show(value)}")
        return None


def _read_metadata(metadata: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        problems.append(f"metadata: expected an object, got {_show(metadata)}")
        return {}
    meta = dict(metadata)
    config = meta.get("config")
    if config is None:
        meta["config"] = {}
    elif not isinstance(config, Mapping):
        problems.append(f"metadata.config: expected an object, got {_show(config)}")
        meta["config"] = {}
    for field, *_ in HEADLINE + DETAIL:
        meta[field] = _number(meta.get(field), f"metadata.{field}", problems)
    return meta


def _initial_capital(meta: Mapping[str, Any], problems: list[str]) -> float:
    value = _number(meta.get("config", {}).get("initialCapital"), "metadata.config.initialCapital", problems)
    if value is not None and value <= 0:
        problems.append(f"metadata.config.initialCapital: must be positive, got {_show(value)}")
        value = None
    return value or meta.get("startEquity") or DEFAULT_CAPITAL


def _read_curve(rows: Any, capital: float, problems: list[str]) -> _Curve:
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        problems.append(f"timeseries: expected a list of rows, got {_show(rows)}")
        return _Curve([], [], [])
    times: list[float] = []
    equity: list[float] = []
    drawdown: list[float] = []
    given = True  # every row carries drawdownPct
    for i, row in enumerate(rows):
        if type(row) is not dict and not isinstance(row, Mapping):  # the ABC check is slow: dicts first
            problems.append(f"timeseries[{i}]: expected an object, got {_show(row)}")
            continue
        t, e, d = row.get("time"), row.get("equity"), row.get("drawdownPct")
        # Fast path for the platform's own rows (a year of minutes is 525,600 of them):
        # an aware RFC 3339 string and finite floats; anything else takes the checked path.
        moment = _aware(t)
        t = moment.timestamp() if moment else _time(t, f"timeseries[{i}].time", problems, required=True)
        if type(e) is not float or e - e != 0:
            e = _number(e, f"timeseries[{i}].equity", problems, required=True)
        if d is not None and (type(d) is not float or d - d != 0):
            d = _number(d, f"timeseries[{i}].drawdownPct", problems)
        if d is not None and d < 0:
            problems.append(f"timeseries[{i}].drawdownPct: must be >= 0, got {_show(d)}")
        if t is None or e is None:
            continue
        times.append(t)
        equity.append(e)
        if d is None:
            given = False
        else:
            drawdown.append(d)
    if any(b < a for a, b in zip(times, times[1:])):  # tolerate unordered rows: draw them in time order
        order = sorted(range(len(times)), key=times.__getitem__)
        times = [times[i] for i in order]
        equity = [equity[i] for i in order]
        drawdown = [drawdown[i] for i in order] if given else []
    if not given or len(drawdown) != len(equity):
        drawdown = _drawdown_pct(equity, capital)
    return _Curve(times, equity, drawdown)


def _drawdown_pct(equity: Sequence[float], capital: float) -> list[float]:
    """As tektii_engine.metrics.drawdown_pct: the initial capital is the first peak."""
    peak = capital
    out = []
    for e in equity:
        peak = max(peak, e)
        out.append(min(max((peak - e) / peak * 100.0, 0.0), 100.0) if peak > 0 else 0.0)
    return out


def _read_trades(rows: Any, problems: list[str]) -> list[_Trade]:
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        problems.append(f"trades: expected a list of trades, got {_show(rows)}")
        return []
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(f"trades[{i}]: expected an object, got {_show(row)}")
            continue

        def num(field: str, i: int = i, row: Mapping[str, Any] = row) -> float | None:
            return _number(row.get(field), f"trades[{i}].{field}", problems)

        def when(field: str, i: int = i, row: Mapping[str, Any] = row) -> float | None:
            return _time(row.get(field), f"trades[{i}].{field}", problems)

        out.append(
            _Trade(
                symbol=str(row.get("symbol") or ""),
                side=str(row.get("side") or ""),
                quantity=num("quantity"),
                entry_time=when("entryTime"),
                exit_time=when("exitTime"),
                entry_price=num("entryPrice"),
                exit_price=num("exitPrice"),
                pnl=num("pnl"),
                fees=num("fees"),
            )
        )
    return out


# ---------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fixed(x: float, decimals: int, *, sign: bool = False) -> str:
    text = f"{abs(x):,.{decimals}f}"
    if x < 0 and float(text.replace(",", "")) != 0:
        return _MINUS + text
    return ("+" if sign and x > 0 and float(text.replace(",", "")) != 0 else "") + text


def _plain(x: float | None, *, min_decimals: int = 0) -> str:
    """Up to 8 decimals without trailing zeros (prices and quantities keep their precision)."""
    if x is None:
        return "—"
    text = f"{abs(x):,.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(min_decimals, "0")
    text = f"{whole}.{frac}" if frac else whole
    return (_MINUS if x < 0 and text.strip("0.,") else "") + text


def _price(x: float | None) -> str:
    """A price with the precision its size needs: 2 decimals for 42,000, 5 for a 1.08523 FX quote."""
    if x is None:
        return "—"
    size = abs(x)
    decimals = 2 if size >= 1000 else 4 if size >= 10 else 5 if size >= 1 else 8
    return _plain(round(x, decimals), min_decimals=2)


def _metric_text(value: float, kind: str) -> str:
    if kind == "signed_pct":
        return _fixed(value, 2, sign=True) + "%"
    if kind == "pct":
        return _fixed(value, 2) + "%"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "money":
        return _fixed(value, 2)
    if kind == "days":
        return _fixed(value, 1) + " days"
    return _fixed(value, 2)


def _fmt_time(t: float | None, *, seconds: bool | None = None) -> str:
    """UTC as 2024-01-15 10:30, with seconds when asked (by default: when they are not 0)."""
    if t is None:
        return "—"
    d = datetime.fromtimestamp(t, UTC)
    if seconds is None:
        seconds = d.second != 0
    return f"{d:%Y-%m-%d %H:%M:%S}" if seconds else f"{d:%Y-%m-%d %H:%M}"


def _fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _display_time(value: Any) -> str:
    """A timestamp from the metadata for display; shown as given when it is not RFC 3339."""
    if value in (None, ""):
        return "—"
    try:
        return _fmt_time(parse_time(value)) + " UTC"
    except (ValueError, TypeError, OverflowError, OSError):
        return str(value)


def _tone(x: float | None) -> str:
    return "pos" if x is not None and x > 0 else "neg" if x is not None and x < 0 else ""


# ---------------------------------------------------------------- SVG charts


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
        parts.append(f'<text x="{frame.left - 8}" y="{frame.y(v) + 4:.1f}">{_e(y_label(v))}</text>')
    parts.append('</g><g class="grid">')
    ticks = time_ticks(frame.t0, frame.t1, max(2, frame.plot_width // 110))
    for t, _, _ in ticks:
        x = f"{frame.x(t):.1f}"
        parts.append(f'<line x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.height - frame.bottom}"/>')
    parts.append('</g><g class="xlab">')
    base = frame.height - frame.bottom
    for t, label, context in ticks:
        x = f"{frame.x(t):.1f}"
        parts.append(f'<text x="{x}" y="{base + 17}">{_e(label)}</text>')
        if context:
            parts.append(f'<text class="ctx" x="{x}" y="{base + 32}">{_e(context)}</text>')
    parts.append("</g>")
    parts.append(
        f'<rect class="frame" x="{frame.left}" y="{frame.top}" width="{frame.plot_width}" height="{frame.plot_height}"/>'
    )
    return parts


def _time_range(curve: _Curve) -> tuple[float, float]:
    t0, t1 = curve.times[0], curve.times[-1]
    return (t0, t1) if t1 > t0 else (t0 - 30, t0 + 30)  # one point still gets a window


def equity_svg(curve: _Curve, capital: float, *, width: int = 1000, height: int = 320) -> str:
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
        *_axes(frame, ticks, lambda v: _fixed(v, decimals)),
        f'<path class="area" fill="url(#equity-fill)" d="M{first_x},{bottom}L{"L".join(points)}L{last_x},{bottom}Z"/>',
        f'<line class="capital" x1="{frame.left}" x2="{width - frame.right}" y1="{ref_y}" y2="{ref_y}"/>',
        f'<text class="capital-label" x="{width - frame.right - 6}" y="{float(ref_y) - 6:.1f}">'
        f"Initial capital {_e(_fixed(capital, 2))}</text>",
        f'<polyline class="equity-line" fill="none" stroke="{EQUITY_COLOUR}" points="{" ".join(points)}"/>',
        "</svg>",
    ]
    return "".join(parts)


def drawdown_svg(curve: _Curve, *, width: int = 1000, height: int = 220) -> str:
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
        *_axes(frame, ticks, lambda v: _fixed(v, decimals) + "%"),
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
            f'text-anchor="{anchor}">Max {_e(_fixed(-worst, 2))}% · {_e(_fmt_time(curve.times[i]))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- the page


def _header(meta: Mapping[str, Any], capital: float) -> str:
    config = meta.get("config") or {}
    strategy = meta.get("strategyName") or meta.get("strategyId") or "—"
    state = str(meta.get("state") or "UNKNOWN")
    subscriptions = config.get("subscriptions")
    instruments = []
    for sub in subscriptions if isinstance(subscriptions, list) else []:
        if isinstance(sub, Mapping):
            events = sub.get("events")
            events = events if isinstance(events, list) else []
            instruments.append(
                f'<span class="inst">{_e(sub.get("instrument", "?"))}</span>'
                + (f' <span class="muted">{_e(", ".join(map(str, events)))}</span>' if events else "")
            )
    window = "—"
    try:
        start, end = parse_time(config.get("startTime")), parse_time(config.get("endTime"))
        window = (
            f"{_e(_fmt_time(start))} → {_e(_fmt_time(end))} UTC"
            f' <span class="muted">({_e(_fmt_duration(end - start))}, end exclusive)</span>'
        )
    except (ValueError, TypeError, OverflowError, OSError):
        if config.get("startTime") or config.get("endTime"):
            window = f"{_e(config.get('startTime', '?'))} → {_e(config.get('endTime', '?'))}"
    version = meta.get("strategyVersionId") or config.get("strategyVersionId") or "—"
    named = meta.get("strategyName") and meta.get("strategyId")  # show the id beside the name
    facts = [
        ("Strategy", _e(strategy) + (f' <span class="muted">{_e(meta["strategyId"])}</span>' if named else "")),
        ("Version", _e(version)),
        ("Scenario", _e(meta.get("scenarioId") or "—")),
        ("State", f'<span class="state {STATE_CLASS.get(state, "off")}">{_e(state)}</span>'),
        ("Window", window),
        ("Instruments", "<br>".join(instruments) or "—"),
        ("Initial capital", _e(_fixed(capital, 2))),
        ("Position mode", _e(config.get("positionMode") or "netting")),
        ("Created", _e(_display_time(meta.get("createdAt")))),
        ("Started", _e(_display_time(meta.get("startedAt")))),
        ("Finished", _e(_display_time(meta.get("finishedAt")))),
    ]
    if meta.get("failureReason"):
        facts.append(("Failure reason", f'<span class="neg">{_e(meta["failureReason"])}</span>'))
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    return (
        '<header id="summary"><p class="eyebrow">Tektii backtest report</p>'
        f"<h1>{_e(strategy)}</h1>"
        f'<p class="sub">Scenario {_e(meta.get("scenarioId") or "—")} · version {_e(version)}</p>'
        f'<dl class="facts">{rows}</dl></header>'
    )


def _metric(meta: Mapping[str, Any], field: str, label: str, kind: str, about: str, css: str) -> str:
    value = meta.get(field)
    if value is None:
        shown = f'<span class="na" title="{NOT_ENOUGH_DATA}">—</span>'
        tone = ""
    else:
        shown = _e(_metric_text(value, kind))
        tone = _tone(value) if kind == "signed_pct" else ""
    return (
        f'<div class="{css}" data-metric="{field}" title="{_e(about)}"><div class="label">{_e(label)}</div>'
        f'<div class="value {tone}">{shown}</div></div>'
    )


def _metrics(meta: Mapping[str, Any]) -> str:
    cards = "".join(_metric(meta, *m, "kpi") for m in HEADLINE)
    details = "".join(_metric(meta, *m, "stat") for m in DETAIL)
    return (
        '<section id="metrics"><h2>Performance</h2>'
        f'<div class="kpis">{cards}</div><div class="stats">{details}</div>'
        '<p class="note">Percentages are of the initial capital or of the window; ratios are annualised '
        "from daily returns. A dash marks a metric without enough data to compute it.</p></section>"
    )


def _charts(curve: _Curve, capital: float) -> str:
    if not curve.times:
        empty = '<p class="empty">No equity data was recorded for this scenario.</p>'
        return (
            f'<section id="equity"><h2>Equity curve</h2>{empty}</section>'
            f'<section id="drawdown"><h2>Drawdown</h2>{empty}</section>'
        )
    shown = f"{len(curve.times):,} points"
    return (
        '<section id="equity"><h2>Equity curve</h2>'
        f"<figure>{equity_svg(curve, capital)}<figcaption>Account equity (cash plus open positions), {shown}; "
        "dashed: the initial capital. Times in UTC.</figcaption></figure></section>"
        '<section id="drawdown"><h2>Drawdown</h2>'
        f"<figure>{drawdown_svg(curve)}<figcaption>Fall below the running equity peak, in percent "
        "(0 = at a new high).</figcaption></figure></section>"
    )


def _trades(trades: Sequence[_Trade], max_trades: int) -> str:
    if not trades:
        return '<section id="trades"><h2>Trades</h2><p class="empty">No closed trades.</p></section>'
    pnls = [t.pnl for t in trades if t.pnl is not None]
    fees = sum(t.fees for t in trades if t.fees is not None)
    wins = sum(1 for p in pnls if p > 0)
    losses = sum(1 for p in pnls if p < 0)
    net = sum(pnls)
    summary = (
        f"{len(trades):,} closed trade{'s' if len(trades) != 1 else ''} · {wins:,} winning · "
        f'{losses:,} losing · net P&amp;L <span class="{_tone(net)}">{_e(_fixed(net, 2, sign=True))}</span>'
        f" · fees {_e(_fixed(fees, 2))}"
    )
    shown = trades[: max(max_trades, 0)]
    # one time format for the whole column: seconds only when some trade needs them
    seconds = any(t is not None and t % 60 for tr in shown for t in (tr.entry_time, tr.exit_time))
    body = []
    for n, t in enumerate(shown, 1):
        held = (
            _fmt_duration(t.exit_time - t.entry_time)
            if t.entry_time is not None and t.exit_time is not None and t.exit_time >= t.entry_time
            else "—"
        )
        side = t.side.lower()
        side_class = "long" if side in ("buy", "long") else "short" if side in ("sell", "short") else ""
        pnl = _fixed(t.pnl, 2, sign=True) if t.pnl is not None else "—"
        body.append(
            f"<tr><td class=n>{n}</td><td>{_fmt_time(t.entry_time, seconds=seconds)}</td>"
            f"<td>{_fmt_time(t.exit_time, seconds=seconds)}</td>"
            f"<td class=h>{held}</td><td>{_e(t.symbol) or '—'}</td>"
            f'<td><span class="side {side_class}">{_e(t.side) or "—"}</span></td>'
            f"<td class=n>{_plain(t.quantity)}</td><td class=n>{_price(t.entry_price)}</td>"
            f"<td class=n>{_price(t.exit_price)}</td>"
            f'<td class="n {_tone(t.pnl)}">{pnl}</td>'
            f"<td class=n>{_fixed(t.fees, 2) if t.fees is not None else '—'}</td></tr>"
        )
    more = ""
    if len(shown) < len(trades):
        more = (
            f'<p class="note">Showing the first {len(shown):,} of {len(trades):,} trades; the full log: '
            "<code>tektii scenario results STRATEGY_ID SCENARIO_ID --type trades --format csv</code></p>"
        )
    head = "".join(
        f"<th{' class=n' if numeric else ''}>{label}</th>"
        for label, numeric in (
            ("#", True), ("Entry time", False), ("Exit time", False), ("Held", False), ("Symbol", False),
            ("Side", False), ("Quantity", True), ("Entry price", True), ("Exit price", True), ("P&amp;L", True),
            ("Fees", True),
        )
    )  # fmt: skip
    return (
        f'<section id="trades"><h2>Trades</h2><p class="sub">{summary}</p>'
        f'<div class="table-wrap"><table class="trades"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}</section>"
    )


def _config(meta: Mapping[str, Any]) -> str:
    text = json.dumps(meta.get("config") or {}, indent=2, ensure_ascii=False, default=str)
    return f'<section id="config"><h2>Scenario config</h2><pre class="config">{_e(text)}</pre></section>'


_CSS = """
:root{--fg:#1f2328;--muted:#5d6670;--line:#d8dee4;--soft:#f6f8fa}
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
html{background:#fff}
body{margin:0;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 32px 40px}
h1{font-size:26px;line-height:1.2;margin:2px 0 4px;overflow-wrap:anywhere}
h2{font-size:17px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
section{margin-top:30px}
.eyebrow{margin:0;color:var(--muted);font-size:12px;letter-spacing:.08em;text-transform:uppercase}
.sub,.muted,figcaption,.note{color:var(--muted)}
.sub{margin:0 0 14px}
figcaption,.note{font-size:12.5px}
.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:6px 18px;margin:0;padding:14px 16px;
background:var(--soft);border:1px solid var(--line);border-radius:8px}
.facts dt{color:var(--muted)}
.facts dd{margin:0;overflow-wrap:anywhere}
.state{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;letter-spacing:.04em}
.state.ok{background:#dcfce7;color:#166534}.state.bad{background:#fee2e2;color:#991b1b}
.state.busy{background:#fef3c7;color:#92400e}.state.off{background:#e5e7eb;color:#374151}
.inst{font-weight:600}
.kpis{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.kpi{border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi .label,.stat .label{color:var(--muted);font-size:12.5px}
.kpi .value{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums;line-height:1.3}
.stats{display:grid;grid-template-columns:repeat(4,1fr);gap:0 24px;margin-top:14px}
.stat{display:flex;justify-content:space-between;gap:12px;padding:7px 2px;border-bottom:1px solid #eef1f4}
.stat .value{font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.na{color:#9aa3ad;cursor:help}
.pos{color:var(--gain)}.neg{color:var(--loss)}
figure{margin:0;break-inside:avoid}
svg.chart{display:block;width:100%;height:auto;font-size:12px;font-family:inherit}
svg .grid line{stroke:#e8ecf0;stroke-width:1}
svg .frame{fill:none;stroke:#c9d1d9;stroke-width:1}
svg .ylab text{text-anchor:end;fill:var(--muted);font-variant-numeric:tabular-nums}
svg .xlab text{text-anchor:middle;fill:var(--muted)}
svg .xlab text.ctx{font-size:11px;fill:#8b949e}
svg polyline{stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .capital{stroke:#6b7280;stroke-width:1.2;stroke-dasharray:6 4}
svg .capital-label{text-anchor:end;fill:#4b5563;font-size:11.5px}
svg .trough{fill:#fff;stroke:var(--dd);stroke-width:2}
svg .trough-label{fill:var(--loss);font-size:11.5px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;
stroke-linejoin:round}
.table-wrap{border:1px solid var(--line);border-radius:8px;overflow:hidden}
table.trades{width:100%;border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
.trades th{background:var(--soft);text-align:left;font-weight:600;color:#3d444d;padding:7px 10px;
border-bottom:1px solid var(--line)}
.trades td{padding:5px 10px;border-bottom:1px solid #eef1f4;white-space:nowrap}
.trades tbody tr:nth-child(even){background:#fbfcfd}
.trades .n{text-align:right}.trades td.h{color:var(--muted)}
.side{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;padding:1px 6px;border-radius:4px;
background:#eef1f4}
.side.long{background:#dcfce7;color:#166534}.side.short{background:#fee2e2;color:#991b1b}
pre.config{margin:0;padding:14px 16px;background:var(--soft);border:1px solid var(--line);border-radius:8px;
font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.empty{padding:28px;text-align:center;color:var(--muted);border:1px dashed var(--line);border-radius:8px}
footer{margin-top:34px;color:#8b949e;font-size:12px}
@media (max-width:860px){.kpis{grid-template-columns:repeat(2,1fr)}.stats{grid-template-columns:1fr 1fr}
.facts{grid-template-columns:max-content 1fr}}
@media print{main{max-width:none;padding:0}section{margin-top:18px}.kpi .value{font-size:20px}
.table-wrap{overflow:visible}thead{display:table-header-group}tr{break-inside:avoid}h2{break-after:avoid}@page{margin:12mm}}
"""
_COLOURS = f":root{{--gain:{GAIN_COLOUR};--loss:{LOSS_COLOUR};--dd:{DRAWDOWN_COLOUR}}}"


def _page(
    meta: Mapping[str, Any],
    capital: float,
    curve: _Curve,
    trades: Sequence[_Trade],
    max_trades: int,
    generated: datetime,
) -> str:
    title = f"Backtest report · {meta.get('strategyName') or meta.get('strategyId') or ''} · {meta.get('scenarioId') or ''}"
    return "".join(
        (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            # Nothing may load from anywhere: the page is complete as it is (and stays inert).
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="tektii">',
            f"<title>{_e(title)}</title><style>{_COLOURS}{_CSS}</style></head><body><main>",
            _header(meta, capital),
            _metrics(meta),
            _charts(curve, capital),
            _trades(trades, max_trades),
            _config(meta),
            f"<footer>Generated by tektii on {_e(_fmt_time(generated.timestamp()))} UTC. "
            "All times are UTC. This file is self-contained and works offline.</footer>",
            "</main></body></html>\n",
        )
    )


# ---------------------------------------------------------------- several scenarios, and sweeps

# The overlay's line colours, in order (the sweep report's Chromium test looks for the first two).
OVERLAY_COLOURS = ("#1d4ed8", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
# The heatmap runs from HEAT_WORST to HEAT_BEST (better objective: darker green), missing cells grey.
HEAT_WORST, HEAT_BEST, HEAT_MISSING = "#fef3c7", "#047857", "#e5e7eb"
MAX_HEAT_COLUMNS = 12  # more distinct values than this (continuous parameters) are binned
_EXTRA_CSS = """
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:8px 0 0;padding:0;list-style:none;font-size:12.5px}
.legend .swatch{display:inline-block;width:14px;height:4px;border-radius:2px;margin-right:6px;vertical-align:middle}
table.grid{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
.grid th,.grid td{padding:5px 10px;border-bottom:1px solid #eef1f4;text-align:right;white-space:nowrap}
.grid th{background:var(--soft);font-weight:600;color:#3d444d}.grid th:first-child,.grid td:first-child{text-align:left}
svg .cell-label{text-anchor:middle;font-size:12px;font-variant-numeric:tabular-nums}
svg .axis-title{fill:var(--muted);font-size:12.5px;text-anchor:middle}
"""


def _document(title: str, body: Sequence[str], generated: datetime) -> str:
    return "".join((
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="tektii">',
        f"<title>{_e(title)}</title><style>{_COLOURS}{_CSS}{_EXTRA_CSS}</style></head><body><main>",
        *body,
        f"<footer>Generated by tektii on {_e(_fmt_time(generated.timestamp()))} UTC. "
        "All times are UTC. This file is self-contained and works offline.</footer>",
        "</main></body></html>\n",
    ))


def _curve_of(rows: Any, capital: float, label: str) -> _Curve:
    problems: list[str] = []
    curve = _read_curve(rows, capital, problems)
    if problems:
        listed = "\n".join(f"  {label}: {p}" for p in problems)
        raise TektiiError(f"cannot render the report: {len(problems)} malformed field(s):\n{listed}")
    return curve


def overlay_svg(curves: Sequence[tuple[str, _Curve]], *, width: int = 1000, height: int = 340) -> str:
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
        *_axes(frame, ticks, lambda v: _fixed(v, decimals)),
    ]
    legend = []
    for i, (label, curve) in enumerate(drawn):
        colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
        points = _points(frame, downsample_minmax(curve.times, curve.equity, frame.plot_width))
        parts.append(f'<polyline class="overlay-line" data-series="{i}" fill="none" stroke="{colour}" '
                     f'points="{" ".join(points)}"/>')
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{_e(label)}</li>')
    parts.append("</svg>")
    return "".join(parts) + f'<ul class="legend">{"".join(legend)}</ul>'


def _flat(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, into)
    else:
        into[prefix] = value


def config_differences(configs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The config fields (dotted paths) whose values are not the same in every config."""
    flat: list[dict[str, Any]] = []
    for config in configs:
        fields: dict[str, Any] = {}
        _flat("", config, fields)
        flat.append(fields)
    keys = sorted({k for f in flat for k in f})
    return [(k, [f.get(k) for f in flat]) for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def render_comparison_report(scenarios: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]], *,
                             generated_at: datetime | None = None) -> str:
    """One page for several scenarios (`scenario report` with more than one): their metrics side
    by side, their equity curves overlaid, and where their configs differ."""
    generated = generated_at or datetime.now(UTC)
    metas, curves = [], []
    for metadata, rows in scenarios:
        problems: list[str] = []
        meta = _read_metadata(metadata, problems)
        capital = _initial_capital(meta, problems)
        if problems:
            raise TektiiError("cannot render the report: " + "; ".join(problems))
        label = f"{meta.get('scenarioId')} ({meta.get('strategyVersionId') or '?'})"
        metas.append(meta)
        curves.append((label, _curve_of(rows, capital, str(meta.get("scenarioId")))))
    head = "".join(f"<th>{_e(m.get('scenarioId'))}<br><span class=muted>{_e(m.get('strategyVersionId'))}</span></th>"
                   for m in metas)
    body_rows = []
    for field, label, kind, _about in HEADLINE + DETAIL:
        values = [m.get(field) for m in metas]
        cells = "".join(f"<td>{_e(_metric_text(v, kind)) if v is not None else '—'}</td>" for v in values)
        diffs = "".join(
            f"<td>{_e(_fixed(v - values[0], 2, sign=True)) if v is not None and values[0] is not None else '—'}</td>"
            for v in values[1:])
        body_rows.append(f"<tr><td>{_e(label)}</td>{cells}{diffs}</tr>")
    diff_head = "".join(f"<th>Δ {_e(m.get('scenarioId'))}</th>" for m in metas[1:])
    differences = config_differences([m.get("config") or {} for m in metas])
    config_rows = "".join(f"<tr><td>{_e(k)}</td>{''.join(f'<td>{_e(json.dumps(v))}</td>' for v in vs)}</tr>"
                          for k, vs in differences)
    strategy = metas[0].get("strategyName") or metas[0].get("strategyId") or ""
    return _document(f"Scenario comparison · {strategy}", (
        f'<header id="summary"><p class="eyebrow">Tektii scenario comparison</p><h1>{_e(strategy)}</h1>'
        f'<p class="sub">{len(metas)} scenarios; differences are against the first</p></header>',
        '<section id="equity"><h2>Equity curves</h2><figure>', overlay_svg(curves), "</figure></section>",
        f'<section id="metrics"><h2>Metrics</h2><table class="grid"><thead><tr><th>Metric</th>{head}{diff_head}'
        f"</tr></thead><tbody>{''.join(body_rows)}</tbody></table></section>",
        '<section id="config"><h2>Config differences</h2>'
        + (f'<table class="grid"><thead><tr><th>Field</th>{head}</tr></thead><tbody>{config_rows}</tbody></table>'
           if differences else '<p class="empty">The configs are the same.</p>') + "</section>",
    ), generated)


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
    labels = [f"{_plain(edges[k])}–{_plain(edges[k + 1])}" for k in range(10)]
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
             f'<title id="heatmap-title">{_e(objective)} over {_e(x)}{" and " + _e(y) if y else ""}</title>']
    for row, yv in enumerate(reversed(ys)):  # larger y values on top
        cy = top + row * cell_h
        parts.append(f'<text class="ylab" x="{left - 8}" y="{cy + cell_h / 2 + 4:.1f}" text-anchor="end">{_e(yv)}</text>')
        for col, xv in enumerate(xs):
            value = cells.get((xv, yv))
            if value is None:
                colour, text = HEAT_MISSING, "—"
            else:
                share = (value - low) / (high - low) if high > low else 1.0
                colour = _mix(HEAT_WORST, HEAT_BEST, share if direction == "maximize" else 1.0 - share)
                text = _fixed(value, 2)
            dark = value is not None and (share if direction == "maximize" else 1.0 - share) > 0.55
            cx = left + col * cell_w
            parts.append(f'<rect class="cell" x="{cx:.1f}" y="{cy}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" '
                         f'fill="{colour}" data-x="{_e(xv)}" data-y="{_e(yv)}" data-value="{"" if value is None else value}"/>')
            parts.append(f'<text class="cell-label" x="{cx + cell_w / 2:.1f}" y="{cy + cell_h / 2 + 4:.1f}" '
                         f'fill="{"#ffffff" if dark else "#1f2328"}">{_e(text)}</text>')
    base = top + cell_h * len(ys)
    for col, xv in enumerate(xs):
        parts.append(f'<text class="xlab" x="{left + col * cell_w + cell_w / 2:.1f}" y="{base + 16}" '
                     f'text-anchor="middle">{_e(xv)}</text>')
    parts.append(f'<text class="axis-title" x="{left + (width - left) / 2:.1f}" y="{base + 40}">{_e(x)}</text>')
    if y:
        parts.append(f'<text class="axis-title" x="14" y="{top + cell_h * len(ys) / 2:.1f}" '
                     f'transform="rotate(-90 14 {top + cell_h * len(ys) / 2:.1f})">{_e(y)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_sweep_report(sweep: Mapping[str, Any], curves: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], *,
                        x: str | None = None, y: str | None = None, generated_at: datetime | None = None) -> str:
    """The page of a sweep (`tektii sweep report`): the ranking, a heatmap of the objective over
    two parameters (``x``, ``y``; default the first two) and the best trials' equity overlaid.
    ``sweep`` is the API's sweep object; ``curves`` (label, timeseries rows), best first."""
    generated = generated_at or datetime.now(UTC)
    names = list(sweep.get("parameters") or {})
    x = x or (names[0] if names else None)
    y = y or next((n for n in names if n != x), None)
    objective, direction = str(sweep.get("objective")), str(sweep.get("direction"))
    config = sweep.get("config") or {}
    capital = float(config.get("initialCapital") or DEFAULT_CAPITAL)
    trials = {t["trial"]: t for t in sweep.get("trials") or []}
    holdout = sweep.get("holdout") is not None
    head = "".join(f"<th>{_e(h)}</th>" for h in ["Rank", "Trial", *names, objective + (" (in-sample)" if holdout else "")]
                   + ([objective + " (out-of-sample)"] if holdout else []) + ["Total return", "Max drawdown", "Trades"])
    rows = []
    for number in list(sweep.get("ranking") or [])[:50]:
        t = trials[number]
        metrics = t.get("metrics") or {}
        cells = [str(t.get("rank")), str(number), *[str(t["parameters"].get(n, "")) for n in names],
                 _fixed(t["objective"], 3)]
        if holdout:
            oos = t.get("outOfSample") or {}
            cells.append(_fixed(oos["objective"], 3) if isinstance(oos.get("objective"), (int, float)) else "—")
        for field, kind in (("totalReturn", "signed_pct"), ("maxDrawdownPct", "pct"), ("totalTrades", "int")):
            value = metrics.get(field)
            cells.append(_metric_text(value, kind) if isinstance(value, (int, float)) else "—")
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    counts = sweep.get("counts") or {}
    facts = [("Sweep", sweep.get("sweepId")), ("Strategy", sweep.get("strategyId")), ("Version", sweep.get("strategyVersionId")),
             ("State", sweep.get("state")), ("Method", f"{sweep.get('method')} (seed {sweep.get('seed')})"),
             ("Objective", f"{objective}, {direction}d"),
             ("Trials", f"{counts.get('COMPLETE', 0)} complete of {sweep.get('trialCount')}"),
             ("Constraints", ", ".join(sweep.get("constraints") or []) or "—"),
             ("Window", f"{config.get('startTime')} → {config.get('endTime')}" if config.get("startTime") else "—"),
             ("Holdout", sweep.get("holdout") or "—")]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    drawn = [(label, _curve_of(r, capital, label)) for label, r in curves]
    heat = heatmap_svg(list(trials.values()), x, y, direction, objective) if x else '<p class="empty">No parameters.</p>'
    return _document(f"Sweep report · {sweep.get('sweepId')}", (
        '<header id="summary"><p class="eyebrow">Tektii sweep report</p>'
        f"<h1>{_e(sweep.get('strategyId'))} · {_e(sweep.get('sweepId'))}</h1>"
        f'<dl class="facts">{facts_html}</dl></header>',
        f'<section id="ranking"><h2>Ranking by {_e(objective)}</h2><div class="table-wrap"><table class="grid">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>",
        f'<section id="heatmap-section"><h2>{_e(objective)} over {_e(x)}{" × " + _e(y) if y else ""}</h2>'
        f"<figure>{heat}<figcaption>Each cell: the best trial with those values"
        f"{' (over the other parameters)' if len(names) > 2 else ''}; darker green is better.</figcaption></figure></section>",
        f'<section id="equity"><h2>Equity of the {len(drawn)} best trials</h2><figure>{overlay_svg(drawn)}</figure></section>',
    ), generated)

"""Reading the platform's scenario results (metadata, equity time series, trades) into the values
the reports draw, checking every field: bad input is reported completely, each field by its
path (`timeseries[3].equity: expected a number, got 'lots'`), before anything is drawn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tektii_core.errors import TektiiError

DEFAULT_CAPITAL = 100_000.0

# (field, label, kind, description) of the metrics read from the metadata (each must be a number
# or absent) and shown, headline cards first (docs/metrics.md).
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


class Curve(NamedTuple):
    times: list[float]  # epoch seconds, non-decreasing
    equity: list[float]
    drawdown: list[float]  # percent below the running peak, >= 0


class Trade(NamedTuple):
    symbol: str
    side: str
    quantity: float | None
    entry_time: float | None
    exit_time: float | None
    entry_price: float | None
    exit_price: float | None
    pnl: float | None
    fees: float | None


def read_scenario(metadata: Any, timeseries: Any, trades: Any) -> tuple[dict[str, Any], float, Curve, list[Trade]]:
    """The metadata, initial capital, equity curve and trades of one scenario.

    Raises TektiiError listing every malformed field at once when the results cannot be read.
    """
    problems: list[str] = []
    meta = read_metadata(metadata, problems)
    capital = initial_capital(meta, problems)
    curve = read_curve(timeseries, capital, problems)
    rows = read_trades(trades, problems)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise TektiiError(
            f"cannot render the report: {len(problems)} malformed field(s) in the scenario results:\n{listed}",
            hint="Check the raw results with `tektii scenario results STRATEGY_ID SCENARIO_ID --type ...`",
        )
    return meta, capital, curve, rows


def read_labelled_curve(rows: Any, capital: float, label: str) -> Curve:
    """One of several curves drawn together; its problems are reported under `label`."""
    problems: list[str] = []
    curve = read_curve(rows, capital, problems)
    if problems:
        listed = "\n".join(f"  {label}: {p}" for p in problems)
        raise TektiiError(f"cannot render the report: {len(problems)} malformed field(s):\n{listed}")
    return curve


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


def read_metadata(metadata: Any, problems: list[str]) -> dict[str, Any]:
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


def initial_capital(meta: Mapping[str, Any], problems: list[str]) -> float:
    value = _number(meta.get("config", {}).get("initialCapital"), "metadata.config.initialCapital", problems)
    if value is not None and value <= 0:
        problems.append(f"metadata.config.initialCapital: must be positive, got {_show(value)}")
        value = None
    return value or meta.get("startEquity") or DEFAULT_CAPITAL


def read_curve(rows: Any, capital: float, problems: list[str]) -> Curve:
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        problems.append(f"timeseries: expected a list of rows, got {_show(rows)}")
        return Curve([], [], [])
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
    return Curve(times, equity, drawdown)


def _drawdown_pct(equity: Sequence[float], capital: float) -> list[float]:
    """As tektii_engine.metrics.drawdown_pct: the initial capital is the first peak."""
    peak = capital
    out = []
    for e in equity:
        peak = max(peak, e)
        out.append(min(max((peak - e) / peak * 100.0, 0.0), 100.0) if peak > 0 else 0.0)
    return out


def read_trades(rows: Any, problems: list[str]) -> list[Trade]:
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
            Trade(
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

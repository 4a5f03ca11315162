"""Headline and risk metrics of a finished backtest, computed from its equity curve and trades.

Every formula is defined in docs/metrics.md. A metric that cannot be computed from the data
(too few days, no volatility, no trades, no losing trade, ...) is left out of the result
rather than reported as 0 or None: callers show "absent" as "not enough data".

Pure numpy and linear in the length of the curve, so a year of one-minute points
(525,600) takes milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365.25  # CAGR counts calendar time, whatever the market's trading days

# A daily-return standard deviation below this is floating-point noise on a curve whose
# returns are all equal (e.g. constant equity); a ratio over it would be meaningless.
_ZERO_VOLATILITY = 1e-12


def compute_metrics(
    times: Any,
    equity: Any,
    trades: Sequence[Any],
    *,
    initial_capital: float,
    periods_per_year: int,
    risk_free_rate: float = 0.0,
    exposure_seconds: float | None = None,
    fees: float = 0.0,
    start_time: float | None = None,
    open_since: Sequence[float] = (),
) -> dict[str, float | int]:
    """Compute the backtest metrics as a dict with camelCase keys (see docs/metrics.md).

    ``times``: int64 epoch seconds of each equity point, non-decreasing.
    ``equity``: float64 account equity at each of those times.
    ``trades``: closed round trips, objects or mappings with ``pnl`` (realised profit,
    net of the trade's fees), ``fees``, ``entry_time`` and ``exit_time`` (epoch seconds or
    aware datetimes).
    ``periods_per_year``: 365 for 24/7 markets (crypto), 252 otherwise.
    ``risk_free_rate``: annual fraction (0.04 = 4 %), turned into a daily rate.
    ``exposure_seconds``: seconds during which a position was open; when None it is the
    union of the trades' [entry_time, exit_time] intervals inside the curve's span.
    ``fees``: fees not attributed to any closed trade (e.g. the entry of a position still
    open at the end); ``totalFees`` is these plus the closed trades' fees.
    ``start_time``: when the account held the initial capital (the window start), for
    CAGR's calendar years; None: the curve's first time.
    ``open_since``: open times of the positions still open at the end (they count for
    exposure up to the curve's end).

    Raises ValueError on malformed input (a programming error, not a user's).
    """
    with np.errstate(all="ignore"):
        metrics = _compute(
            times,
            equity,
            trades,
            initial_capital,
            periods_per_year,
            risk_free_rate,
            exposure_seconds,
            fees,
            start_time,
            open_since,
        )
    # Extreme curves (equity near zero, then up) can overflow a ratio: absent, not inf.
    return {key: value for key, value in metrics.items() if math.isfinite(value)}


def _compute(
    times: Any,
    equity: Any,
    trades: Sequence[Any],
    initial_capital: float,
    periods_per_year: int,
    risk_free_rate: float,
    exposure_seconds: float | None,
    fees: float,
    start_time: float | None,
    open_since: Sequence[float],
) -> dict[str, float | int]:
    t, eq = _as_curve(times, equity)
    if not (initial_capital > 0 and math.isfinite(initial_capital)):
        raise ValueError(
            f"initial_capital must be a positive number, got {initial_capital!r}"
        )
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    pnl, trade_fees, entries, exits = _trade_arrays(trades)

    out: dict[str, float | int] = {
        "startEquity": float(initial_capital),
        "totalTrades": int(pnl.size),
        "totalFees": float(fees) + float(trade_fees.sum()),
    }
    out.update(_trade_metrics(pnl))
    if eq.size == 0:
        return out

    end = float(eq[-1])
    out["endEquity"] = end
    out["totalReturn"] = (end / initial_capital - 1.0) * 100.0
    out.update(_drawdown_metrics(t, eq, initial_capital))
    start = float(t[0]) if start_time is None else float(start_time)
    out.update(
        _daily_return_metrics(
            t, eq, initial_capital, periods_per_year, risk_free_rate, end_equity=end, start=start
        )
    )
    if len(open_since):
        entries = np.append(entries, np.asarray(open_since, dtype=np.float64))
        exits = np.append(exits, np.full(len(open_since), float(t[-1])))
    exposure = _exposure_pct(t, entries, exits, exposure_seconds)
    if exposure is not None:
        out["exposureTimePct"] = exposure
    return out


def daily_closes(times: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """The last equity of each UTC day that has at least one point (days without points,
    such as weekends of a market that is closed, are skipped rather than filled)."""
    if equity.size == 0:
        return equity
    day = times // SECONDS_PER_DAY
    last_of_day = np.flatnonzero(np.diff(day) != 0)
    return equity[np.append(last_of_day, equity.size - 1)]


def daily_returns(
    times: np.ndarray, equity: np.ndarray, initial_capital: float
) -> np.ndarray:
    """Simple returns between consecutive daily closes; the first day is measured against
    the initial capital, so a curve spanning n days gives n returns. A return measured from
    a close at or below zero is NaN."""
    closes = np.concatenate(([float(initial_capital)], daily_closes(times, equity)))
    base = closes[:-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # A return measured from zero or negative equity means nothing: mark it NaN.
        return np.where(base > 0, closes[1:] / base - 1.0, np.nan)


def drawdown_pct(equity: np.ndarray, initial_capital: float) -> np.ndarray:
    """Drawdown of each point below the running peak (the initial capital counts as the
    first peak), as a percentage clipped to 0..100 (equity below zero is a 100 % loss)."""
    peak = np.maximum.accumulate(np.maximum(equity, float(initial_capital)))
    return np.clip((peak - equity) / peak * 100.0, 0.0, 100.0)


def _as_curve(times: Any, equity: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.int64).reshape(-1)
    eq = np.asarray(equity, dtype=np.float64).reshape(-1)
    if t.shape != eq.shape:
        raise ValueError(f"times has {t.size} points but equity has {eq.size}")
    if t.size > 1 and bool(np.any(np.diff(t) < 0)):
        raise ValueError("times must be non-decreasing")
    if not bool(np.all(np.isfinite(eq))):
        raise ValueError("equity must be finite (no NaN or infinity)")
    return t, eq


def _field(trade: Any, name: str) -> Any:
    if isinstance(trade, Mapping):
        return trade[name]
    return getattr(trade, name)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"trade time {value!r} has no timezone")
        return value.timestamp()
    return float(value)


def _trade_arrays(
    trades: Sequence[Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(trades)
    pnl = np.empty(n)
    fees = np.empty(n)
    entries = np.empty(n)
    exits = np.empty(n)
    for i, trade in enumerate(trades):
        pnl[i] = float(_field(trade, "pnl"))
        fees[i] = float(_field(trade, "fees") or 0.0)
        entries[i] = _epoch(_field(trade, "entry_time"))
        exits[i] = _epoch(_field(trade, "exit_time"))
    if not (np.all(np.isfinite(pnl)) and np.all(np.isfinite(fees))):
        raise ValueError("trade pnl and fees must be finite")
    return pnl, fees, entries, exits


def _trade_metrics(pnl: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    if pnl.size == 0:
        return out
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    out["winRatePct"] = wins.size / pnl.size * 100.0
    if wins.size:
        out["averageWin"] = float(wins.mean())
    if losses.size:
        out["averageLoss"] = float(losses.mean())
        out["profitFactor"] = float(wins.sum()) / float(-losses.sum())
    return out


def _drawdown_metrics(
    t: np.ndarray, eq: np.ndarray, initial_capital: float
) -> dict[str, float]:
    dd = drawdown_pct(eq, initial_capital)
    peak = np.maximum.accumulate(np.maximum(eq, float(initial_capital)))
    underwater = eq < peak
    out = {"maxDrawdownPct": float(dd.max())}
    if not bool(underwater.any()):
        out["longestDrawdownDays"] = 0.0
        return out
    # Time of the most recent point at its peak, at or before each point; the curve's
    # start stands for the initial-capital peak when the first point is already below it.
    idx = np.arange(eq.size)
    last_peak = np.maximum.accumulate(np.where(underwater, 0, idx))
    peak_time = t[last_peak]
    # An underwater spell lasts from its peak to the point that regains the peak, or to
    # the end of the curve when it never does.
    spell = np.where(underwater, t - peak_time, 0)
    recovers = ~underwater[1:] & underwater[:-1]
    if bool(recovers.any()):
        rec = np.flatnonzero(recovers) + 1
        spell_end = t[rec] - peak_time[rec - 1]
        longest = max(int(spell.max()), int(spell_end.max()))
    else:
        longest = int(spell.max())
    out["longestDrawdownDays"] = longest / SECONDS_PER_DAY
    return out


def _daily_return_metrics(
    t: np.ndarray,
    eq: np.ndarray,
    initial_capital: float,
    periods_per_year: int,
    risk_free_rate: float,
    *,
    end_equity: float,
    start: float,
) -> dict[str, float]:
    out: dict[str, float] = {}
    r = daily_returns(t, eq, initial_capital)
    n = r.size
    if n < 2:
        return out

    years = (float(t[-1]) - start) / SECONDS_PER_DAY / DAYS_PER_YEAR
    if years <= 0:
        return out
    growth = end_equity / initial_capital
    if growth <= 0:
        out["cagrPct"] = -100.0
    else:
        try:
            cagr = (math.exp(math.log(growth) / years) - 1.0) * 100.0
        except OverflowError:
            cagr = math.inf
        if math.isfinite(cagr):
            out["cagrPct"] = cagr

    if not bool(np.all(np.isfinite(r))):
        return out  # some day closed at or below zero equity
    annual = math.sqrt(periods_per_year)
    rf_daily = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    excess = r - rf_daily
    mean_excess = float(excess.mean())
    out["volatilityPct"] = float(r.std(ddof=1)) * annual * 100.0
    excess_std = float(excess.std(ddof=1))
    if excess_std > _ZERO_VOLATILITY:
        out["sharpeRatio"] = mean_excess / excess_std * annual
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside > _ZERO_VOLATILITY:
        out["sortinoRatio"] = mean_excess / downside * annual
    return out


def _exposure_pct(
    t: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    exposure_seconds: float | None,
) -> float | None:
    span = float(t[-1] - t[0])
    if span <= 0:
        return None
    if exposure_seconds is None:
        exposure_seconds = _union_length(entries, exits, float(t[0]), float(t[-1]))
    return min(max(exposure_seconds / span * 100.0, 0.0), 100.0)


def _union_length(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> float:
    """Total length of the union of [start, end] intervals clipped to [lo, hi]; hedged
    trades overlap, and time with any position open counts once."""
    s = np.clip(starts, lo, hi)
    e = np.clip(ends, lo, hi)
    keep = e > s
    if not bool(keep.any()):
        return 0.0
    order = np.argsort(s[keep], kind="stable")
    s, e = s[keep][order], e[keep][order]
    # An interval starts a new merged block when it begins after every earlier one ended.
    reach = np.maximum.accumulate(e)
    new_block = np.concatenate(([True], s[1:] > reach[:-1]))
    last_of_block = np.append(np.flatnonzero(new_block)[1:] - 1, s.size - 1)
    return float((reach[last_of_block] - s[new_block]).sum())

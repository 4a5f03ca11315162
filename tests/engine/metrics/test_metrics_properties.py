"""Property-based tests for tektii_engine.metrics."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tektii_engine.metrics import compute_metrics

T0 = 1_704_067_200

equities = st.floats(
    min_value=-1e6, max_value=1e7, allow_nan=False, allow_infinity=False
)
positive = st.floats(
    min_value=1.0, max_value=1e7, allow_nan=False, allow_infinity=False
)
capitals = st.floats(min_value=1.0, max_value=1e8)
steps = st.integers(min_value=0, max_value=3 * 86_400)


@st.composite
def curves(draw, values=equities, min_size=1):
    eq = draw(st.lists(values, min_size=min_size, max_size=80))
    gaps = draw(st.lists(steps, min_size=len(eq), max_size=len(eq)))
    times = T0 + np.cumsum(np.array(gaps, dtype=np.int64))
    return times, np.array(eq, dtype=np.float64)


@st.composite
def trade_lists(draw):
    n = draw(st.integers(0, 20))
    out = []
    for _ in range(n):
        entry = draw(st.integers(T0 - 86_400, T0 + 30 * 86_400))
        out.append(
            {
                "pnl": draw(st.floats(-1e5, 1e5)),
                "fees": draw(st.floats(0, 100)),
                "entry_time": entry,
                "exit_time": entry + draw(st.integers(0, 10 * 86_400)),
            }
        )
    return out


@settings(max_examples=300)
@given(curves(), trade_lists(), capitals, st.sampled_from([252, 365]))
def test_every_metric_is_finite_and_within_its_range(curve, trades, capital, periods):
    times, equity = curve
    m = compute_metrics(
        times, equity, trades, initial_capital=capital, periods_per_year=periods
    )
    assert all(math.isfinite(v) for v in m.values())
    assert 0.0 <= m["maxDrawdownPct"] <= 100.0
    assert m["longestDrawdownDays"] >= 0.0
    assert m["longestDrawdownDays"] <= (times[-1] - times[0]) / 86_400
    assert m["totalTrades"] == len(trades)
    if trades:
        assert 0.0 <= m["winRatePct"] <= 100.0
    else:
        assert "winRatePct" not in m
    if "exposureTimePct" in m:
        assert 0.0 <= m["exposureTimePct"] <= 100.0
    assert m.get("volatilityPct", 0.0) >= 0.0
    assert m.get("profitFactor", 0.0) >= 0.0
    assert m.get("averageWin", 1.0) > 0.0
    assert m.get("averageLoss", -1.0) < 0.0
    assert m.get("cagrPct", 0.0) >= -100.0
    assert m["totalFees"] >= 0.0
    assert None not in m.values()


@given(curves(values=st.just(1.0)), capitals, st.sampled_from([252, 365]))
def test_constant_curve_has_zero_return_and_no_sharpe(curve, capital, periods):
    times, _ = curve
    equity = np.full(times.size, capital)
    m = compute_metrics(
        times, equity, [], initial_capital=capital, periods_per_year=periods
    )
    assert m["totalReturn"] == 0.0
    assert m["maxDrawdownPct"] == 0.0
    assert m["longestDrawdownDays"] == 0.0
    assert "sharpeRatio" not in m
    assert "sortinoRatio" not in m


@given(curves(values=positive), capitals)
def test_monotone_increasing_curve_has_no_drawdown(curve, capital):
    times, equity = curve
    equity = capital + np.cumsum(np.abs(equity))  # never below capital, never falls
    m = compute_metrics(
        times, equity, [], initial_capital=capital, periods_per_year=365
    )
    assert m["maxDrawdownPct"] == 0.0
    assert m["longestDrawdownDays"] == 0.0
    assert m["totalReturn"] > 0.0
    assert "sortinoRatio" not in m  # no day lost anything


@given(curves(values=positive, min_size=2), positive, st.floats(0.01, 100.0))
def test_scaling_the_account_changes_no_ratio(curve, capital, k):
    times, equity = curve
    a = compute_metrics(
        times, equity, [], initial_capital=capital, periods_per_year=365
    )
    b = compute_metrics(
        times, equity * k, [], initial_capital=capital * k, periods_per_year=365
    )
    assert a.keys() == b.keys()
    for key in ("totalReturn", "maxDrawdownPct", "longestDrawdownDays", "cagrPct"):
        if key in a:
            assert math.isclose(a[key], b[key], rel_tol=1e-6, abs_tol=1e-6), key


@given(curves(values=positive, min_size=2), positive)
def test_drawdown_never_exceeds_the_fall_from_the_highest_point(curve, capital):
    times, equity = curve
    m = compute_metrics(
        times, equity, [], initial_capital=capital, periods_per_year=365
    )
    top = max(capital, float(equity.max()))
    assert (
        m["maxDrawdownPct"]
        <= (top - min(float(equity.min()), capital)) / top * 100 + 1e-9
    )

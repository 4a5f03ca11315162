"""tektii_engine.metrics against an independent implementation: empyrical (the library
behind pyfolio/zipline) on the same equity curve, resampled to daily closes with pandas.

empyrical-reloaded and pandas are test-only dependencies."""

from __future__ import annotations

import numpy as np
import pytest

from tektii_engine.metrics import compute_metrics

ep = pytest.importorskip("empyrical")
pd = pytest.importorskip("pandas")

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


def reference(times, equity, initial, periods, rf_annual):
    """The same metrics computed by pandas resampling and empyrical."""
    index = pd.to_datetime(times, unit="s", utc=True)
    daily = pd.Series(equity, index=index).resample("1D").last().dropna()
    closes = pd.concat(
        [pd.Series([initial]), pd.Series(daily.to_numpy())], ignore_index=True
    )
    r = closes.pct_change().dropna()
    rf = (1 + rf_annual) ** (1 / periods) - 1
    full = pd.Series(np.concatenate(([initial], equity))).pct_change().dropna()
    return {
        "sharpeRatio": ep.sharpe_ratio(r, risk_free=rf, annualization=periods),
        "sortinoRatio": ep.sortino_ratio(r, required_return=rf, annualization=periods),
        "volatilityPct": ep.annual_volatility(r, annualization=periods) * 100,
        # CAGR over calendar time (docs/metrics.md), not empyrical's len(returns) / periods.
        "cagrPct": ((equity[-1] / initial) ** (365.25 * 86_400 / (times[-1] - times[0])) - 1) * 100,
        "totalReturn": ep.cum_returns_final(full) * 100,
        "maxDrawdownPct": -ep.max_drawdown(full) * 100,
    }


@pytest.mark.parametrize(
    ("seed", "step", "n", "periods", "rf"),
    [
        (1, 60, 525_600, 365, 0.0),  # a year of one-minute crypto equity
        (2, 3600, 24 * 200, 365, 0.03),
        (3, 300, 12 * 24 * 90, 252, 0.0),
        (4, 86_400, 400, 252, 0.05),  # one point a day
        (5, 3600 * 7, 900, 365, -0.01),  # points that do not align with days
    ],
)
def test_matches_empyrical(seed, step, n, periods, rf):
    rng = np.random.default_rng(seed)
    times = T0 + np.arange(n, dtype=np.int64) * step
    equity = 100_000 * np.exp(np.cumsum(rng.normal(0.00001, 0.001, n)))
    ours = compute_metrics(
        times,
        equity,
        [],
        initial_capital=100_000,
        periods_per_year=periods,
        risk_free_rate=rf,
    )
    theirs = reference(times, equity, 100_000.0, periods, rf)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_matches_empyrical_with_weekend_gaps():
    # Forex-like: points only Monday to Friday; skipped days are not zero-return days.
    rng = np.random.default_rng(7)
    hours = T0 + np.arange(24 * 120, dtype=np.int64) * 3600
    weekday = ((hours // 86_400) + 1) % 7  # 2024-01-01 was a Monday (weekday 1 here)
    times = hours[(weekday >= 1) & (weekday <= 5)]
    equity = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.002, times.size)))
    ours = compute_metrics(
        times, equity, [], initial_capital=50_000, periods_per_year=252
    )
    theirs = reference(times, equity, 50_000.0, 252, 0.0)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key

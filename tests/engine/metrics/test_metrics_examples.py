"""Hand-worked examples for tektii_engine.metrics: every number here is worked out in the
comments from the definitions in docs/metrics.md, not from the implementation."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import attrs
import numpy as np
import pytest

from tektii_engine.metrics import compute_metrics, daily_closes, daily_returns

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


def curve(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(day offset, equity) pairs -> times, equity arrays."""
    t = np.array([T0 + round(d * DAY) for d, _ in points], dtype=np.int64)
    return t, np.array([e for _, e in points], dtype=np.float64)


# Initial capital 100. Day 0 closes at 110, day 1 dips to 95 intraday and closes at 99,
# day 2 closes at 121.
THREE_DAYS = [(0.25, 104.0), (0.5, 110.0), (1.25, 95.0), (1.5, 99.0), (2.5, 121.0)]


def test_three_day_curve_worked_by_hand():
    t, eq = curve(THREE_DAYS)
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=252, start_time=T0)

    assert m["startEquity"] == 100.0
    assert m["endEquity"] == 121.0
    assert m["totalReturn"] == pytest.approx(21.0)  # 121 / 100 - 1
    # Peak 110 (day 0.5), trough 95 (day 1.25): 15 / 110.
    assert m["maxDrawdownPct"] == pytest.approx(15 / 110 * 100)
    # Underwater from the peak at day 0.5 until 121 regains it at day 2.5.
    assert m["longestDrawdownDays"] == pytest.approx(2.0)

    # Daily closes 110, 99, 121 measured from the initial 100.
    r = [110 / 100 - 1, 99 / 110 - 1, 121 / 99 - 1]
    mean = sum(r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert m["sharpeRatio"] == pytest.approx(mean / sd * math.sqrt(252))
    assert m["volatilityPct"] == pytest.approx(sd * math.sqrt(252) * 100)
    downside = math.sqrt((99 / 110 - 1) ** 2 / 3)  # only day 1 lost
    assert m["sortinoRatio"] == pytest.approx(mean / downside * math.sqrt(252))
    # Calendar time: 2.5 days from the start at T0, in years of 365.25 days.
    assert m["cagrPct"] == pytest.approx((1.21 ** (365.25 / 2.5) - 1) * 100)

    # No trades: the trade metrics are absent, counts and fees are zero.
    assert m["totalTrades"] == 0
    assert m["totalFees"] == 0.0
    for key in ("winRatePct", "profitFactor", "averageWin", "averageLoss"):
        assert key not in m
    # No trades and no exposure given: no position was ever open.
    assert m["exposureTimePct"] == 0.0


def test_daily_resampling_uses_the_last_point_of_each_utc_day():
    t, eq = curve(THREE_DAYS)
    assert daily_closes(t, eq).tolist() == [110.0, 99.0, 121.0]
    assert daily_returns(t, eq, 100.0) == pytest.approx([0.1, -0.1, 121 / 99 - 1])


def test_days_without_points_are_skipped_not_filled():
    # Friday close, then Monday: the weekend contributes no zero-return days.
    t, eq = curve([(0.9, 101.0), (3.9, 102.0), (4.9, 100.0)])
    assert daily_returns(t, eq, 100.0) == pytest.approx(
        [0.01, 102 / 101 - 1, 100 / 102 - 1]
    )


def test_trade_statistics_worked_by_hand():
    t, eq = curve([(0.0, 100.0), (1.0, 120.0)])
    trades = [
        {"pnl": 30.0, "fees": 1.0, "entry_time": T0, "exit_time": T0 + 100},
        {"pnl": -10.0, "fees": 1.0, "entry_time": T0, "exit_time": T0 + 100},
        {"pnl": 20.0, "fees": 0.5, "entry_time": T0, "exit_time": T0 + 100},
        {"pnl": -20.0, "fees": 0.5, "entry_time": T0, "exit_time": T0 + 100},
        {"pnl": 0.0, "fees": 0.0, "entry_time": T0, "exit_time": T0 + 100},
    ]
    m = compute_metrics(
        t, eq, trades, initial_capital=100, periods_per_year=365, fees=2.0
    )
    assert m["totalTrades"] == 5
    assert m["winRatePct"] == pytest.approx(40.0)  # 2 of 5; a flat trade is not a win
    assert m["averageWin"] == pytest.approx(25.0)
    assert m["averageLoss"] == pytest.approx(-15.0)
    assert m["profitFactor"] == pytest.approx(50 / 30)
    assert m["totalFees"] == pytest.approx(
        5.0
    )  # 3.0 on closed trades + 2.0 unattributed


def test_trades_as_objects_with_datetimes():
    @attrs.frozen
    class Trade:
        pnl: float
        fees: float
        entry_time: datetime
        exit_time: datetime

    start = datetime(2024, 1, 1, tzinfo=UTC)
    t, eq = curve([(0.0, 100.0), (1.0, 101.0)])
    trades = [Trade(5.0, 0.1, start, datetime(2024, 1, 1, 6, tzinfo=UTC))]
    m = compute_metrics(t, eq, trades, initial_capital=100, periods_per_year=365)
    assert m["winRatePct"] == 100.0
    assert m["exposureTimePct"] == pytest.approx(25.0)  # 6 h of a 24 h span
    assert "profitFactor" not in m  # no losing trade: the denominator is zero
    assert "averageLoss" not in m


def test_only_losing_trades_give_profit_factor_zero():
    t, eq = curve([(0.0, 100.0), (1.0, 90.0)])
    trades = [{"pnl": -10.0, "fees": 0.0, "entry_time": T0, "exit_time": T0 + 10}]
    m = compute_metrics(t, eq, trades, initial_capital=100, periods_per_year=365)
    assert m["profitFactor"] == 0.0
    assert m["winRatePct"] == 0.0
    assert "averageWin" not in m


def test_exposure_merges_overlapping_trades_and_clips_to_the_curve():
    t, eq = curve([(0.0, 100.0), (1.0, 100.0)])  # span: one day
    h = 3600
    trades = [
        {
            "pnl": 1.0,
            "fees": 0.0,
            "entry_time": T0 - 2 * h,
            "exit_time": T0 + 2 * h,
        },  # 2 h in
        {
            "pnl": 1.0,
            "fees": 0.0,
            "entry_time": T0 + 1 * h,
            "exit_time": T0 + 3 * h,
        },  # +1 h
        {
            "pnl": 1.0,
            "fees": 0.0,
            "entry_time": T0 + 10 * h,
            "exit_time": T0 + 12 * h,
        },  # +2 h
        {
            "pnl": 1.0,
            "fees": 0.0,
            "entry_time": T0 + 23 * h,
            "exit_time": T0 + 30 * h,
        },  # +1 h
    ]
    m = compute_metrics(t, eq, trades, initial_capital=100, periods_per_year=365)
    assert m["exposureTimePct"] == pytest.approx(6 / 24 * 100)
    given = compute_metrics(
        t,
        eq,
        trades,
        initial_capital=100,
        periods_per_year=365,
        exposure_seconds=12 * h,
    )
    assert given["exposureTimePct"] == pytest.approx(50.0)


def test_constant_curve_has_zero_return_and_no_risk_ratios():
    t = T0 + np.arange(10, dtype=np.int64) * DAY
    eq = np.full(10, 5000.0)
    m = compute_metrics(t, eq, [], initial_capital=5000, periods_per_year=365)
    assert m["totalReturn"] == 0.0
    assert m["maxDrawdownPct"] == 0.0
    assert m["longestDrawdownDays"] == 0.0
    assert m["volatilityPct"] == 0.0
    assert m["cagrPct"] == 0.0
    assert "sharpeRatio" not in m
    assert "sortinoRatio" not in m


def test_steady_growth_has_no_sortino_and_no_drawdown():
    t = T0 + np.arange(30, dtype=np.int64) * DAY
    eq = 100.0 * 1.01 ** np.arange(1, 31)  # +1 % every day, exactly
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365, start_time=T0 - DAY)
    assert m["maxDrawdownPct"] == 0.0
    assert m["longestDrawdownDays"] == 0.0
    assert "sortinoRatio" not in m  # no day below the (zero) target
    assert "sharpeRatio" not in m  # every daily return equal: zero volatility
    assert m["cagrPct"] == pytest.approx((1.01**365.25 - 1) * 100)  # 30 days of +1 %


def test_cagr_over_two_years():
    t = T0 + np.arange(730, dtype=np.int64) * DAY
    eq = np.linspace(100.0, 121.0, 730)
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365, start_time=T0 - DAY)
    assert m["cagrPct"] == pytest.approx((1.21 ** (365.25 / 730) - 1) * 100)  # ~10 % a year


def test_cagr_counts_calendar_days_for_every_asset_class():
    # A forex year: six sessions a week (Sunday to Friday), 313 daily closes. Counting 252
    # "days" a year would make it 1.24 years; it is one calendar year.
    days = np.array([d for d in range(366) if (d + 1) % 7 != 5], dtype=np.int64)  # T0 is a Monday
    t = T0 + (days + 1) * DAY - 1
    eq = np.linspace(101.0, 110.0, days.size)
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=252, start_time=T0)
    years = (t[-1] - T0) / DAY / 365.25
    assert m["cagrPct"] == pytest.approx((1.10 ** (1 / years) - 1) * 100)
    assert m["cagrPct"] == pytest.approx(10.0, abs=0.05)  # 366 days: just over a year
    assert (1.10 ** (252 / days.size) - 1) * 100 < 8  # what counting sessions as days gave


def test_one_day_is_too_little_for_daily_statistics():
    t, eq = curve([(0.1, 100.0), (0.5, 90.0), (0.9, 105.0)])
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365)
    assert m["totalReturn"] == pytest.approx(5.0)
    assert m["maxDrawdownPct"] == pytest.approx(10.0)
    for key in ("sharpeRatio", "sortinoRatio", "volatilityPct", "cagrPct"):
        assert key not in m


def test_drawdown_that_never_recovers_lasts_until_the_end():
    t, eq = curve([(0.0, 100.0), (1.0, 120.0), (2.0, 80.0), (5.5, 110.0)])
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365)
    assert m["maxDrawdownPct"] == pytest.approx(40 / 120 * 100)
    assert m["longestDrawdownDays"] == pytest.approx(4.5)


def test_first_point_below_initial_capital_is_a_drawdown_from_the_start():
    t, eq = curve([(0.0, 98.0), (1.0, 99.0), (3.0, 100.0)])
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365)
    assert m["maxDrawdownPct"] == pytest.approx(2.0)
    assert m["longestDrawdownDays"] == pytest.approx(3.0)  # regained 100 on day 3


def test_blown_account():
    t, eq = curve([(0.0, 100.0), (1.0, 50.0), (2.0, -20.0), (3.0, -10.0)])
    m = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365)
    assert m["maxDrawdownPct"] == 100.0  # clipped: losing more than everything is 100 %
    assert m["totalReturn"] == pytest.approx(-110.0)
    assert m["cagrPct"] == -100.0
    # Returns after a day that closed below zero are undefined.
    assert "sharpeRatio" not in m
    assert "volatilityPct" not in m


def test_risk_free_rate_is_annual_and_compounded_per_day():
    t = T0 + np.arange(4, dtype=np.int64) * DAY
    eq = np.array([101.0, 100.0, 103.0, 104.0])
    m0 = compute_metrics(t, eq, [], initial_capital=100, periods_per_year=365)
    m5 = compute_metrics(
        t, eq, [], initial_capital=100, periods_per_year=365, risk_free_rate=0.05
    )
    r = np.array([0.01, 100 / 101 - 1, 0.03, 104 / 103 - 1])
    rf = 1.05 ** (1 / 365) - 1
    assert m5["sharpeRatio"] == pytest.approx(
        (r.mean() - rf) / r.std(ddof=1) * math.sqrt(365)
    )
    assert m5["sharpeRatio"] < m0["sharpeRatio"]
    assert m5["volatilityPct"] == pytest.approx(m0["volatilityPct"])


def test_empty_curve():
    m = compute_metrics(
        np.array([], dtype=np.int64),
        np.array([]),
        [],
        initial_capital=1000,
        periods_per_year=365,
    )
    assert m == {"startEquity": 1000.0, "totalTrades": 0, "totalFees": 0.0}


@pytest.mark.parametrize(
    ("times", "equity", "match"),
    [
        ([1, 2], [1.0], "times has 2 points but equity has 1"),
        ([2, 1], [1.0, 1.0], "non-decreasing"),
        ([1, 2], [1.0, float("nan")], "finite"),
    ],
)
def test_malformed_curves_are_rejected(times, equity, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(times, equity, [], initial_capital=1, periods_per_year=365)


def test_bad_capital_is_rejected():
    with pytest.raises(ValueError, match="initial_capital"):
        compute_metrics([1], [1.0], [], initial_capital=0, periods_per_year=365)

"""The templates' indicator logic against hand-computed values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st


def test_sma_waits_for_a_full_window(ma):
    sma = ma.SMA(3)
    assert [sma.update(v) for v in (1, 2, 3, 4, 8)] == [None, None, 2, 3, 5]


def test_crossover_with_the_default_periods(ma):
    crossover = ma.Crossover(10, 20)
    closes = [100.0] * 20 + [110.0] + [100.0] * 3 + [60.0]
    signals = [crossover.update(c) for c in closes]
    # Bar 21: SMA10 = (9*100 + 110)/10 = 101 > SMA20 = (19*100 + 110)/20 = 100.5, and on
    # bar 20 both were 100: a cross up.
    assert signals[20] == "buy"
    # Bars 22-24: SMA10 = 101 > SMA20 = 100.5 still (the 110 is inside both windows).
    assert signals[21:24] == [None, None, None]
    # Bar 25: SMA10 = (8*100 + 110 + 60)/10 = 97 < SMA20 = (18*100 + 110 + 60)/20 = 98.5.
    assert signals[24] == "sell"
    assert [s for s in signals if s] == ["buy", "sell"]


def test_crossover_needs_a_previous_pair_before_signalling(ma):
    crossover = ma.Crossover(1, 2)
    # bar 2: fast 5 > slow 3 but there is no previous pair yet; bar 3: 1 < 3 -> cross down
    assert [crossover.update(c) for c in (1, 5, 1)] == [None, None, "sell"]


def _naive_signals(closes, fast, slow):
    def sma(i, n):
        return sum(closes[i - n + 1 : i + 1]) / n if i + 1 >= n else None

    signals = []
    for i in range(len(closes)):
        if i < slow:
            signals.append(None)
            continue
        f0, s0, f1, s1 = sma(i - 1, fast), sma(i - 1, slow), sma(i, fast), sma(i, slow)
        if f0 <= s0 and f1 > s1:
            signals.append("buy")
        elif f0 >= s0 and f1 < s1:
            signals.append("sell")
        else:
            signals.append(None)
    return signals


@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=80),
    st.integers(1, 5),
    st.integers(1, 6),
)
def test_crossover_matches_a_naive_recomputation(ma, closes, fast, extra):
    # Integer closes keep both implementations exact, so equality is meaningful.
    slow = fast + extra
    crossover = ma.Crossover(fast, slow)
    closes = [float(c) for c in closes]
    assert [crossover.update(c) for c in closes] == _naive_signals(closes, fast, slow)


def test_wilder_rsi_against_a_hand_worked_series(rsi):
    # Period 3; changes +1, -0.5, +1.5 | -1 | +0.5 | +1.5
    # first averages: gain 2.5/3, loss 0.5/3 -> RS 5 -> RSI 100 - 100/6 = 250/3
    # then gain (2.5/3*2 + 0)/3 = 5/9,   loss (0.5/3*2 + 1)/3 = 4/9   -> RS 5/4   -> 500/9
    # then gain (5/9*2 + 0.5)/3 = 29/54, loss (4/9*2)/3 = 16/54       -> RS 29/16 -> 580/9
    # then gain (29/54*2 + 1.5)/3 = 139/162, loss 32/162              -> RS 139/32 -> 13900/171
    indicator = rsi.WilderRSI(3)
    values = [indicator.update(c) for c in (10, 11, 10.5, 12, 11, 11.5, 13)]
    assert values[:3] == [None, None, None]
    assert values[3:] == pytest.approx([250 / 3, 500 / 9, 580 / 9, 13900 / 171])


def test_wilder_rsi_edges(rsi):
    flat, rising, falling = rsi.WilderRSI(2), rsi.WilderRSI(2), rsi.WilderRSI(2)
    assert [flat.update(c) for c in (5, 5, 5)][-1] == 50
    assert [rising.update(c) for c in (1, 2, 3, 3)][-2:] == [100, 100]
    assert [falling.update(c) for c in (3, 2, 1)][-1] == 0


def test_rsi_signals_when_leaving_the_zones(rsi):
    momentum = rsi.RsiMomentum(3, 30, 70)
    signals, values = [], []
    for close in (10, 9, 8, 7, 7.5, 9, 10, 11, 10.4, 9):
        signals.append(momentum.update(close))
        values.append(momentum.value)
    # Average gain : loss by hand from bar 4: 0 : 1, 1/6 : 2/3, 11/18 : 4/9,
    # 20/27 : 8/27, 67/81 : 16/81, 134/243 : 0.3317, 268/729 : 0.6878
    assert values[3:] == pytest.approx([0, 20, 57.89, 71.43, 80.72, 62.44, 34.83], abs=0.01)
    # leaves oversold on 20 -> 57.9, leaves overbought on 80.7 -> 62.4
    assert signals == [None] * 5 + ["buy", None, None, "sell", None]


def test_sizing_and_brackets(ma, rsi):
    for logic in (ma, rsi):
        # 10% of 100,000 at 37,000 = 0.27027027... rounded down to 8 decimals
        assert logic.order_quantity(Decimal(100000), 0.10, Decimal(37000), 8) == Decimal("0.27027027")
        assert logic.order_quantity(Decimal(1000), 0.10, Decimal(3), 0) == Decimal(33)
        assert logic.order_quantity(Decimal(0), 0.10, Decimal(3), 8) == 0
        assert logic.bracket_prices(Decimal("200"), 2.5, 10) == (Decimal("195"), Decimal("220"))
        assert logic.bracket_prices(Decimal("200"), None, None) == (None, None)

import numpy as np
import pytest
from tektii_testkit import ts

from tektii_core.contracts import TektiiError
from tektii_engine.data.generate import generate, write_generated


def test_reproducible_per_seed_and_symbol():
    a = generate("C:BTCUSD", "2024-01-01", "2024-01-02", seed=3)
    assert a.equals(generate("C:BTCUSD", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", seed=3))
    assert not a.equals(generate("C:BTCUSD", "2024-01-01", "2024-01-02", seed=4))
    assert not np.array_equal(
        a.close / a.close[0],
        (e := generate("C:ETHUSD", "2024-01-01", "2024-01-02", seed=3)).close / e.close[0],
    )


def test_crypto_trades_around_the_clock_with_plausible_prices_and_ranges():
    week = generate("C:BTCUSD", "2024-01-06", "2024-01-13", seed=1)  # from a Saturday
    assert len(week) == 7 * 1440
    assert np.all(np.diff(week.time) == 60)
    assert 20_000 < week.close.min() and week.close.max() < 80_000
    assert np.all(week.high >= np.maximum(week.open, week.close))
    assert np.all(week.low <= np.minimum(week.open, week.close))
    assert np.all(week.volume > 0)
    spread = np.median((week.high - week.low) / week.close)
    assert 0.0002 < spread < 0.005  # a BTC minute moves by a few hundredths of a percent
    assert np.all(week.open[1:] == week.close[:-1])  # 24/7: each bar opens at the last close


def test_forex_skips_the_weekend():
    bars = generate("F:EURUSD", "2024-01-01", "2024-01-29", seed=2)
    hours_into_week = ((bars.time - ts("2024-01-01T00:00")) % (7 * 86400)) / 3600
    closed = (hours_into_week >= 4 * 24 + 22) & (hours_into_week < 6 * 24 + 22)
    assert not closed.any()
    assert ts("2024-01-05T21:59") in bars.time and ts("2024-01-05T22:00") not in bars.time
    assert ts("2024-01-07T21:59") not in bars.time and ts("2024-01-07T22:00") in bars.time
    assert 0.95 < bars.close.min() and bars.close.max() < 1.25
    assert np.all(np.round(bars.close, 5) == bars.close)  # quoted in pips/10


def test_stocks_skip_saturday_and_sunday():
    days = generate("S:SPX", "2024-01-01", "2024-01-15", timeframe="1d")
    assert [(int(t) // 86400 + 3) % 7 for t in days.time] == [0, 1, 2, 3, 4] * 2


def test_written_as_synthetic_and_replacing(store):
    info = write_generated(store, "C:BTCUSD", "2024-01-01", "2024-01-02", timeframe="5m", seed=9)
    assert info.synthetic and info.to_api()["synthetic"] is True
    assert info.rows == 288 and info.base_timeframe == "5m"
    again = write_generated(store, "C:BTCUSD", "2024-02-01", "2024-02-02", timeframe="1m")
    assert again.rows == 1440 and again.start == ts("2024-02-01T00:00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2024-01-02", "end": "2024-01-01"}, "the end must be after the start"),
        ({"seed": -1}, "the seed must be a non-negative integer"),
        ({"start": "1990-01-01", "end": "2030-01-01"}, "more than 20,000,000 1m bars"),
        ({"timeframe": "3m"}, "unknown timeframe '3m'"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"start": "2024-01-01", "end": "2024-01-02", **kwargs}
    with pytest.raises(TektiiError, match=message):
        generate("C:BTCUSD", args.pop("start"), args.pop("end"), **args)


def test_a_window_when_the_market_is_closed():
    with pytest.raises(TektiiError, match="F:EURUSD does not trade between"):
        generate("F:EURUSD", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z")

import numpy as np
import pytest
from tektii_testkit import (
    assert_rows_close,
    candles,
    minute_bars,
    reference_aggregate,
    ts,
)

from tektii_core.contracts import TektiiError
from tektii_engine.data import timeframes
from tektii_engine.data.aggregate import StreamAggregator, aggregate
from tektii_engine.data.candles import Candles
from tektii_engine.data.generate import generate


def test_five_minutes_by_hand():
    base = candles(
        [
            ("2024-01-01T00:00", 10.0, 11.0, 9.5, 10.5, 1.0),
            ("2024-01-01T00:01", 10.5, 12.0, 10.0, 11.0, 2.0),
            ("2024-01-01T00:02", 11.0, 11.5, 8.0, 9.0, 3.0),
            ("2024-01-01T00:04", 9.0, 9.5, 8.5, 9.25, 4.0),  # 00:03 is missing
            ("2024-01-01T00:05", 9.25, 10.0, 9.0, 9.75, 5.0),
            ("2024-01-01T00:09", 9.75, 13.0, 9.5, 12.5, 6.0),
            # 00:10-00:14 missing entirely: no bar may be fabricated for it
            ("2024-01-01T00:15", 12.5, 12.75, 12.0, 12.25, 7.0),
        ]
    )
    out = aggregate(base, "1m", "5m")
    assert out.rows() == [
        (ts("2024-01-01T00:00"), 10.0, 12.0, 8.0, 9.25, 10.0),
        (ts("2024-01-01T00:05"), 9.25, 13.0, 9.0, 12.5, 11.0),
        (ts("2024-01-01T00:15"), 12.5, 12.75, 12.0, 12.25, 7.0),
    ]


def test_week_bars_start_on_monday_by_hand():
    days = candles(
        [
            ("2024-01-05T00:00", 1.0, 2.0, 0.5, 1.5, 10.0),  # Friday
            (
                "2024-01-07T00:00",
                1.5,
                3.0,
                1.0,
                2.5,
                20.0,
            ),  # Sunday: still the week of Jan 1
            ("2024-01-08T00:00", 2.5, 2.75, 2.0, 2.25, 30.0),  # Monday: a new week
            ("2024-01-10T00:00", 2.25, 4.0, 1.75, 3.5, 40.0),
        ]
    )
    assert aggregate(days, "1d", "1w").rows() == [
        (ts("2024-01-01T00:00"), 1.0, 3.0, 0.5, 2.5, 30.0),
        (ts("2024-01-08T00:00"), 2.5, 4.0, 1.75, 3.5, 70.0),
    ]


def test_day_boundary_by_hand():
    minutes = candles(
        [
            ("2024-02-29T23:58", 5.0, 5.5, 4.5, 5.25, 1.0),
            ("2024-02-29T23:59", 5.25, 6.0, 5.0, 5.5, 1.0),
            ("2024-03-01T00:00", 5.5, 5.75, 3.0, 4.0, 2.0),
        ]
    )
    assert aggregate(minutes, "1m", "1d").rows() == [
        (ts("2024-02-29T00:00"), 5.0, 6.0, 4.5, 5.5, 2.0),
        (ts("2024-03-01T00:00"), 5.5, 5.75, 3.0, 4.0, 2.0),
    ]


@pytest.mark.parametrize("tf", timeframes.TIMEFRAMES)
def test_every_timeframe_matches_the_row_by_row_reference(tf):
    # Three weeks of minutes from a Thursday, with holes of every size cut out.
    base = minute_bars("2024-01-04T21:37", 3 * 7 * 1440)
    keep = np.ones(len(base), dtype=bool)
    rng = np.random.default_rng(3)
    for start in rng.integers(0, len(base), 40):
        keep[start : start + int(rng.integers(1, 3000))] = False
    base = base[keep]
    out = aggregate(base, "1m", tf)
    assert_rows_close(out, reference_aggregate(base, tf))
    assert out.volume.sum() == pytest.approx(base.volume.sum())


def test_forex_weekend_produces_no_bars():
    hours = generate("F:EURUSD", "2024-01-01", "2024-01-15", timeframe="1h")
    days = aggregate(hours, "1h", "1d")
    weekdays = [(int(t) // 86400 + 3) % 7 for t in days.time]  # 0 = Monday
    assert 5 not in weekdays  # no Saturday bar
    sundays = days.time[np.array(weekdays) == 6]
    assert len(sundays) == 2
    # A Sunday bar holds only the hours after the 22:00 UTC open.
    sunday = hours[(hours.time >= sundays[0]) & (hours.time < sundays[0] + 86400)]
    assert [(int(t) % 86400) // 3600 for t in sunday.time] == [22, 23]


def test_a_finer_timeframe_than_stored_is_refused():
    with pytest.raises(TektiiError, match="timeframe 5m is finer than the stored 1h data"):
        aggregate(Candles.empty(), "1h", "5m")


def test_a_timeframe_the_base_does_not_divide_is_refused():
    with pytest.raises(TektiiError, match="5m cannot be built from 2m data") as caught:
        aggregate(Candles.empty(), "2m", "5m")
    assert "10m" in (caught.value.hint or "")


def test_same_timeframe_is_the_input():
    base = minute_bars("2024-01-01T00:00", 10)
    assert aggregate(base, "1m", "1m").equals(base)


@pytest.mark.parametrize("tf", ["5m", "1h", "1d", "1w"])
@pytest.mark.parametrize("chunk", [13, 1000, 50_000])
def test_stream_aggregator_equals_one_pass(tf, chunk):
    base = generate("C:BTCUSD", "2024-01-01", "2024-01-20", timeframe="1m", seed=5)
    base = base[np.random.default_rng(1).random(len(base)) > 0.05]  # missing minutes
    stream = StreamAggregator("1m", tf)
    parts = [stream.feed(base[i : i + chunk]) for i in range(0, len(base), chunk)]
    parts.append(stream.flush())
    assert Candles.concat(parts).equals(aggregate(base, "1m", tf))


def test_candles_reject_unequal_columns():
    with pytest.raises(ValueError, match="equal length"):
        Candles([1, 2], [1.0], [1.0], [1.0], [1.0], [1.0])

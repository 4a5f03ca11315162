import subprocess
import sys

import numpy as np
import pytest
from tektii_testkit import bucket_of, ts

from tektii_core.contracts import TektiiError
from tektii_core.timeutil import format_time
from tektii_engine.data import timeframes
from tektii_engine.data.symbols import parse_symbol


def test_timeframes_are_the_spec_list_with_their_lengths():
    assert timeframes.TIMEFRAMES == (
        "1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "12h", "1d", "1w",
    )  # fmt: skip
    assert [timeframes.seconds(tf) for tf in ("1m", "15m", "4h", "1d", "1w")] == [
        60, 900, 14400, 86400, 604800,
    ]  # fmt: skip
    with pytest.raises(TektiiError, match="unknown timeframe '3m'; use one of 1m, 2m"):
        timeframes.seconds("3m")


def test_importing_timeframes_does_not_import_numpy():
    code = "import sys, tektii_engine.data.timeframes; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_day_boundary_is_midnight_utc():
    assert timeframes.bucket_start(ts("2024-03-05T23:59"), "1d") == ts("2024-03-05T00:00")
    assert timeframes.bucket_start(ts("2024-03-06T00:00"), "1d") == ts("2024-03-06T00:00")
    assert timeframes.bucket_start(ts("2024-03-05T11:59"), "12h") == ts("2024-03-05T00:00")
    assert timeframes.bucket_start(ts("2024-03-05T12:00"), "12h") == ts("2024-03-05T12:00")


def test_weeks_start_on_monday_utc():
    monday = ts("2024-01-08T00:00")  # 2024-01-08 is a Monday
    assert timeframes.bucket_start(monday, "1w") == monday
    assert timeframes.bucket_start(monday - 1, "1w") == ts("2024-01-01T00:00")
    assert timeframes.bucket_start(ts("2024-01-14T23:59"), "1w") == monday  # Sunday night
    # The epoch itself was a Thursday: its week began Monday 1969-12-29.
    assert timeframes.bucket_start(0, "1w") == ts("1969-12-29T00:00")


@pytest.mark.parametrize("tf", timeframes.TIMEFRAMES)
def test_bucket_start_matches_calendar_arithmetic_on_arrays(tf):
    rng = np.random.default_rng(7)
    times = np.sort(rng.integers(ts("2020-01-01T00:00"), ts("2026-01-01T00:00"), 500))
    expected = [bucket_of(int(t), tf) for t in times]
    assert timeframes.bucket_start(times, tf).tolist() == expected


def test_granularities_are_the_timeframes_a_base_divides():
    assert timeframes.granularities("1m") == list(timeframes.TIMEFRAMES)
    assert timeframes.granularities("1h") == ["1h", "2h", "4h", "12h", "1d", "1w"]
    assert timeframes.granularities("2m") == ["2m", "10m", "30m", "1h", "2h", "4h", "12h",
                                              "1d", "1w"]  # fmt: skip
    assert timeframes.granularities("1d") == ["1d", "1w"]


def test_parse_and_format_time():
    assert timeframes.parse_time("2024-01-01T00:00:00Z") == 1704067200
    assert timeframes.parse_time("2024-01-01T02:00:00+02:00") == 1704067200
    assert timeframes.parse_time("2024-01-01") == 1704067200
    assert timeframes.parse_time(1704067200) == 1704067200
    assert format_time(1704067200) == "2024-01-01T00:00:00Z"
    with pytest.raises(TektiiError, match="invalid time 'yesterday'"):
        timeframes.parse_time("yesterday")


@pytest.mark.parametrize(
    ("text", "symbol", "market", "name"),
    [
        ("C:BTCUSD", "C:BTCUSD", "CRYPTO", "BTC/USD"),
        ("c:ethusdt", "C:ETHUSDT", "CRYPTO", "ETH/USDT"),
        ("F:EURUSD", "F:EURUSD", "FOREX", "EUR/USD"),
        ("F:usdjpy", "F:USDJPY", "FOREX", "USD/JPY"),
        ("S:SPX", "S:SPX", "STOCK", "SPX"),
        ("S:^GSPC", "S:^GSPC", "STOCK", "^GSPC"),
        ("S:BRK.B", "S:BRK.B", "STOCK", "BRK.B"),
    ],
)
def test_symbols(text, symbol, market, name):
    parsed = parse_symbol(text)
    assert (parsed.symbol, parsed.market, parsed.name) == (symbol, market, name)


@pytest.mark.parametrize("text", ["BTCUSD", "X:BTCUSD", "F:EURO", "C:BTC", "S:../etc", "", "F:"])
def test_bad_symbols_name_the_accepted_forms(text):
    with pytest.raises(TektiiError) as caught:
        parse_symbol(text)
    message = caught.value.message
    assert f"invalid symbol {text!r}" in message
    assert "C:BTCUSD" in message and "F:EURUSD" in message and "S:<TICKER>" in message

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tektii_testkit import candles, minute_bars, ts

from tektii_core.contracts import TektiiError
from tektii_engine.data import timeframes
from tektii_engine.data.aggregate import aggregate
from tektii_engine.data.candles import Candles
from tektii_engine.data.generate import generate, write_generated
from tektii_engine.data.store import CandleStore


def test_write_then_read_round_trip_and_metadata(store):
    base = minute_bars("2024-01-01T00:00", 90)
    info = store.write("c:btcusd", base, base_timeframe="1m", source="imported")
    assert info.symbol == "C:BTCUSD" and info.rows == 90
    assert store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-01-02").equals(base)
    assert store.info("C:BTCUSD") == info
    assert sorted(p.name for p in store.root.iterdir() if not p.name.startswith(".")) == [
        "C_BTCUSD.json",
        "C_BTCUSD.parquet",
    ]
    meta = json.loads((store.root / "C_BTCUSD.json").read_text())
    assert meta["baseTimeframe"] == "1m" and meta["source"] == "imported"
    assert meta["start"] == "2024-01-01T00:00:00Z" and meta["end"] == "2024-01-01T01:30:00Z"


def test_instrument_api_object(store):
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 5), base_timeframe="1m",
                source="imported")  # fmt: skip
    write_generated(store, "F:EURUSD", "2024-01-01", "2024-01-03", timeframe="1h")
    listed = [i.to_api() for i in store.list_instruments()]
    assert listed == [
        {
            "symbol": "C:BTCUSD",
            "name": "BTC/USD",
            "market": "CRYPTO",
            "dataStart": "2024-01-01T00:00:00Z",
            "dataEnd": "2024-01-01T00:05:00Z",
            "granularities": list(timeframes.TIMEFRAMES),
            "synthetic": False,
            "source": "imported",
            "rows": 5,
        },
        {
            "symbol": "F:EURUSD",
            "name": "EUR/USD",
            "market": "FOREX",
            "dataStart": "2024-01-01T00:00:00Z",
            "dataEnd": "2024-01-03T00:00:00Z",
            "granularities": ["1h", "2h", "4h", "12h", "1d", "1w"],
            "synthetic": True,
            "source": "synthetic",
            "rows": 48,
        },
    ]


def test_empty_or_missing_store(tmp_path):
    store = CandleStore(tmp_path / "nothing-yet")
    assert store.list_instruments() == []
    assert store.info("C:BTCUSD") is None
    with pytest.raises(TektiiError, match="no market data for C:BTCUSD"):
        store.read("C:BTCUSD", "1m", 0, 10)  # raised at the call, not at the first next()


def test_window_start_inclusive_end_exclusive(store):
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 180), base_timeframe="1m",
                source="imported")  # fmt: skip
    got = store.read_all("C:BTCUSD", "1m", "2024-01-01T00:10:00Z", "2024-01-01T00:20:00Z")
    assert got.time[0] == ts("2024-01-01T00:10") and got.time[-1] == ts("2024-01-01T00:19")
    assert len(got) == 10
    hours = store.read_all("C:BTCUSD", "1h", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z")
    assert hours.time.tolist() == [ts("2024-01-01T01:00")]
    # A bucket opening before the start is left out; one opening before the end is whole.
    partial = store.read_all("C:BTCUSD", "1h", "2024-01-01T00:30:00Z", "2024-01-01T01:30:00Z")
    assert partial.time.tolist() == [ts("2024-01-01T01:00")]
    whole = aggregate(minute_bars("2024-01-01T00:00", 180), "1m", "1h")
    assert partial.equals(whole[1:2])
    assert len(store.read_all("C:BTCUSD", "5m", "2024-01-01T00:10:00Z", "2024-01-01T00:10:00Z")) == 0
    assert len(store.read_all("C:BTCUSD", "1m", "2023-01-01", "2023-12-31")) == 0


def test_reading_a_finer_timeframe_is_refused(store):
    write_generated(store, "F:EURUSD", "2024-01-01", "2024-01-03", timeframe="1h")
    with pytest.raises(TektiiError, match="timeframe 15m is finer than the stored 1h data"):
        store.read("F:EURUSD", "15m", "2024-01-01", "2024-01-02")


@pytest.fixture(scope="module")
def gappy_store(tmp_path_factory):
    """Two weeks of BTC minutes with holes, in small row groups so many are skipped."""
    store = CandleStore(tmp_path_factory.mktemp("gappy"), row_group_rows=1_000)
    base = generate("C:BTCUSD", "2024-03-01", "2024-03-15", seed=11)
    keep = np.random.default_rng(2).random(len(base)) > 0.1
    keep[5_000:9_000] = False
    base = base[keep]
    store.write("C:BTCUSD", base, base_timeframe="1m", source="synthetic")
    return store, base


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tf=st.sampled_from(timeframes.TIMEFRAMES),
    chunk_rows=st.integers(1, 5_000),
    start=st.integers(-86_400, 15 * 86_400),
    length=st.integers(0, 15 * 86_400),
)
def test_chunked_reading_equals_whole_reading(gappy_store, tf, chunk_rows, start, length):
    store, base = gappy_store
    t0 = ts("2024-03-01T00:00") + start
    t1 = t0 + length
    chunks = list(store.read("C:BTCUSD", tf, t0, t1, chunk_rows=max(chunk_rows, 1)))
    assert all(len(c) for c in chunks)
    got = Candles.concat(chunks)
    whole = aggregate(base, "1m", tf)
    expected = whole[(whole.time >= t0) & (whole.time < t1)]
    assert got.equals(expected)


def test_merge_new_rows_win_and_never_duplicate(store):
    first = minute_bars("2024-01-01T00:00", 10, price=100)
    store.write("C:BTCUSD", first, base_timeframe="1m", source="imported")
    overlap = minute_bars("2024-01-01T00:05", 10, price=500)
    info = store.write("C:BTCUSD", overlap, base_timeframe="1m", source="imported")
    got = store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-01-02")
    assert info.rows == 15 and len(got) == 15
    assert len(np.unique(got.time)) == 15
    assert got.open.tolist()[:5] == first.open.tolist()[:5]
    assert got.open.tolist()[5:] == overlap.open.tolist()  # new rows win on equal times
    assert info.end == ts("2024-01-01T00:15")
    # Re-importing the same data changes nothing.
    store.write("C:BTCUSD", overlap, base_timeframe="1m", source="imported")
    assert store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-01-02").equals(got)


def test_merge_keeps_order_when_new_rows_come_first(store):
    later = minute_bars("2024-01-02T00:00", 3)
    earlier = minute_bars("2024-01-01T00:00", 3)
    store.write("C:BTCUSD", later, base_timeframe="1m", source="imported")
    store.write("C:BTCUSD", earlier, base_timeframe="1m", source="imported")
    got = store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-01-03")
    assert got.equals(Candles.concat([earlier, later]))
    assert store.info("C:BTCUSD").start == ts("2024-01-01T00:00")


def test_replace_discards_what_was_stored(store):
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 10), base_timeframe="1m",
                source="imported")  # fmt: skip
    new = minute_bars("2024-02-01T00:00", 4)
    info = store.write("C:BTCUSD", new, base_timeframe="1m", source="imported", mode="replace")
    assert info.rows == 4
    assert store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-03-01").equals(new)


def test_merge_refuses_other_base_timeframe_or_source(store):
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 10), base_timeframe="1m",
                source="imported")  # fmt: skip
    before = (store.root / "C_BTCUSD.parquet").read_bytes()
    hours = candles([("2024-01-02T00:00", 1.0, 2.0, 0.5, 1.5, 1.0)])
    with pytest.raises(TektiiError, match="C:BTCUSD holds 1m data; cannot merge 1h") as caught:
        store.write("C:BTCUSD", hours, base_timeframe="1h", source="imported")
    assert "--replace" in caught.value.hint
    with pytest.raises(TektiiError, match="holds imported data; cannot merge synthetic"):
        store.write("C:BTCUSD", hours, base_timeframe="1m", source="synthetic")
    assert (store.root / "C_BTCUSD.parquet").read_bytes() == before


def test_a_failed_write_leaves_the_old_files_and_no_temporary(store, monkeypatch):
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 10), base_timeframe="1m",
                source="imported")  # fmt: skip
    before = {p.name: p.read_bytes() for p in store.root.iterdir()}

    def broken_write_table(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken_write_table)
    with pytest.raises(OSError, match="disk full"):
        store.write("C:BTCUSD", minute_bars("2024-01-01T00:10", 10), base_timeframe="1m",
                    source="imported")  # fmt: skip
    after = {p.name: p.read_bytes() for p in store.root.iterdir()}
    assert after == before


def test_files_are_written_in_row_groups(tmp_path):
    store = CandleStore(tmp_path, row_group_rows=100)
    store.write("C:BTCUSD", minute_bars("2024-01-01T00:00", 1_050), base_timeframe="1m",
                source="imported")  # fmt: skip
    assert pq.ParquetFile(tmp_path / "C_BTCUSD.parquet").num_row_groups == 11
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_write_refuses_candles_that_break_the_invariants(store):
    bad = candles([("2024-01-01T00:00", 10.0, 9.0, 8.0, 9.5, 1.0)])  # high below open
    with pytest.raises(ValueError, match="high >= max"):
        store.write("C:BTCUSD", bad, base_timeframe="1m", source="imported")
    unsorted = Candles.concat([minute_bars("2024-01-01T00:05", 2), minute_bars("2024-01-01T00:00", 2)])
    with pytest.raises(ValueError, match="ascending"):
        store.write("C:BTCUSD", unsorted, base_timeframe="1m", source="imported")
    assert store.list_instruments() == []

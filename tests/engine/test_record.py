"""The reproducibility record: the candle checksum sees every bar and only the bars, the
config hash is canonical, and comparing two runs names the cause of a difference."""

from __future__ import annotations

import numpy as np

from tektii_engine.data.candles import Candles
from tektii_engine.record import ChecksummedFeed, canonical_hash, compare_runs, engine_identity


def feed_of(closes: dict[str, list[float]]):
    def feed(symbol, timeframe, start, end):
        values = np.array(closes[symbol])
        times = np.arange(len(values), dtype=np.int64) * 3600
        yield Candles(times, values, values + 1, values - 1, values, np.ones(len(values)))

    return feed


def checksum(closes, order) -> str:
    feed = ChecksummedFeed(feed_of(closes))
    for symbol in order:
        list(feed(symbol, "1h", 0, 10**9))
    return feed.checksum()


def test_the_candle_checksum_covers_every_bar_in_any_read_order():
    closes = {"F:EURUSD": [1.0, 1.1, 1.2], "F:GBPUSD": [1.5, 1.4]}
    first = checksum(closes, ["F:EURUSD", "F:GBPUSD"])
    assert first == checksum(closes, ["F:GBPUSD", "F:EURUSD"])
    moved = {**closes, "F:GBPUSD": [1.5, 1.4000001]}
    assert checksum(moved, ["F:EURUSD", "F:GBPUSD"]) != first


def test_the_config_hash_is_canonical():
    assert canonical_hash({"a": 1, "b": [1, 2]}) == canonical_hash({"b": [1, 2], "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": 1.5})
    assert engine_identity()["engineSourceHash"].startswith("sha256:")


RECORD = {"imageDigest": None, "template": "ma-crossover", "templateHash": "sha256:t", "engineVersion": "0.1.0",
          "engineSourceHash": "sha256:e", "configHash": "sha256:c", "candlesChecksum": "sha256:d", "candlesReplayed": 3}
RUN = {"reproducibility": RECORD, "fills": [{"time": "2024-01-01T00:00:00Z", "price": 1.0}], "orders": [],
       "equityCurve": [{"time": "2024-01-01T00:00:00Z", "equity": 100.0}], "trades": [], "metrics": {"totalReturn": 0.5}}


def test_compare_runs_names_the_cause():
    assert compare_runs(RUN, RUN) == {"identical": True, "differences": [], "resultDifferences": []}
    other_fill = {**RUN, "fills": [{"time": "2024-01-01T00:00:00Z", "price": 1.0000000000000002}]}
    found = compare_runs(RUN, other_fill)
    assert not found["identical"]
    assert [d["cause"] for d in found["differences"]] == ["nondeterministic"]
    assert found["resultDifferences"] == [{"part": "fills", "detail": "item 0 (at 2024-01-01T00:00:00Z) differs in price"}]
    new_data = {**other_fill, "reproducibility": {**RECORD, "candlesChecksum": "sha256:x"}}
    found = compare_runs(RUN, new_data)
    assert [d["cause"] for d in found["differences"]] == ["data"]
    assert found["differences"][0]["fields"] == [{"field": "candlesChecksum", "first": "sha256:d", "second": "sha256:x"}]
    new_engine = {**RUN, "reproducibility": {**RECORD, "engineSourceHash": "sha256:f", "templateHash": "sha256:u"}}
    assert [d["cause"] for d in compare_runs(RUN, new_engine)["differences"]] == ["strategy", "engine"]

"""Property-based fuzzing of the market-data importer on generated CSV rows (hypothesis).

Valid rows round-trip exactly in every layout the importer accepts; arbitrary rows either
import or raise DataValidationError (never anything else), and reading in small chunks
gives the same answer as reading the file at once."""

from __future__ import annotations

import gzip
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tektii_engine.data import importer
from tektii_engine.data.importer import DataValidationError, ImportLimits, read_file

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
price = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def valid_bars(draw):
    n = draw(st.integers(min_value=2, max_value=40))
    bars = []
    for i in range(n):
        o, c, up, down = draw(price), draw(price), draw(st.floats(0, 100)), draw(st.floats(0, 0.999))
        high, low = max(o, c) + up, min(o, c) * (1 - down)
        bars.append((T0 + 60 * i, o, high, low, c, draw(st.floats(0, 1e9))))
    return bars


def _time_text(t: int, style: str) -> str:
    if style == "iso":
        return np.datetime_as_string(np.datetime64(t, "s")) + "Z"
    return str(t * 1000) if style == "ms" else str(t)


@SETTINGS
@given(bars=valid_bars(), delimiter=st.sampled_from(",;\t|"), style=st.sampled_from(["iso", "s", "ms"]),
       packed=st.booleans(), chunk=st.integers(min_value=1, max_value=50))
def test_valid_rows_round_trip(tmp_path, bars, delimiter, style, packed, chunk):
    lines = [delimiter.join(["timestamp", "open", "high", "low", "close", "volume"])]
    lines += [delimiter.join([_time_text(t, style), *(repr(v) for v in values)]) for t, *values in bars]
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("bars.csv.gz" if packed else "bars.csv")
    path.write_bytes(gzip.compress(text) if packed else text)
    with mock.patch.object(importer, "CHUNK_ROWS", chunk):
        loaded = read_file(path)
    assert loaded.timeframe == "1m"
    got = loaded.candles
    expected = np.array(bars, dtype=np.float64)
    assert got.time.tolist() == [b[0] for b in bars]
    for k, column in enumerate((got.open, got.high, got.low, got.close, got.volume), start=1):
        assert column.tolist() == expected[:, k].tolist()


# Cells from pieces that look like CSV candles, joined anyhow (no "/": a d/m/y column is
# ordered by its first chunk, so chunked and whole reads may legitimately differ there).
piece = st.sampled_from(["2024-01-01T00:0", "0:00Z", "1704067", "200", "1", "0", "-", ".", "e", "9", "x", ",", '"',
                         " ", "\n", "NaN", "inf", "60", ":"])
cell = st.lists(piece, max_size=4).map("".join)
row = st.lists(cell, min_size=0, max_size=7).map(",".join)


@SETTINGS
@given(rows=st.lists(row, max_size=30), chunk=st.integers(min_value=1, max_value=8))
def test_arbitrary_rows_import_or_fail_cleanly_and_chunking_changes_nothing(tmp_path, rows, chunk):
    path = tmp_path / "fuzz.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    limits = ImportLimits(max_problems=10**9)  # no early stop: both reads see every row

    def outcome():
        try:
            loaded = read_file(path, limits=limits)
        except DataValidationError as exc:
            assert 1 <= len(exc.problems) <= min(exc.total, importer.REPORTED_PROBLEMS)
            return ("invalid", exc.message)
        candles = loaded.candles
        assert np.all(np.diff(candles.time) > 0)
        assert np.all(candles.high >= np.maximum(candles.open, candles.close))
        assert np.all(candles.low <= np.minimum(candles.open, candles.close))
        return ("ok", loaded.timeframe, candles.time.tolist(), candles.close.tolist())

    whole = outcome()
    with mock.patch.object(importer, "CHUNK_ROWS", chunk):
        assert outcome() == whole

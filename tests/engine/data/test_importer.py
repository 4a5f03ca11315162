import gzip
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tektii_testkit import (
    assert_rows_close,
    minute_bars,
    reference_aggregate,
    shipped_file,
    ts,
    write_text,
)

from tektii_core.contracts import TektiiError
from tektii_engine.data.aggregate import aggregate
from tektii_engine.data.importer import DataValidationError, import_file, load_file, read_file

GOOD = """timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T00:01:00Z,100.5,102,100,101.5,11
2024-01-01T00:02:00Z,101.5,101.5,100.5,101,12
"""


def problems_of(path, **kwargs):
    with pytest.raises(DataValidationError) as caught:
        load_file(path, **kwargs)
    error = caught.value
    assert isinstance(error, TektiiError)
    assert all(p in error.message for p in error.problems)  # every problem is shown
    assert "nothing was imported" in error.message
    return error.problems


# -- layouts ----------------------------------------------------------------------------


def test_iso_csv_infers_one_minute(tmp_path):
    loaded = read_file(write_text(tmp_path / "a.csv", GOOD))
    assert loaded.timeframe == "1m"
    assert loaded.candles.rows()[0] == (ts("2024-01-01T00:00"), 100, 101, 99, 100.5, 10)
    assert len(loaded.candles) == 3


@pytest.mark.parametrize(
    ("header", "stamps"),
    [
        ("Date", ["2024-01-01", "2024-01-02", "2024-01-03"]),
        ("DATETIME", ["2024-01-01 00:00:00", "2024-01-02 00:00:00", "2024-01-03 00:00:00"]),
        ("time", ["2024-01-01T02:00:00+02:00", "2024-01-02T01:00+01:00", "2024-01-02T19:00-05:00"]),
        ("timestamp", ["1704067200", "1704153600", "1704240000"]),  # epoch seconds
        ("timestamp", ["1704067200000", "1704153600000", "1704240000000"]),  # epoch ms
        ("Date", ["1/1/2024", "1/2/2024", "1/3/2024"]),  # US month/day/year
        ("Date", ["30/12/2023", "31/12/2023", "1/1/2024"]),  # day first: 30 > 12
        ("Gmt time", ["01.01.2024 00:00:00.000", "02.01.2024 00:00:00.000", "03.01.2024 00:00"]),
        ("<DATE>", ["2024.01.01", "2024.01.02", "2024.01.03"]),  # MetaTrader
    ],
)
def test_time_formats(tmp_path, header, stamps):
    rows = [f"{s},1,2,0.5,1.5,3" for s in stamps]
    path = write_text(tmp_path / "d.csv", f"{header},Open,High,Low,Close,Volume\n" + "\n".join(rows))
    loaded = read_file(path)
    first = ts("2023-12-30T00:00") if stamps[0].startswith("30/") else ts("2024-01-01T00:00")
    assert loaded.candles.time.tolist() == [first, first + 86400, first + 2 * 86400]
    assert loaded.timeframe == "1d"


def test_semicolons_gzip_bom_and_no_volume(tmp_path):
    text = "\ufeffDATE;TIME;OPEN;HIGH;LOW;CLOSE\n2024-01-01;00:00;1;2;0.5;1\n2024-01-01;01:00;1;2;0.5;1\n"
    path = tmp_path / "mt.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    loaded = read_file(path)
    assert loaded.timeframe == "1h"
    assert loaded.candles.time.tolist() == [ts("2024-01-01T00:00"), ts("2024-01-01T01:00")]
    assert loaded.candles.volume.tolist() == [0.0, 0.0]  # volume is optional


def test_unnamed_index_column_as_pandas_writes_it(tmp_path):
    path = write_text(
        tmp_path / "i.csv",
        ",Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-01 00:00:00+00:00,1,2,0.5,1.5,1.4,3\n"
        "2024-01-01 00:05:00+00:00,1,2,0.5,1.25,1.2,3\n",
    )
    loaded = read_file(path)
    assert loaded.timeframe == "5m"
    assert loaded.candles.close.tolist() == [1.5, 1.25]  # Close, not Adj Close


def test_declared_timeframe_with_gaps(tmp_path):
    path = write_text(
        tmp_path / "g.csv",
        "time,open,high,low,close\n2024-01-01T00:00Z,1,1,1,1\n2024-01-01T00:03Z,1,1,1,1\n2024-01-01T00:09Z,1,1,1,1\n",
    )
    assert read_file(path, timeframe="1m").timeframe == "1m"
    assert problems_of(path) == ["rows are 270 s apart (median), which is not a timeframe "
                                 "(1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 4h, 12h, 1d, 1w)"]  # fmt: skip


def test_parquet_typed_columns(tmp_path):
    base = minute_bars("2024-01-01T00:00", 4)
    for kind in (pa.timestamp("ns", tz="UTC"), pa.timestamp("ms"), pa.timestamp("s")):
        scale = {"ns": 10**9, "ms": 1000, "s": 1}[kind.unit]
        table = pa.table(
            {
                "Timestamp": pa.array(base.time * scale, type=pa.int64()).cast(kind),
                "Open": base.open,
                "High": base.high,
                "Low": base.low,
                "Close": base.close,
                "Volume": base.volume.astype(np.int64),
            }
        )
        pq.write_table(table, tmp_path / "t.parquet")
        loaded = read_file(tmp_path / "t.parquet")
        assert loaded.candles.equals(base) and loaded.timeframe == "1m"


def test_parquet_date_column_and_pandas_index(tmp_path):
    days = pa.array([19723, 19724, 19725], type=pa.int32()).cast(pa.date32())  # 2024-01-01..
    table = pa.table({"day": days, "open": [1.0] * 3, "high": [2.0] * 3, "low": [0.5] * 3,
                      "close": [1.5] * 3})  # fmt: skip
    table = table.replace_schema_metadata({b"pandas": b'{"index_columns": ["day"], "columns": []}'})
    path = tmp_path / "no-extension"  # recognised by its PAR1 magic
    pq.write_table(table, path)
    loaded = read_file(path)
    assert loaded.timeframe == "1d"
    assert loaded.candles.time.tolist() == [ts("2024-01-01T00:00") + k * 86400 for k in range(3)]


# -- validation: every rule, every row, by line -----------------------------------------


def test_every_rule_reported_by_line(tmp_path):
    path = write_text(
        tmp_path / "bad.csv",
        "timestamp,open,high,low,close,volume\n"  # line 1
        "2024-01-01T00:00Z,100,101,99,100.5,10\n"  # 2 good
        "2024-01-01T00:01Z,abc,101,99,100,10\n"  # 3 open not a number
        "2024-01-01T00:02Z,100,99.5,99,100,10\n"  # 4 high below max(open, close)
        "\n"  # 5 blank: skipped, but counted
        "2024-01-01T00:03Z,100,101,100.5,100.2,10\n"  # 6 low above min(open, close)
        "2024-01-01T00:04Z,100,101,99,100,-5\n"  # 7 negative volume
        "2024-01-01T00:04Z,100,101,99,100,1\n"  # 8 duplicate of line 7
        "2024-01-01T00:02Z,100,101,99,100,1\n"  # 9 duplicate of line 4 (and out of order)
        "not a time,100,101,99,100,1\n"  # 10 unparseable time
        "2024-01-01T00:01Z,100,101,99,100,1\n"  # 11 duplicate of line 3
        "2024-01-01T00:05Z,100,101,99,,1\n"  # 12 missing close
        "2024-01-01T00:06Z,100,101,99,nan,1\n"  # 13 close not a number
        "2024-01-01T00:07Z,100,101,99\n",  # 14 too few fields
    )
    assert problems_of(path) == [
        "line 3: open 'abc' is not a number",
        "line 4: high 99.5 is below max(open, close) 100",
        "line 6: low 100.5 is above min(open, close) 100",
        "line 7: negative volume -5",
        "line 8: duplicate time 2024-01-01T00:04:00Z (also on line 7)",
        "line 9: duplicate time 2024-01-01T00:02:00Z (also on line 4)",
        "line 10: unparseable time 'not a time'",
        "line 11: duplicate time 2024-01-01T00:01:00Z (also on line 3)",
        "line 12: missing close",
        "line 13: close 'nan' is not a number",
        "line 14: 4 fields, expected 6",
        "line 14: missing close",
        "line 14: missing volume",
    ]


def test_unsorted_rows(tmp_path):
    path = write_text(
        tmp_path / "unsorted.csv",
        "date,open,high,low,close\n2024-01-02,1,1,1,1\n2024-01-01,1,1,1,1\n2024-01-03,1,1,1,1\n2024-01-02T12:00,1,1,1,1\n",
    )
    assert problems_of(path) == [
        "line 3: time 2024-01-01T00:00:00Z is earlier than 2024-01-02T00:00:00Z above it; "
        "rows must be sorted by time, oldest first",
        "line 5: time 2024-01-02T12:00:00Z is earlier than 2024-01-03T00:00:00Z above it; "
        "rows must be sorted by time, oldest first",
    ]


def test_spacing_finer_than_declared_and_off_boundary(tmp_path):
    path = write_text(
        tmp_path / "spacing.csv",
        "time,open,high,low,close\n"
        "2024-01-01T00:00Z,1,1,1,1\n"
        "2024-01-01T01:00Z,1,1,1,1\n"
        "2024-01-01T01:30Z,1,1,1,1\n"  # 30 minutes after the previous row
        "2024-01-01T03:00Z,1,1,1,1\n"
        "2024-01-01T04:00:30Z,1,1,1,1\n"  # not on an hour boundary
        "2024-01-01T05:00Z,1,1,1,1\n"
        "2024-01-01T06:00Z,1,1,1,1\n",
    )
    assert problems_of(path) == [
        "line 4: only 1800 s after the previous row, finer than 1h",
        "line 4: time 2024-01-01T01:30:00Z is not on a 1h boundary (UTC)",
        "line 6: time 2024-01-01T04:00:30Z is not on a 1h boundary (UTC)",
        "line 7: only 3570 s after the previous row, finer than 1h",
    ]
    coarser = problems_of(path, timeframe="1d")
    assert coarser[0] == "line 3: only 3600 s after the previous row, finer than 1d"
    finer = problems_of(path, timeframe="1m")
    assert finer == ["rows are 1h apart (median) but the timeframe was given as 1m"] + [
        f"line {n}: time {t} is not on a 1m boundary (UTC)" for n, t in [(6, "2024-01-01T04:00:30Z")]
    ]


def test_missing_columns_and_empty_files(tmp_path):
    path = write_text(tmp_path / "cols.csv", "when,open,hi,low\n2024-01-01,1,1,1\n")
    assert problems_of(path) == [
        "line 1: no time column (looked for timestamp, datetime, date or time, or an index "
        "column; columns: 'when', 'open', 'hi', 'low')",
        "line 1: no 'high' column (columns: 'when', 'open', 'hi', 'low')",
        "line 1: no 'close' column (columns: 'when', 'open', 'hi', 'low')",
    ]
    assert problems_of(write_text(tmp_path / "e.csv", "")) == ["the file is empty"]
    assert problems_of(write_text(tmp_path / "h.csv", GOOD.splitlines()[0] + "\n")) == ["no data rows"]
    one = write_text(tmp_path / "one.csv", GOOD.splitlines()[0] + "\n" + GOOD.splitlines()[1])
    assert problems_of(one) == ["cannot infer the timeframe from a single row; give it (--timeframe)"]
    assert len(load_file(one, timeframe="1m")) == 1


def test_parquet_problems_are_reported_by_row(tmp_path):
    table = pa.table(
        {
            "time": pa.array(
                [ts("2024-01-01T00:00"), None, ts("2024-01-01T00:02"), ts("2024-01-01T00:03")], type=pa.int64()
            ),  # fmt: skip
            "open": [1.0, 1.0, 1.0, None],
            "high": [2.0, 2.0, 0.5, 2.0],
            "low": [0.5, 0.5, 0.5, 0.5],
            "close": [1.5, 1.5, 1.5, 1.5],
            "volume": [1.0, 1.0, 1.0, -1.0],
        }
    )
    pq.write_table(table, tmp_path / "bad.parquet")
    assert problems_of(tmp_path / "bad.parquet", timeframe="1m") == [
        "row 2: missing time",
        "row 3: high 0.5 is below max(open, close) 1.5",
        "row 4: open is missing or not finite",
        "row 4: negative volume -1",
    ]


def test_a_rejected_import_leaves_nothing_behind(tmp_path, store):
    bad = write_text(tmp_path / "bad.csv", GOOD.replace("102,100,101.5,11", "99,100,101.5,11"))
    with pytest.raises(DataValidationError, match="line 3: high 99 is below"):
        import_file(store, "C:BTCUSD", bad)
    assert not store.root.exists() or os.listdir(store.root) == []
    assert store.list_instruments() == []
    # ... and an existing instrument is untouched by a rejected re-import.
    import_file(store, "C:BTCUSD", write_text(tmp_path / "good.csv", GOOD))
    files = {p.name: p.read_bytes() for p in store.root.iterdir()}
    with pytest.raises(DataValidationError):
        import_file(store, "C:BTCUSD", bad, mode="replace")
    assert {p.name: p.read_bytes() for p in store.root.iterdir()} == files


def test_reimport_merges_or_replaces_never_duplicates(tmp_path, store):
    good = write_text(tmp_path / "good.csv", GOOD)
    first = import_file(store, "C:BTCUSD", good)
    again = import_file(store, "C:BTCUSD", good)
    assert first.rows == again.rows == 3
    more = write_text(
        tmp_path / "more.csv",
        "timestamp,open,high,low,close,volume\n2024-01-01T00:02:00Z,7,8,6,7,1\n2024-01-01T00:03:00Z,7,8,6,7,1\n",
    )
    merged = import_file(store, "C:BTCUSD", more)
    assert merged.rows == 4
    got = store.read_all("C:BTCUSD", "1m", "2024-01-01", "2024-01-02")
    assert got.open.tolist() == [100, 100.5, 7, 7]
    replaced = import_file(store, "C:BTCUSD", more, mode="replace")
    assert replaced.rows == 2 and replaced.start == ts("2024-01-01T00:02")


def test_bad_symbol_is_refused_before_reading(tmp_path, store):
    with pytest.raises(TektiiError, match="invalid symbol 'BTCUSD'"):
        import_file(store, "BTCUSD", tmp_path / "missing.csv")
    with pytest.raises(TektiiError, match="file not found"):
        import_file(store, "C:BTCUSD", tmp_path / "missing.csv")


# -- real data shipped by PyPI packages -------------------------------------------------


def test_real_sp500_daily_from_arch(store):
    path = shipped_file("arch", "arch/data/sp500/sp500.csv.gz")
    info = import_file(store, "S:SPX", path)
    assert (info.market, info.name, info.rows) == ("STOCK", "SPX", 5031)
    assert info.base_timeframe == "1d" and not info.synthetic
    assert info.to_api()["dataStart"] == "1999-01-04T00:00:00Z"  # "1/4/1999", month first
    assert info.to_api()["granularities"] == ["1d", "1w"]
    days = store.read_all("S:SPX", "1d", "1999-01-01", "2100-01-01")
    assert days.rows()[0] == (ts("1999-01-04T00:00"), 1229.22998, 1248.810059, 1219.099976,
                              1228.099976, 877000000.0)  # fmt: skip
    weeks = store.read_all("S:SPX", "1w", "1999-01-01", "2100-01-01")
    assert_rows_close(weeks, reference_aggregate(days, "1w"))
    # Weeks open on Monday even when Monday was a holiday (the bar opens at the bucket).
    assert all((int(t) // 86400 + 3) % 7 == 0 for t in weeks.time)
    with pytest.raises(TektiiError, match="timeframe 1h is finer than the stored 1d data"):
        store.read("S:SPX", "1h", "2000-01-01", "2001-01-01")


def test_real_eurusd_hourly_from_gym_anytrading(store):
    path = shipped_file("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    info = import_file(store, "F:EURUSD", path)
    assert (info.market, info.name, info.base_timeframe, info.rows) == (
        "FOREX", "EUR/USD", "1h", 6225,
    )  # fmt: skip
    assert info.to_api()["dataStart"] == "2017-01-01T22:00:00Z"  # "01.01.2017 22:00", day first
    hours = store.read_all("F:EURUSD", "1h", info.start, info.end)
    assert len(hours) == 6225
    for tf in ("2h", "4h", "12h", "1d", "1w"):
        # The window starts before the first bucket, so that no bucket is cut off.
        got = store.read_all("F:EURUSD", tf, "2016-12-01", "2018-02-01")
        assert_rows_close(got, reference_aggregate(hours, tf))
    days = store.read_all("F:EURUSD", "1d", "2016-12-01", "2018-02-01")
    weekdays = {(int(t) // 86400 + 3) % 7 for t in days.time}
    assert 5 not in weekdays  # the weekend gap produces no Saturday bar
    assert aggregate(hours, "1h", "1d").equals(days)

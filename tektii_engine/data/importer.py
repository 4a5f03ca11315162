"""Import OHLCV files (CSV, gzip'd CSV, Parquet) into candles, validating every row first.

Nothing is returned (so nothing can be written) unless the whole file is valid; every
problem is collected and raised at once in one ``DataValidationError``, each naming its CSV
line (the header is line 1) or Parquet row (the first data row is row 1).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from tektii_core.contracts import TektiiError
from tektii_engine.data import timeframes

if TYPE_CHECKING:
    import numpy as np

    from tektii_engine.data.candles import Candles
    from tektii_engine.data.store import CandleStore, InstrumentInfo


class DataValidationError(TektiiError):
    """A file that cannot be imported; ``problems`` lists every one, in file order."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = list(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{source}: {count}, nothing was imported:\n{lines}",
            hint="fix the rows listed and import again",
        )


@attrs.frozen
class LoadedFile:
    candles: Candles
    timeframe: str  # the declared or inferred base timeframe


# Header names are compared lower-cased without spaces, "_", "-", "<" or ">"
# (so "Open Time", "open_time" and MetaTrader's "<DATE>" all match).
_TIME_NAMES = ("timestamp", "datetime", "datetimeutc", "opentime", "time", "date",
               "gmttime", "localtime", "ts", "unixtime", "epoch")  # fmt: skip
_INDEX_NAMES = ("", "index", "unnamed0", "indexlevel0")
_FIELD_NAMES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last"),
    "volume": ("volume", "vol", "v", "tickvolume", "tickvol"),
}
_PRICE_FIELDS = ("open", "high", "low", "close")


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-<>:]", "", name.strip().lower())


# -- public API -------------------------------------------------------------------------


def load_file(path: Path | str, *, timeframe: str | None = None) -> Candles:
    """Read and validate an OHLCV file; raise DataValidationError listing every problem."""
    return read_file(path, timeframe=timeframe).candles


def read_file(path: Path | str, *, timeframe: str | None = None) -> LoadedFile:
    """Like ``load_file``, also returning the base timeframe (given, or inferred)."""
    path = Path(path)
    if timeframe is not None:
        timeframes.validate(timeframe)
    if not path.is_file():
        raise TektiiError(f"file not found: {path}")
    if _is_parquet(path):
        table = _read_parquet(path)
    else:
        table = _read_csv(path)
    return _build(table, path.name, timeframe)


def import_file(
    store: CandleStore,
    symbol: str,
    path: Path | str,
    *,
    timeframe: str | None = None,
    mode: str = "merge",
) -> InstrumentInfo:
    """Validate ``path`` completely, then write it to ``store`` (merge or replace)."""
    from tektii_engine.data.symbols import parse_symbol

    parse_symbol(symbol)  # a bad symbol is reported before the file is read
    loaded = read_file(path, timeframe=timeframe)
    return store.write(
        symbol,
        loaded.candles,
        base_timeframe=loaded.timeframe,
        source="imported",
        mode=mode,  # type: ignore[arg-type]
    )


def infer_timeframe(times: np.ndarray) -> str | None:
    """The timeframe equal to the median spacing of ascending ``times``, or None."""
    import numpy as np

    if len(times) < 2:
        return None
    median = float(np.median(np.diff(times)))
    return timeframes.from_seconds(int(median)) if median.is_integer() else None


# -- reading files into a raw table -----------------------------------------------------


@attrs.define
class _RawTable:
    """Columns as read, before validation; ``where(i)`` names data row ``i`` for messages."""

    names: list[str]
    columns: dict[str, Any]  # name -> list[str] (CSV) or pyarrow array (Parquet)
    nrows: int
    where: Callable[[int], str]
    header_where: str  # how to name the header in messages
    index_column: str | None = None  # a pandas index column in Parquet metadata
    problems: list[tuple[int, str]] = attrs.Factory(list)  # (row, message) found while reading


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    # The caller closes the wrapper, which closes the underlying file.
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115
    # utf-8-sig drops a byte-order mark; newline="" lets csv handle quoted newlines.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _read_csv(path: Path) -> _RawTable:
    try:
        with _open_text(path) as handle:
            return _parse_csv(handle)
    except UnicodeDecodeError as exc:
        raise DataValidationError(path.name, [f"not a UTF-8 text file ({exc.reason})"]) from None
    except (OSError, EOFError, csv.Error) as exc:
        raise DataValidationError(path.name, [f"cannot read the file: {exc}"]) from None


def _parse_csv(handle: io.TextIOBase) -> _RawTable:
    first = ""
    header_line = 0
    for line in handle:
        header_line += 1
        if line.strip():
            first = line
            break
    if not first:
        return _RawTable([], {}, 0, lambda i: "", "line 1", problems=[(-1, "the file is empty")])
    delimiter = max(",;\t|", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    names = [h.strip() for h in header]
    reader = csv.reader(handle, delimiter=delimiter)
    cells: list[list[str]] = [[] for _ in names]
    lines: list[int] = []
    problems: list[tuple[int, str]] = []
    previous = 0  # reader.line_num counts physical lines read after the header
    for row in reader:
        line_no = header_line + previous + 1  # where this record starts
        previous = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(names):
            problems.append((len(lines), f"line {line_no}: {len(row)} fields, expected {len(names)}"))
            row = row + [""] * (len(names) - len(row))
        for column, value in zip(cells, row, strict=False):
            column.append(value)
        lines.append(line_no)
    return _RawTable(
        names=names,
        columns=dict(zip(names, cells, strict=True)),
        nrows=len(lines),
        where=lambda i: f"line {lines[i]}",
        header_where=f"line {header_line}",
        problems=problems,
    )


def _read_parquet(path: Path) -> _RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataValidationError(path.name, [f"cannot read the Parquet file: {exc}"]) from None
    index_column = None
    pandas_meta = table.schema.pandas_metadata or {}
    for entry in pandas_meta.get("index_columns", []):
        if isinstance(entry, str) and entry in table.column_names:
            index_column = entry
    return _RawTable(
        names=list(table.column_names),
        columns={n: table.column(n).combine_chunks() for n in table.column_names},
        nrows=table.num_rows,
        where=lambda i: f"row {i + 1}",
        header_where="schema",
        index_column=index_column,
    )


# -- resolving columns ------------------------------------------------------------------


def _resolve_columns(
    table: _RawTable,
) -> tuple[dict[str, str | tuple[str, str]], list[str]]:
    """Map time/open/high/low/close/volume to file columns; report missing ones."""
    by_norm: dict[str, str] = {}
    for name in table.names:
        by_norm.setdefault(_norm(name), name)
    mapping: dict[str, str | tuple[str, str]] = {}
    problems: list[str] = []
    shown = ", ".join(repr(n) for n in table.names) or "none"

    if (
        "date" in by_norm
        and "time" in by_norm
        and not any(n in by_norm for n in ("timestamp", "datetime", "datetimeutc", "opentime"))
    ):
        mapping["time"] = (
            by_norm["date"],
            by_norm["time"],
        )  # separate date and time columns
    else:
        for candidate in _TIME_NAMES:
            if candidate in by_norm:
                mapping["time"] = by_norm[candidate]
                break
        else:
            if table.index_column is not None:
                mapping["time"] = table.index_column
            elif table.names and _norm(table.names[0]) in _INDEX_NAMES:
                mapping["time"] = table.names[0]  # an unnamed index, as pandas writes it
            else:
                problems.append(
                    f"{table.header_where}: no time column (looked for timestamp, datetime, "
                    f"date or time, or an index column; columns: {shown})"
                )
    for field, candidates in _FIELD_NAMES.items():
        found = next((by_norm[c] for c in candidates if c in by_norm), None)
        if found is not None:
            mapping[field] = found
        elif field != "volume":  # volume is optional and then 0
            problems.append(f"{table.header_where}: no {field!r} column (columns: {shown})")
    return mapping, problems


# -- parsing values ---------------------------------------------------------------------

_NUMBER_RE = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_CLOCK = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(?:Z|UTC)?"
_SLASH_RE = re.compile(r"(\d{1,4})/(\d{1,2})/(\d{1,4})" + _CLOCK, re.IGNORECASE)
_DOT_RE = re.compile(r"(\d{1,4})\.(\d{1,2})\.(\d{1,4})" + _CLOCK, re.IGNORECASE)
_UTC = UTC


def _epoch_from_number(value: float) -> int:
    """Epoch seconds from seconds, milliseconds, microseconds or nanoseconds by magnitude."""
    magnitude = abs(value)
    if magnitude >= 1e17:
        value /= 1e9
    elif magnitude >= 1e14:
        value /= 1e6
    elif magnitude >= 1e11:
        value /= 1e3
    return math.floor(value)


def _day_first(values: Sequence[str]) -> bool:
    """For d/m/y vs m/d/y dates: day first when some first field is above 12 (else US order)."""
    for value in values:
        match = _SLASH_RE.match(value.strip())
        if match and len(match.group(1)) <= 2 and int(match.group(1)) > 12:
            return True
    return False


def _time_parser(values: Sequence[str]) -> Callable[[str], int]:
    """A parser of one time cell, with the column's d/m order decided up front."""
    day_first = _day_first(values)

    def from_parts(match: re.Match[str], order: str) -> int:
        a, b, c, hh, mm, ss, _fraction = match.groups()
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif order == "dmy":
            day, month, year = int(a), int(b), int(c)
        else:
            month, day, year = int(a), int(b), int(c)
        if len(str(year)) != 4:
            raise ValueError("the year must have four digits")
        moment = datetime(year, month, day, int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=_UTC)
        return int(moment.timestamp())

    def parse(text: str) -> int:
        text = text.strip()
        if _NUMBER_RE.fullmatch(text):
            number = float(text)
            if not math.isfinite(number):
                raise ValueError("not finite")
            return _epoch_from_number(number)
        match = _SLASH_RE.fullmatch(text)
        if match:
            return from_parts(match, "dmy" if day_first else "mdy")
        match = _DOT_RE.fullmatch(text)
        if match:  # 31.12.2024 (European) or 2024.12.31 (MetaTrader)
            return from_parts(match, "dmy")
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_UTC)
        return math.floor(moment.timestamp())

    return parse


def _parse_times(table: _RawTable, column: str | tuple[str, str], problems: list) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds per row and which rows have one; bad cells are reported."""
    import numpy as np

    if isinstance(column, tuple):  # separate date and time columns
        dates, clocks = (_as_strings(table, c) for c in column)
        texts = [f"{d.strip()} {t.strip()}" for d, t in zip(dates, clocks, strict=True)]
        label = f"{column[0]!r} + {column[1]!r}"
    else:
        fast = _arrow_times(table.columns[column]) if not isinstance(table.columns[column], list) else None
        if fast is not None:
            times, missing = fast
            for i in np.flatnonzero(missing):
                problems.append((int(i), f"{table.where(int(i))}: missing time"))
            return times, ~missing
        texts = _as_strings(table, column)
        label = repr(column)
    parse = _time_parser(texts)
    times = np.zeros(len(texts), dtype=np.int64)
    ok = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if not text.strip():
            problems.append((i, f"{table.where(i)}: missing time in column {label}"))
            continue
        try:
            times[i] = parse(text)
            ok[i] = True
        except (ValueError, OverflowError, OSError):
            problems.append((i, f"{table.where(i)}: unparseable time {text.strip()!r}"))
    return times, ok


def _arrow_times(array: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Epoch seconds from a typed Parquet time column, or None for string columns."""
    import numpy as np
    import pyarrow as pa

    kind = array.type
    missing = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        raw = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return np.floor_divide(raw, per_second).astype(np.int64), missing
    if pa.types.is_date32(kind):
        raw = array.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        return raw.astype(np.int64) * 86400, missing
    if pa.types.is_date64(kind):
        raw = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return raw // 1000, missing
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        raw = array.cast(pa.float64()).fill_null(0).to_numpy(zero_copy_only=False)
        return np.array([_epoch_from_number(v) for v in raw.tolist()], dtype=np.int64), missing
    return None


def _as_strings(table: _RawTable, column: str) -> list[str]:
    values = table.columns[column]
    if isinstance(values, list):
        return values
    return ["" if v is None else str(v) for v in values.to_pylist()]


def _parse_numbers(table: _RawTable, field: str, column: str, problems: list) -> np.ndarray:
    """float64 values; missing, unparseable and non-finite cells are reported (left NaN)."""
    import numpy as np
    import pyarrow as pa

    values = table.columns[column]
    if not isinstance(values, list) and (
        pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type)
    ):
        out = values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        for i in np.flatnonzero(~np.isfinite(out)):
            problems.append((int(i), f"{table.where(int(i))}: {field} is missing or not finite"))
        return out
    texts = _as_strings(table, column)
    out = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            out[i] = number
        elif not text.strip():
            problems.append((i, f"{table.where(i)}: missing {field}"))
        else:
            problems.append((i, f"{table.where(i)}: {field} {text.strip()!r} is not a number"))
    return out


# -- validation -------------------------------------------------------------------------


def _build(table: _RawTable, source: str, declared: str | None) -> LoadedFile:
    import numpy as np

    from tektii_engine.data.candles import Candles

    if not table.names:  # an empty file: nothing else to say
        raise DataValidationError(source, [p for _, p in table.problems])
    mapping, header_problems = _resolve_columns(table)
    problems: list[tuple[int, str]] = [(-1, p) for p in header_problems] + table.problems
    if header_problems or table.nrows == 0:
        if not header_problems and not table.problems:
            problems.append((-1, "no data rows"))
        raise DataValidationError(source, [p for _, p in problems])

    times, time_ok = _parse_times(table, mapping["time"], problems)
    values = {f: _parse_numbers(table, f, mapping[f], problems) for f in _PRICE_FIELDS}  # type: ignore[arg-type]
    if "volume" in mapping:
        values["volume"] = _parse_numbers(table, "volume", mapping["volume"], problems)  # type: ignore[arg-type]
    else:
        values["volume"] = np.zeros(table.nrows)

    _check_prices(table, values, problems)
    order_ok = _check_order(table, times, time_ok, problems)
    timeframe = declared
    if order_ok:
        timeframe = _check_spacing(table, times[time_ok], np.flatnonzero(time_ok), declared, problems)

    if problems:
        problems.sort(key=lambda p: p[0])
        raise DataValidationError(source, [p for _, p in problems])
    assert timeframe is not None
    return LoadedFile(Candles(times, *(values[f] for f in (*_PRICE_FIELDS, "volume"))), timeframe)


def _check_prices(table: _RawTable, v: dict[str, np.ndarray], problems: list) -> None:
    import numpy as np

    # fmax/fmin skip a NaN (an unparseable cell, reported already): the other price still counts.
    top = np.fmax(v["open"], v["close"])
    bottom = np.fmin(v["open"], v["close"])
    with np.errstate(invalid="ignore"):  # NaN cells were reported already; they compare False
        high_low, low_high, negative = (
            v["high"] < top,
            v["low"] > bottom,
            v["volume"] < 0,
        )
    for i in np.flatnonzero(high_low):
        message = f"high {v['high'][i]:g} is below max(open, close) {top[i]:g}"
        problems.append((int(i), f"{table.where(int(i))}: {message}"))
    for i in np.flatnonzero(low_high):
        message = f"low {v['low'][i]:g} is above min(open, close) {bottom[i]:g}"
        problems.append((int(i), f"{table.where(int(i))}: {message}"))
    for i in np.flatnonzero(negative):
        message = f"negative volume {v['volume'][i]:g}"
        problems.append((int(i), f"{table.where(int(i))}: {message}"))


def _check_order(table: _RawTable, times: np.ndarray, ok: np.ndarray, problems: list) -> bool:
    """Report duplicate and out-of-order times; True when there are none."""
    import numpy as np

    rows = np.flatnonzero(ok)
    t = times[rows]
    found = False
    # Duplicates: equal neighbours after a stable sort; the first of a run is the original.
    order = np.argsort(t, kind="stable")
    new_run = np.concatenate(([True], np.diff(t[order]) != 0))
    run_first = np.maximum.accumulate(np.where(new_run, np.arange(len(t)), 0))
    duplicate = np.zeros(len(t), dtype=bool)
    for k in np.flatnonzero(~new_run):
        i, j = rows[order[k]], rows[order[run_first[k]]]
        duplicate[order[k]] = True
        found = True
        when = timeframes.format_time(t[order[k]])
        message = f"duplicate time {when} (also on {table.where(int(j))})"
        problems.append((int(i), f"{table.where(int(i))}: {message}"))
    # Out of order: earlier than a row above it (and not merely a duplicate of it).
    if len(t) > 1:
        running = np.maximum.accumulate(t)
        for k in np.flatnonzero((t[1:] < running[:-1]) & ~duplicate[1:]) + 1:
            i = rows[k]
            found = True
            when, latest = (
                timeframes.format_time(t[k]),
                timeframes.format_time(running[k - 1]),
            )
            message = f"time {when} is earlier than {latest} above it; rows must be sorted by time, oldest first"
            problems.append((int(i), f"{table.where(int(i))}: {message}"))
    return not found


def _check_spacing(
    table: _RawTable,
    t: np.ndarray,
    rows: np.ndarray,
    declared: str | None,
    problems: list,
) -> str | None:
    """Infer or check the base timeframe; report rows closer or off its boundaries."""
    import numpy as np

    inferred = infer_timeframe(t)
    if declared is None:
        if len(t) < 2:
            message = "cannot infer the timeframe from a single row; give it (--timeframe)"
            problems.append((-1, message))
            return None
        if inferred is None:
            median = float(np.median(np.diff(t)))
            message = f"rows are {median:g} s apart (median), which is not a timeframe ({', '.join(timeframes.TIMEFRAMES)})"
            problems.append((-1, message))
            return None
        tf = inferred
    else:
        tf = declared
        if inferred is not None and timeframes.seconds(inferred) > timeframes.seconds(tf):
            message = f"rows are {inferred} apart (median) but the timeframe was given as {tf}"
            problems.append((-1, message))
    step = timeframes.seconds(tf)
    if len(t) > 1:
        gaps = np.diff(t)
        for k in np.flatnonzero(gaps < step) + 1:
            message = f"only {int(gaps[k - 1])} s after the previous row, finer than {tf}"
            problems.append((int(rows[k]), f"{table.where(int(rows[k]))}: {message}"))
    for k in np.flatnonzero(timeframes.bucket_start(t, tf) != t):
        message = f"time {timeframes.format_time(t[k])} is not on a {tf} boundary (UTC)"
        problems.append((int(rows[k]), f"{table.where(int(rows[k]))}: {message}"))
    return tf

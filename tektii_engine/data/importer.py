"""Import OHLCV files (CSV, gzip'd CSV, Parquet) into candles, validating every row first.

Nothing is returned (so nothing can be written) unless the whole file is valid; the
problems are collected and raised at once in one ``DataValidationError``, each naming its CSV
line (the header is line 1) or Parquet row (the first data row is row 1).

A file is read in chunks of ``CHUNK_ROWS`` rows, so memory stays proportional to the rows
kept (about 60 bytes a row), never to the text: ``ImportLimits`` caps the unpacked size and
the row count, and validation stops after the chunk in which ``max_problems`` problems were
found (a gzip bomb of repeated rows is refused after its first chunk). See
docs/market-data.md#limits.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from tektii_core.contracts import TektiiError
from tektii_core.timeutil import format_time
from tektii_engine.data import timeframes

if TYPE_CHECKING:
    import numpy as np

    from tektii_engine.data.candles import Candles
    from tektii_engine.data.store import CandleStore, InstrumentInfo


REPORTED_PROBLEMS = 100  # how many problems an error lists; ``total`` counts them all
CHUNK_ROWS = 65_536
MAX_LINE_CHARS = 65_536  # a CSV line longer than this is refused, not read into memory
MAX_BLANK_RUN = 10_000  # empty rows in a row: no OHLCV file has them; a bomb of newlines does
MAX_BYTES_ENV, MAX_ROWS_ENV = "TEKTII_IMPORT_MAX_BYTES", "TEKTII_IMPORT_MAX_ROWS"


@attrs.frozen
class ImportLimits:
    """What one import may take (docs/market-data.md#limits)."""

    max_bytes: int = 1024**3  # unpacked (a gzip's content), about 17M 1m candles as CSV
    max_rows: int = 10_000_000  # 19 years of 1m candles; ~600 MB while importing
    max_problems: int = 1_000  # validation stops after the chunk that reaches this

    @classmethod
    def from_env(cls, environ: Any = None) -> ImportLimits:
        """Defaults, overridden by TEKTII_IMPORT_MAX_BYTES / TEKTII_IMPORT_MAX_ROWS."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, field in ((MAX_BYTES_ENV, "max_bytes"), (MAX_ROWS_ENV, "max_rows")):
            text = (environ.get(name) or "").strip().replace("_", "")
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                raise TektiiError(f"{name} must be a whole number of at least 1, got {environ.get(name)!r}")
            values[field] = int(text)
        return cls(**values)


class DataValidationError(TektiiError):
    """A file that cannot be imported; ``problems`` lists the first ``REPORTED_PROBLEMS``
    in file order, ``total`` counts every one found (``stopped_after``: where validation
    ended early)."""

    def __init__(self, source: str, problems: list[str], *, total: int | None = None,
                 stopped_after: str | None = None):
        self.problems = list(problems[:REPORTED_PROBLEMS])
        self.total = max(len(problems), total or 0)
        self.stopped_after = stopped_after  # e.g. "line 65537": the rest was not read
        count = f"{self.total:,} problem{'s' if self.total != 1 else ''}"
        if stopped_after:
            count += f" (validation stopped after {stopped_after})"
        listed = "" if len(self.problems) == self.total else f"; the first {len(self.problems)}"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{source}: {count}, nothing was imported{listed}:\n{lines}",
            hint="fix the rows listed and import again",
        )


class _LimitExceeded(Exception):
    pass


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


def load_file(path: Path | str, *, timeframe: str | None = None, limits: ImportLimits | None = None) -> Candles:
    """Read and validate an OHLCV file; raise DataValidationError listing the problems."""
    return read_file(path, timeframe=timeframe, limits=limits).candles


def read_file(path: Path | str, *, timeframe: str | None = None, limits: ImportLimits | None = None) -> LoadedFile:
    """Like ``load_file``, also returning the base timeframe (given, or inferred)."""
    path = Path(path)
    limits = limits or ImportLimits()
    if timeframe is not None:
        timeframes.validate(timeframe)
    if not path.is_file():
        raise TektiiError(f"file not found: {path}")
    if _is_parquet(path):
        return _build(iter([_read_parquet(path, limits)]), path.name, timeframe, limits)
    with _csv_source(path, limits) as chunks:
        return _build(chunks, path.name, timeframe, limits)


def import_file(
    store: CandleStore,
    symbol: str,
    path: Path | str,
    *,
    timeframe: str | None = None,
    mode: str = "merge",
    limits: ImportLimits | None = None,
) -> InstrumentInfo:
    """Validate ``path`` completely, then write it to ``store`` (merge or replace)."""
    from tektii_engine.data.symbols import parse_symbol

    parse_symbol(symbol)  # a bad symbol is reported before the file is read
    loaded = read_file(path, timeframe=timeframe, limits=limits)
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
    """Columns as read (one chunk of a CSV, all of a Parquet file), before validation;
    ``where(i)`` names data row ``i`` of this table for messages."""

    names: list[str]
    columns: dict[str, Any]  # name -> list[str] (CSV) or pyarrow array (Parquet)
    nrows: int
    where: Callable[[int], str]
    header_where: str  # how to name the header in messages
    index_column: str | None = None  # a pandas index column in Parquet metadata
    problems: list[tuple[int, str]] = attrs.Factory(list)  # (row, message) found while reading
    lines: list[int] | None = None  # the CSV line of each row (None: Parquet, row i + 1)


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


class _CountingReader(io.RawIOBase):
    """Reads ``inner`` (a file or a GzipFile), refusing more than ``limit`` bytes in all."""

    def __init__(self, inner: Any, limit: int):
        self.inner, self.limit, self.count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.inner.readinto(buffer)
        self.count += n
        if self.count > self.limit:
            raise _LimitExceeded(f"the file holds more than {self.limit:,} bytes (unpacked), the import limit "
                                 f"({MAX_BYTES_ENV}); split it and import the parts one after another")
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def _open_text(path: Path, max_bytes: int) -> io.TextIOWrapper:
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    # The caller closes the wrapper, which closes the underlying file.
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115
    buffered = io.BufferedReader(_CountingReader(raw, max_bytes), 1 << 16)
    # utf-8-sig drops a byte-order mark; newline="" lets csv handle quoted newlines.
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")


class _csv_source:  # noqa: N801 - used like a function: ``with _csv_source(...) as chunks``
    """The CSV's chunks (``_RawTable`` each); read errors become a DataValidationError."""

    def __init__(self, path: Path, limits: ImportLimits):
        self.path, self.limits = path, limits
        self.handle: io.TextIOWrapper | None = None

    def __enter__(self) -> Any:
        self.handle = _open_text(self.path, self.limits.max_bytes)
        return self._guarded(_csv_chunks(self.handle, self.limits))

    def _guarded(self, chunks: Any) -> Any:
        name = self.path.name
        try:
            yield from chunks
        except UnicodeDecodeError as exc:
            raise DataValidationError(name, [f"not a UTF-8 text file ({exc.reason})"]) from None
        except _LimitExceeded as exc:
            raise DataValidationError(name, [str(exc)]) from None
        except (OSError, EOFError, csv.Error) as exc:
            raise DataValidationError(name, [f"cannot read the file: {exc}"]) from None

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.close()


def _bounded_lines(handle: io.TextIOBase, first_line: int) -> Any:
    """The handle's lines, refusing one longer than MAX_LINE_CHARS before it is all read."""
    number = first_line
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise _LimitExceeded(f"line {number} is longer than {MAX_LINE_CHARS:,} characters; "
                                 "is this an OHLCV CSV file?")
        number += 1
        yield line


def _csv_chunks(handle: io.TextIOBase, limits: ImportLimits) -> Any:
    """_RawTable per CHUNK_ROWS data rows; the first carries the header (an empty file: one
    table without names)."""
    lines = _bounded_lines(handle, 1)
    first = ""
    header_line = 0
    for line in lines:
        header_line += 1
        if line.strip():
            first = line
            break
    if not first:
        yield _RawTable([], {}, 0, lambda i: "", "line 1", problems=[(-1, "the file is empty")])
        return
    delimiter = max(",;\t|", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    names = [h.strip() for h in header]
    reader = csv.reader(lines, delimiter=delimiter)
    previous = 0  # reader.line_num counts physical lines read after the header
    total, yielded, blank_run = 0, False, 0
    while True:
        cells: list[list[str]] = [[] for _ in names]
        numbers: list[int] = []
        problems: list[tuple[int, str]] = []
        for row in reader:
            line_no = header_line + previous + 1  # where this record starts
            previous = reader.line_num
            total += 1  # blank rows count too: a file of empty lines is no cheaper to read
            if total > limits.max_rows:
                raise _LimitExceeded(f"the file has more than {limits.max_rows:,} rows, the import limit "
                                     f"({MAX_ROWS_ENV}); split it and import the parts one after another")
            if not row or all(not c.strip() for c in row):
                blank_run += 1
                if blank_run > MAX_BLANK_RUN:
                    raise _LimitExceeded(f"line {line_no}: more than {MAX_BLANK_RUN:,} empty rows in a row; "
                                         "is this an OHLCV CSV file?")
                continue
            blank_run = 0
            if len(row) < len(names):
                problems.append((len(numbers), f"line {line_no}: {len(row)} fields, expected {len(names)}"))
                row = row + [""] * (len(names) - len(row))
            for column, value in zip(cells, row, strict=False):
                column.append(value)
            numbers.append(line_no)
            if len(numbers) == CHUNK_ROWS:
                break
        if not numbers and yielded:
            return
        yielded = True
        yield _RawTable(
            names=names,
            columns=dict(zip(names, cells, strict=True)),
            nrows=len(numbers),
            where=lambda i, numbers=numbers: f"line {numbers[i]}",  # type: ignore[misc]
            header_where=f"line {header_line}",
            problems=problems,
            lines=numbers,
        )
        if len(numbers) < CHUNK_ROWS:
            return


def _read_parquet(path: Path, limits: ImportLimits) -> _RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        # Checked from the footer, before anything is decompressed.
        if meta.num_rows > limits.max_rows:
            raise DataValidationError(path.name, [
                f"the file has {meta.num_rows:,} rows, more than the import limit of {limits.max_rows:,} "
                f"({MAX_ROWS_ENV}); split it and import the parts one after another"])
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if unpacked > limits.max_bytes:
            raise DataValidationError(path.name, [
                f"the file holds {unpacked:,} bytes (unpacked), more than the import limit of "
                f"{limits.max_bytes:,} ({MAX_BYTES_ENV}); split it and import the parts one after another"])
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


def _parse_times(
    table: _RawTable, column: str | tuple[str, str], problems: list, parsers: dict[str, Callable[[str], int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds per row and which rows have one; bad cells are reported. ``parsers``
    keeps the text parser the first chunk chose (its d/m order holds for the whole file)."""
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
    if "time" not in parsers:
        parsers["time"] = _time_parser(texts)
    parse = parsers["time"]
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


def _build(chunks: Any, source: str, declared: str | None, limits: ImportLimits) -> LoadedFile:
    """Validate the tables of one file chunk by chunk (a CSV) or at once (Parquet)."""
    import numpy as np

    from tektii_engine.data.candles import Candles

    table = next(chunks)
    if not table.names:  # an empty file: nothing else to say
        raise DataValidationError(source, [p for _, p in table.problems])
    mapping, header_problems = _resolve_columns(table)
    problems: list[tuple[int, str]] = [(-1, p) for p in header_problems]
    if header_problems or table.nrows == 0:
        problems += table.problems
        if not header_problems and not table.problems:
            problems.append((-1, "no data rows"))
        raise DataValidationError(source, [p for _, p in problems])

    parts: dict[str, list[np.ndarray]] = {f: [] for f in ("time", "ok", "line", *_PRICE_FIELDS, "volume")}
    parsers: dict[str, Callable[[str], int]] = {}
    offset, unordered, latest, stopped = 0, 0, None, False
    for chunk in itertools.chain([table], chunks):
        found: list[tuple[int, str]] = list(chunk.problems)
        times, time_ok = _parse_times(chunk, mapping["time"], found, parsers)
        values = {f: _parse_numbers(chunk, f, mapping[f], found) for f in _PRICE_FIELDS}  # type: ignore[arg-type]
        if "volume" in mapping:
            values["volume"] = _parse_numbers(chunk, "volume", mapping["volume"], found)  # type: ignore[arg-type]
        else:
            values["volume"] = np.zeros(chunk.nrows)
        _check_prices(chunk, values, found)
        problems += [(offset + i, message) for i, message in found]
        # Rows not later than every row above them: duplicates or out of order, reported with
        # their partners below; counted here so that a file of repeated rows stops early.
        good = times[time_ok]
        if len(good):
            above = np.maximum.accumulate(np.concatenate(([latest if latest is not None else good[0] - 1], good)))
            unordered += int(np.count_nonzero(good <= above[:-1]))
            latest = int(above[-1])
        parts["time"].append(times)
        parts["ok"].append(time_ok)
        parts["line"].append(np.asarray(chunk.lines if chunk.lines is not None else [], dtype=np.int64))
        for field in (*_PRICE_FIELDS, "volume"):
            parts[field].append(values[field])
        offset += chunk.nrows
        if len(problems) + unordered >= limits.max_problems:
            stopped = chunk.lines is not None and chunk.nrows == CHUNK_ROWS  # else nothing is left
            break

    joined = {field: np.concatenate(arrays) for field, arrays in parts.items()}
    whole = _RawTable(table.names, {}, offset, _where(table, joined["line"]), table.header_where)
    times, time_ok = joined["time"], joined["ok"]
    order_ok = _check_order(whole, times, time_ok, problems)
    timeframe = declared
    if order_ok and not stopped:
        timeframe = _check_spacing(whole, times[time_ok], np.flatnonzero(time_ok), declared, problems)

    if problems:
        problems.sort(key=lambda p: p[0])
        raise DataValidationError(source, [p for _, p in problems[:REPORTED_PROBLEMS]], total=len(problems),
                                  stopped_after=whole.where(offset - 1) if stopped else None)
    assert timeframe is not None
    return LoadedFile(Candles(times, *(joined[f] for f in (*_PRICE_FIELDS, "volume"))), timeframe)


def _where(table: _RawTable, lines: np.ndarray) -> Callable[[int], str]:
    """How to name row ``i`` of the whole file."""
    if table.lines is None:
        return table.where  # Parquet: one table for the whole file
    return lambda i: f"line {int(lines[i])}"


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
        when = format_time(t[order[k]])
        message = f"duplicate time {when} (also on {table.where(int(j))})"
        problems.append((int(i), f"{table.where(int(i))}: {message}"))
    # Out of order: earlier than a row above it (and not merely a duplicate of it).
    if len(t) > 1:
        running = np.maximum.accumulate(t)
        for k in np.flatnonzero((t[1:] < running[:-1]) & ~duplicate[1:]) + 1:
            i = rows[k]
            found = True
            when, latest = (
                format_time(t[k]),
                format_time(running[k - 1]),
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
        message = f"time {format_time(t[k])} is not on a {tf} boundary (UTC)"
        problems.append((int(rows[k]), f"{table.where(int(rows[k]))}: {message}"))
    return tf

"""The candle store: one Parquet file and one JSON metadata file per instrument.

Layout under ``root`` (the platform's ``<data dir>/market-data``)::

    C_BTCUSD.parquet   columns time (int64 Unix s, bar open, UTC), open, high, low, close,
                       volume (float64); ascending, unique times; row groups of 64Ki rows
    C_BTCUSD.json      {"symbol", "name", "market", "baseTimeframe", "start", "end", "rows",
                        "source": "imported"|"synthetic", "updated"}

Writes go to a temporary file in the same directory that is then renamed over the old one,
so readers see the old or the new data, never half a file. Reads go row group by row group
(skipping groups outside the window by their statistics) and aggregate with a carried
partial bucket, so memory depends on the chunk size, not on the window.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time as _time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from tektii_core.contracts import TektiiError
from tektii_core.timeutil import format_time
from tektii_engine.data import timeframes
from tektii_engine.data.candles import COLUMNS, Candles
from tektii_engine.data.symbols import parse_symbol

ROW_GROUP_ROWS = 65_536
SOURCES = ("imported", "synthetic")


class MergeConflictError(TektiiError):
    """New data cannot be merged into what is stored (other base timeframe or source)."""


@attrs.frozen
class InstrumentInfo:
    """What the store knows about one instrument (times are Unix seconds, UTC)."""

    symbol: str
    name: str
    market: str  # CRYPTO | FOREX | STOCK
    base_timeframe: str
    start: int  # open time of the first bar
    end: int  # open time of the last bar + one base bar: the data covers [start, end)
    rows: int
    source: str  # imported | synthetic
    updated: int

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def granularities(self) -> list[str]:
        return timeframes.granularities(self.base_timeframe)

    def to_api(self) -> dict[str, Any]:
        """The camelCase object of ``GET /v1/instruments``."""
        return {
            "symbol": self.symbol,
            "name": self.name,
            "market": self.market,
            "dataStart": format_time(self.start),
            "dataEnd": format_time(self.end),
            "granularities": self.granularities,
            "synthetic": self.synthetic,
            "source": self.source,
            "rows": self.rows,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "market": self.market,
            "baseTimeframe": self.base_timeframe,
            "start": format_time(self.start),
            "end": format_time(self.end),
            "rows": self.rows,
            "source": self.source,
            "updated": format_time(self.updated),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstrumentInfo:
        return cls(
            symbol=data["symbol"],
            name=data["name"],
            market=data["market"],
            base_timeframe=data["baseTimeframe"],
            start=timeframes.parse_time(data["start"]),
            end=timeframes.parse_time(data["end"]),
            rows=int(data["rows"]),
            source=data["source"],
            updated=timeframes.parse_time(data["updated"]),
        )


def _stem(symbol: str) -> str:
    # ":" is not allowed in Windows file names; symbols never contain "_".
    return symbol.replace(":", "_")


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the temp file over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of one instrument (a merge reads, then replaces)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: writers are not serialised
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CandleStore:
    """Candles per instrument under ``root`` (created on first write)."""

    def __init__(self, root: Path | str, *, row_group_rows: int = ROW_GROUP_ROWS):
        self.root = Path(root)
        self.row_group_rows = row_group_rows  # rows per Parquet row group written

    # -- paths --------------------------------------------------------------------------

    def data_path(self, symbol: str) -> Path:
        return self.root / f"{_stem(parse_symbol(symbol).symbol)}.parquet"

    def meta_path(self, symbol: str) -> Path:
        return self.root / f"{_stem(parse_symbol(symbol).symbol)}.json"

    # -- metadata -----------------------------------------------------------------------

    def list_instruments(self) -> list[InstrumentInfo]:
        """Every stored instrument, sorted by symbol."""
        if not self.root.is_dir():
            return []
        infos = []
        for meta in sorted(self.root.glob("*.json")):
            info = self._load_meta(meta)
            if info is not None and self.data_path(info.symbol).exists():
                infos.append(info)
        return sorted(infos, key=lambda i: i.symbol)

    def info(self, symbol: str) -> InstrumentInfo | None:
        meta = self.meta_path(symbol)
        if not meta.exists() or not self.data_path(symbol).exists():
            return None
        return self._load_meta(meta)

    @staticmethod
    def _load_meta(path: Path) -> InstrumentInfo | None:
        try:
            return InstrumentInfo.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, TektiiError):
            return None  # a foreign or damaged file is not an instrument

    # -- writing ------------------------------------------------------------------------

    def write(
        self,
        symbol: str,
        candles: Candles,
        *,
        base_timeframe: str,
        source: str,
        mode: Literal["merge", "replace"] = "merge",
    ) -> InstrumentInfo:
        """Store validated, ascending, unique-time candles for ``symbol``.

        ``replace`` discards what was stored. ``merge`` keeps stored rows whose time the new
        candles do not have and takes the new row where both have one ("new rows win"), so
        re-importing the same file changes nothing and never duplicates. Merging needs the
        same base timeframe and the same source (synthetic data never silently mixes with
        imported data): otherwise use ``replace``.
        """
        import numpy as np
        import pyarrow.parquet as pq

        sym = parse_symbol(symbol)
        timeframes.validate(base_timeframe)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if mode not in ("merge", "replace"):
            raise ValueError(f"mode must be 'merge' or 'replace', got {mode!r}")
        if len(candles) == 0:
            raise TektiiError(f"no candles to store for {sym.symbol}")
        # Callers pass validated candles (importer, generator); guard the invariants cheaply.
        if np.any(np.diff(candles.time) <= 0):
            raise ValueError("candles must be ascending with unique times")
        if not (
            np.all(candles.high >= np.maximum(candles.open, candles.close))
            and np.all(candles.low <= np.minimum(candles.open, candles.close))
            and np.all(candles.volume >= 0)
        ):
            raise ValueError("candles must have high >= max(open, close) >= min(open, close) "
                             ">= low and volume >= 0")  # fmt: skip

        self.root.mkdir(parents=True, exist_ok=True)
        data_path, meta_path = self.data_path(sym.symbol), self.meta_path(sym.symbol)
        with _locked(self.root / f".{_stem(sym.symbol)}.lock"):
            old = self.info(sym.symbol) if mode == "merge" else None
            if old is not None:
                if old.base_timeframe != base_timeframe:
                    raise MergeConflictError(
                        f"{sym.symbol} holds {old.base_timeframe} data; cannot merge {base_timeframe} data into it",
                        hint="re-import with --replace to replace the stored data",
                    )
                if old.source != source:
                    raise MergeConflictError(
                        f"{sym.symbol} holds {old.source} data; cannot merge {source} data into it",
                        hint="use --replace to replace the stored data",
                    )
                stored = Candles.from_arrow(pq.read_table(data_path, columns=list(COLUMNS)))
                keep = ~np.isin(stored.time, candles.time, assume_unique=True)
                merged = Candles.concat([stored[keep], candles])
                candles = merged[np.argsort(merged.time, kind="stable")]

            table = candles.to_arrow()
            _atomic_write(
                data_path,
                lambda tmp: pq.write_table(table, tmp, row_group_size=self.row_group_rows, compression="zstd"),
            )
            info = InstrumentInfo(
                symbol=sym.symbol,
                name=sym.name,
                market=sym.market,
                base_timeframe=base_timeframe,
                start=int(candles.time[0]),
                end=int(candles.time[-1]) + timeframes.seconds(base_timeframe),
                rows=len(candles),
                source=source,
                updated=int(_time.time()),
            )
            text = json.dumps(info.to_json(), indent=2) + "\n"
            _atomic_write(meta_path, lambda tmp: Path(tmp).write_text(text))
        return info

    # -- reading ------------------------------------------------------------------------

    def read(
        self,
        symbol: str,
        timeframe: str,
        start: Any,
        end: Any,
        *,
        chunk_rows: int = ROW_GROUP_ROWS,
    ) -> Iterator[Candles]:
        """Yield ``timeframe`` bars whose open time is in ``[start, end)``, in chunks.

        ``start``/``end`` are Unix seconds, datetimes or RFC 3339 strings. Each bar is a
        whole bucket of base bars (a bar opening before ``end`` includes its base bars after
        ``end``). Chunks are non-empty and ascending; their concatenation does not depend on
        ``chunk_rows``.
        """
        from tektii_engine.data.aggregate import StreamAggregator

        # Validate now, not at the first next(): errors belong to the call.
        sym = parse_symbol(symbol)
        info = self.info(sym.symbol)
        if info is None:
            raise TektiiError(
                f"no market data for {sym.symbol}",
                hint=f"import or generate it: tektii data import {sym.symbol} FILE",
            )
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")
        aggregator = StreamAggregator(info.base_timeframe, timeframes.validate(timeframe))
        t0, t1 = timeframes.parse_time(start), timeframes.parse_time(end)
        # Base rows of exactly the buckets that open in [t0, t1).
        lo, hi = (
            timeframes.bucket_ceil(t0, timeframe),
            timeframes.bucket_ceil(t1, timeframe),
        )
        if hi <= lo or hi <= info.start or lo >= info.end:
            return iter(())
        return self._iter_chunks(sym.symbol, aggregator, lo, hi, chunk_rows)

    def _iter_chunks(self, symbol: str, aggregator: Any, lo: int, hi: int, chunk_rows: int) -> Iterator[Candles]:
        import numpy as np
        import pyarrow.parquet as pq

        # pre_buffer would read ahead every selected row group: memory would grow with the window.
        parquet = pq.ParquetFile(self.data_path(symbol), pre_buffer=False)
        groups = [g for g in range(parquet.num_row_groups) if _overlaps(parquet, g, lo, hi)]
        if not groups:
            return
        # One thread: decoding row groups in parallel holds several of them in memory at once.
        batches = parquet.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=list(COLUMNS), use_threads=False)
        for batch in batches:
            chunk = Candles.from_arrow(batch)  # zero-copy views of the batch's buffers
            # Times are ascending, so the window is one contiguous slice of the batch.
            first, last = np.searchsorted(chunk.time, [lo, hi])
            if first == last == 0:
                break  # this batch starts at or after the end: so do all later ones
            bars = aggregator.feed(chunk[first:last])
            if len(bars):
                yield bars
        bars = aggregator.flush()
        if len(bars):
            yield bars

    def read_all(self, symbol: str, timeframe: str, start: Any, end: Any) -> Candles:
        """``read`` concatenated into one Candles."""
        return Candles.concat(self.read(symbol, timeframe, start, end))


def _overlaps(parquet: Any, group: int, lo: int, hi: int) -> bool:
    """Whether row group ``group`` may hold times in [lo, hi), by its column statistics."""
    stats = parquet.metadata.row_group(group).column(0).statistics
    if stats is None or not stats.has_min_max:
        return True
    return stats.max >= lo and stats.min < hi

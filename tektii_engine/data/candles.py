"""Candles: columnar OHLCV bars held as equal-length numpy arrays."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNS = ("time", "open", "high", "low", "close", "volume")


def _int64(value: Any) -> np.ndarray:
    return np.ascontiguousarray(value, dtype=np.int64)


def _float64(value: Any) -> np.ndarray:
    return np.ascontiguousarray(value, dtype=np.float64)


@attrs.define(eq=False)
class Candles:
    """OHLCV bars; ``time`` is the bar's OPEN time in Unix seconds (UTC), ascending."""

    time: np.ndarray = attrs.field(converter=_int64)
    open: np.ndarray = attrs.field(converter=_float64)
    high: np.ndarray = attrs.field(converter=_float64)
    low: np.ndarray = attrs.field(converter=_float64)
    close: np.ndarray = attrs.field(converter=_float64)
    volume: np.ndarray = attrs.field(converter=_float64)

    def __attrs_post_init__(self) -> None:
        n = len(self.time)
        lengths = {c: len(getattr(self, c)) for c in COLUMNS}
        if any(v != n or getattr(self, c).ndim != 1 for c, v in lengths.items()):
            raise ValueError(f"candle columns must be 1-d and of equal length, got {lengths}")

    @classmethod
    def empty(cls) -> Candles:
        return cls(*([[]] * len(COLUMNS)))

    @classmethod
    def concat(cls, parts: Iterable[Candles]) -> Candles:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS))

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Candles:
        return cls(*(table.column(c).to_numpy(zero_copy_only=False) for c in COLUMNS))

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        return pa.table({c: getattr(self, c) for c in COLUMNS})

    def __len__(self) -> int:
        return len(self.time)

    def __getitem__(self, key: slice | np.ndarray) -> Candles:
        """Rows by slice, boolean mask or index array (always returns Candles)."""
        if isinstance(key, int | np.integer):
            key = slice(int(key), int(key) + 1 or None)
        return Candles(*(getattr(self, c)[key] for c in COLUMNS))

    def columns(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in COLUMNS}

    def equals(self, other: Candles) -> bool:
        """Same rows with identical values (NaN never occurs in valid candles)."""
        return len(self) == len(other) and all(np.array_equal(getattr(self, c), getattr(other, c)) for c in COLUMNS)

    def rows(self) -> list[tuple[int, float, float, float, float, float]]:
        """Plain Python tuples (time, open, high, low, close, volume), for tests and display."""
        return list(
            zip(
                self.time.tolist(),
                self.open.tolist(),
                self.high.tolist(),
                self.low.tolist(),
                self.close.tolist(),
                self.volume.tolist(),
                strict=True,
            )
        )

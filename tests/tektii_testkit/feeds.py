"""Generated candle feeds for engine tests (CandleFeeds): the same shape as the market-data store's chunks."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

from tektii_core.timeutil import TIMEFRAME_SECONDS as TIMEFRAMES
from tektii_engine.data.candles import Candles


def walk(symbol: str, tf: str, start: int, end: int, *, base: float = 100.0) -> Candles:
    """A deterministic random walk (seeded by symbol+timeframe), bars opening in [start, end)."""
    seconds = TIMEFRAMES[tf]
    first = -(-start // seconds) * seconds
    times = np.arange(first, end, seconds, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(f"{symbol}/{tf}".encode()))
    closes = base * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
    opens = np.concatenate(([base], closes[:-1]))
    spread = np.abs(rng.normal(0, 0.001, len(times))) * closes
    highs = np.maximum(opens, closes) + spread
    lows = np.minimum(opens, closes) - spread
    return Candles(times, opens, highs, lows, closes, np.ones(len(times)))


class WalkFeed:
    """A CandleFeed over generated walks, yielded in chunks; records every request it gets."""

    def __init__(self, chunk: int = 5000, base: float = 100.0):
        self.chunk = chunk
        self.base = base
        self.requests: list[tuple[str, str, int, int]] = []

    def __call__(self, symbol: str, tf: str, start: int, end: int) -> Iterator[Candles]:
        self.requests.append((symbol, tf, start, end))
        candles = walk(symbol, tf, start, end, base=self.base)
        for lo in range(0, len(candles), self.chunk):
            yield candles[lo : lo + self.chunk]


class TableFeed:
    """A CandleFeed over fixed rows {(symbol, tf): [(t_open, o, h, l, c), ...]}."""

    def __init__(self, rows: dict[tuple[str, str], list[tuple[int, float, float, float, float]]]):
        self.rows = rows

    def __call__(self, symbol: str, tf: str, start: int, end: int) -> Iterator[Candles]:
        rows = [r for r in self.rows.get((symbol, tf), []) if start <= r[0] < end]
        if rows:
            t, o, h, lo, c = zip(*rows, strict=True)
            yield Candles(t, o, h, lo, c, [1.0] * len(rows))

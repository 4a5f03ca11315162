"""Vectorised aggregation of candles from a base timeframe to a coarser one.

A bar of the target timeframe is the union of the base bars whose open time falls in its
UTC bucket: open of the first, max high, min low, close of the last, summed volume. A bucket
without base bars produces no bar (gaps stay gaps). ``numpy.ufunc.reduceat`` does the work;
there is no Python loop per row.
"""

from __future__ import annotations

import numpy as np

from tektii_core.contracts import TektiiError
from tektii_engine.data import timeframes
from tektii_engine.data.candles import Candles


def check_target(base: str, target: str) -> None:
    """Refuse a target timeframe that cannot be built exactly from ``base`` bars."""
    timeframes.validate(base)
    timeframes.validate(target)
    if timeframes.seconds(target) < timeframes.seconds(base):
        raise TektiiError(
            f"timeframe {target} is finer than the stored {base} data",
            hint=f"use one of {', '.join(timeframes.granularities(base))}, or import {target} (or finer) data",
        )
    if not timeframes.divides(base, target):
        raise TektiiError(
            f"timeframe {target} cannot be built from {base} data: {base} bars straddle {target} boundaries",
            hint=f"use one of {', '.join(timeframes.granularities(base))}",
        )


def bucket_bounds(times: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Bucket open time of every row and the index of each bucket's first row."""
    buckets = timeframes.bucket_start(times, target)
    if len(buckets) == 0:
        return buckets, np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.diff(buckets)) + 1
    return buckets, np.concatenate(([0], starts))


def aggregate(candles: Candles, base: str, target: str) -> Candles:
    """Aggregate ascending ``base`` candles to ``target`` bars (all buckets, even partial ones)."""
    check_target(base, target)
    if target == base or len(candles) == 0:
        return candles
    buckets, starts = bucket_bounds(candles.time, target)
    ends = np.append(starts[1:], len(candles)) - 1
    return Candles(
        time=buckets[starts],
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        volume=np.add.reduceat(candles.volume, starts),
    )


class StreamAggregator:
    """Aggregates a sequence of ascending chunks, carrying the last (maybe partial) bucket.

    ``feed`` returns the bars whose bucket is complete, i.e. that a later chunk can no
    longer extend; ``flush`` returns the last one. The carry holds at most one bucket of base
    rows (10,080 rows for 1w from 1m), so memory stays bounded by the chunk size.
    """

    def __init__(self, base: str, target: str):
        check_target(base, target)
        self.base, self.target = base, target
        self._carry = Candles.empty()

    def feed(self, chunk: Candles) -> Candles:
        if self.target == self.base:
            return chunk
        rows = Candles.concat([self._carry, chunk])
        if len(rows) == 0:
            return rows
        last_bucket = timeframes.bucket_start(int(rows.time[-1]), self.target)
        # First row of the last bucket: rows are ascending, so a binary search finds it.
        cut = int(np.searchsorted(rows.time, last_bucket, side="left"))
        self._carry = rows[cut:]
        return aggregate(rows[:cut], self.base, self.target)

    def flush(self) -> Candles:
        rows, self._carry = self._carry, Candles.empty()
        return aggregate(rows, self.base, self.target)

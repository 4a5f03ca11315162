"""Market data in tests: real files in tmp dirs, an independent oracle for aggregation, and the
data files PyPI packages ship."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tektii_engine.data.candles import Candles


def ts(text: str) -> int:
    """Unix seconds of a UTC ISO time, e.g. ts("2024-01-01T00:00")."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def candles(rows: Iterable[tuple]) -> Candles:
    """Candles from (time, open, high, low, close, volume) tuples; time may be ISO text."""
    import numpy as np

    from tektii_engine.data.candles import Candles
    rows = [(ts(r[0]) if isinstance(r[0], str) else r[0], *r[1:]) for r in rows]
    if not rows:
        return Candles.empty()
    return Candles(*(np.array(col) for col in zip(*rows, strict=True)))


def minute_bars(start: str, count: int, *, price: float = 100.0) -> Candles:
    """``count`` consecutive 1m bars with distinct, easy-to-follow values."""
    t0 = ts(start)
    rows = []
    for k in range(count):
        o = price + k
        rows.append((t0 + 60 * k, o, o + 1 + (k % 3), o - 0.25 - (k % 2), o + 0.75, 1.0 + k))
    return candles(rows)


def bucket_of(epoch: int, tf: str) -> int:
    """Calendar arithmetic with datetime, independent of timeframes.bucket_start."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if tf == "1w":
        day = moment.replace(hour=0, minute=0, second=0) - timedelta(days=moment.weekday())
        return int(day.timestamp())
    if tf == "1d":
        return int(moment.replace(hour=0, minute=0, second=0).timestamp())
    amount, unit = int(tf[:-1]), tf[-1]
    if unit == "h":
        moment = moment.replace(hour=moment.hour - moment.hour % amount, minute=0, second=0)
    else:
        moment = moment.replace(minute=moment.minute - moment.minute % amount, second=0)
    return int(moment.timestamp())


def reference_aggregate(base: Candles, tf: str) -> list[tuple]:
    """Row-by-row aggregation (a plain loop), the oracle the vectorised code must match."""
    out: list[list] = []
    for t, o, h, lo, c, v in base.rows():
        b = bucket_of(t, tf)
        if out and out[-1][0] == b:
            bar = out[-1]
            bar[2], bar[3], bar[4], bar[5] = (
                max(bar[2], h),
                min(bar[3], lo),
                c,
                bar[5] + v,
            )
        else:
            out.append([b, o, h, lo, c, v])
    return [tuple(bar) for bar in out]


def assert_rows_close(actual: Candles, expected: list[tuple]) -> None:
    import numpy as np

    got = actual.rows()
    assert [r[0] for r in got] == [r[0] for r in expected]
    np.testing.assert_allclose(np.array([r[1:] for r in got]), np.array([r[1:] for r in expected]), rtol=1e-12)


def shipped_file(distribution: str, path: str) -> Path:
    """A data file that an installed PyPI package ships (located without importing it)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"test dependency {distribution} is not installed")
    for file in dist.files or []:
        if str(file) == path:
            return Path(str(file.locate()))
    pytest.fail(f"{distribution} no longer ships {path}")


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path

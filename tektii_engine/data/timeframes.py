"""Candle timeframes and their UTC bucket boundaries.

Free of numpy at import time: the CLI imports ``TIMEFRAMES`` to validate arguments.
``bucket_start`` works on a Python int or a numpy int64 array alike (plain arithmetic).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from tektii_core.contracts import TektiiError

TIMEFRAMES: tuple[str, ...] = (
    "1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "12h", "1d", "1w",
)  # fmt: skip

_SECONDS: dict[str, int] = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "12h": 43200,
    "1d": 86400,
    "1w": 604800,
}

# The Unix epoch fell on a Thursday; weeks start on Monday 1970-01-05 00:00 UTC + k weeks.
_WEEK_ORIGIN = 4 * 86400

T = TypeVar("T")


def validate(tf: str) -> str:
    """Return ``tf`` when it is a known timeframe, else raise a TektiiError naming them all."""
    if tf not in _SECONDS:
        raise TektiiError(
            f"unknown timeframe {tf!r}; use one of {', '.join(TIMEFRAMES)}",
        )
    return tf


def seconds(tf: str) -> int:
    """Length of one bar of ``tf`` in seconds."""
    return _SECONDS[validate(tf)]


def from_seconds(n: int) -> str | None:
    """The timeframe whose bars last exactly ``n`` seconds, or None."""
    for tf, s in _SECONDS.items():
        if s == n:
            return tf
    return None


def bucket_start(times: T, tf: str) -> T:
    """Open time of the ``tf`` bar containing each time (Unix seconds, UTC).

    Days start at 00:00 UTC and weeks on Monday 00:00 UTC; intraday timeframes divide a
    day evenly, so their buckets are aligned to midnight UTC too. Accepts an int or a numpy
    integer array (floor division rounds towards -inf for both, so times before 1970 work).
    """
    s = seconds(tf)
    origin = _WEEK_ORIGIN if tf == "1w" else 0
    return (times - origin) // s * s + origin  # type: ignore[operator,return-value]


def bucket_ceil(t: int, tf: str) -> int:
    """The first ``tf`` bucket boundary at or after ``t``."""
    return int(bucket_start(t - 1, tf)) + seconds(tf)


def divides(base: str, target: str) -> bool:
    """Whether bars of ``target`` are whole unions of ``base`` bars (same boundaries)."""
    b, t = seconds(base), seconds(target)
    return t >= b and t % b == 0


def granularities(base: str) -> list[str]:
    """Every timeframe that can be aggregated exactly from ``base`` data (``base`` included)."""
    return [tf for tf in TIMEFRAMES if divides(base, tf)]


def parse_time(value: Any) -> int:
    """Unix seconds from an int/float epoch, a datetime or an RFC 3339 / ISO 8601 string.

    Naive datetimes and strings without an offset are taken as UTC.
    """
    if isinstance(value, bool):
        raise TektiiError(f"invalid time {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise TektiiError(
                f"invalid time {value!r}",
                hint="use RFC 3339, e.g. 2024-01-01T00:00:00Z",
            ) from None
    else:
        raise TektiiError(f"invalid time {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def format_time(epoch: int) -> str:
    """RFC 3339 UTC, e.g. ``2024-01-01T00:00:00Z``."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Candle timeframes and their UTC bucket boundaries.

Free of numpy at import time: the CLI imports ``TIMEFRAMES`` to validate arguments.
``bucket_start`` works on a Python int or a numpy int64 array alike (plain arithmetic).
"""

from __future__ import annotations

from typing import Any, TypeVar

from tektii_core.contracts import TektiiError
from tektii_core.timeutil import TIMEFRAME_SECONDS as _SECONDS
from tektii_core.timeutil import TIMEFRAMES, to_epoch

__all__ = ["TIMEFRAMES", "bucket_ceil", "bucket_start", "divides", "from_seconds", "granularities", "parse_time",
           "seconds", "validate"]

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
    """Unix seconds from an int/float epoch, a datetime or an RFC 3339 / ISO 8601 string, for
    the data commands: naive datetimes and strings without an offset are taken as UTC."""
    try:
        return to_epoch(value, assume_utc=True)
    except (ValueError, TypeError):
        hint = "use RFC 3339, e.g. 2024-01-01T00:00:00Z" if isinstance(value, str) else None
        raise TektiiError(f"invalid time {value!r}", hint=hint) from None

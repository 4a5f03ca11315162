"""Time on the wire: the candle timeframes and the RFC 3339 helpers every layer uses.

``format_time`` writes the one form the platform, the engine and the CLI show (UTC with a Z);
``parse_time`` reads a user's RFC 3339 text strictly and says what is wrong with it;
``to_epoch`` reads the Unix seconds of a timestamp a program sent (any ISO 8601 form).

Standard library only: the CLI imports this at start-up.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# name -> seconds of one bar, finest first (docs/scenario-config.md, the data commands, the API)
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60, "2m": 120, "5m": 300, "10m": 600, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "12h": 43200, "1d": 86400, "1w": 604800,
}  # fmt: skip
TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_SECONDS)

EXAMPLE_TIME = "2024-01-01T00:00:00Z"
TIMESTAMP_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})")
_NO_ZONE_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_DATE_ONLY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(text: str) -> tuple[datetime | None, str | None]:
    """An RFC 3339 timestamp as an aware UTC datetime, or (None, what is wrong with it)."""
    m = TIMESTAMP_RE.fullmatch(text)
    if m is None:
        stripped = text.strip()
        if stripped != text and TIMESTAMP_RE.fullmatch(stripped):
            return None, f'has spaces around the timestamp; write "{stripped}"'
        if _DATE_ONLY_RE.fullmatch(stripped):
            return None, f'"{text}" has no time of day; write "{stripped}T00:00:00Z"'
        if _NO_ZONE_RE.fullmatch(stripped):
            fixed = stripped.replace(" ", "T")
            if fixed.count(":") == 1:
                fixed += ":00"
            return None, f'"{text}" has no timezone; add "Z" for UTC: "{fixed}Z"'
        return (
            None,
            f'"{text}" is not an RFC 3339 timestamp; use the form "{EXAMPLE_TIME}"',
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    try:
        if zone in ("Z", "z"):
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(f"timezone offset {zone} is out of range")
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        if second == 60:
            raise ValueError("leap seconds (second 60) are not supported")
        parsed = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        return parsed.astimezone(UTC), None
    except (ValueError, OverflowError) as exc:
        return None, f'"{text}" is not a real date and time: {exc}'


def format_time(t: datetime | float) -> str:
    """RFC 3339 in UTC with a Z. A datetime keeps its fractional seconds when it has some;
    epoch seconds are shown to the second (engine times are whole seconds)."""
    if not isinstance(t, datetime):
        seconds = int(t)
        day, clock = divmod(seconds, 86400)
        return _utc_date(day) + _utc_clock(clock)
    t = t.astimezone(UTC).replace(tzinfo=None)
    if t.microsecond:
        return t.isoformat(timespec="microseconds").rstrip("0") + "Z"
    return t.isoformat(timespec="seconds") + "Z"


# Cached: the engine formats every candle and event time (two per event).
@functools.lru_cache(maxsize=4096)
def _utc_date(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=2048)  # a day of whole minutes
def _utc_clock(seconds: int) -> str:
    return f"T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def to_epoch(value: Any, *, assume_utc: bool = False) -> int:
    """Unix seconds of an aware datetime, an ISO 8601 / RFC 3339 string or a number.

    Without a timezone a time is an error, or UTC with ``assume_utc`` (the data commands read
    "2024-01-01" so). Raises ValueError or TypeError."""
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("timestamp must be finite")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if not assume_utc:
                raise ValueError("timestamp needs a time zone (e.g. a trailing Z)")
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    raise ValueError(f"expected a timestamp, got {type(value).__name__}")

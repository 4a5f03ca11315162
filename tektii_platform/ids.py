"""Resource ids and timestamps in the platform's wire format."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime


def new_id(prefix: str, nbytes: int = 16) -> str:
    """`<prefix>_<26 chars of lowercase base32>`: random (not guessable, unlike counters) and URL-safe."""
    raw = base64.b32encode(secrets.token_bytes(nbytes)).decode("ascii")
    return f"{prefix}_{raw.rstrip('=').lower()}"


def db_time(t: datetime) -> str:
    """A time as stored: UTC, fixed-width with microseconds, so text order is time order."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_db() -> str:
    """The current UTC time as stored."""
    return db_time(datetime.now(UTC))


def rfc3339(db_timestamp: str) -> str:
    """A stored timestamp as the API shows it: RFC 3339 UTC to the second, e.g. 2024-01-15T10:30:00Z
    (tektii_core.timeutil.format_time's form, cut from the stored text)."""
    return db_timestamp[:19] + "Z"

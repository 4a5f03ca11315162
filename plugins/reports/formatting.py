"""How the reports write numbers, times and text: escaped HTML, real minus signs, prices with the
precision their size needs, UTC times."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from tektii_plugins.reports.scenario_results import parse_time

_MINUS = "\u2212"  # a real minus sign: same width as "+" in tabular figures


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fixed(x: float, decimals: int, *, sign: bool = False) -> str:
    text = f"{abs(x):,.{decimals}f}"
    if x < 0 and float(text.replace(",", "")) != 0:
        return _MINUS + text
    return ("+" if sign and x > 0 and float(text.replace(",", "")) != 0 else "") + text


def plain(x: float | None, *, min_decimals: int = 0) -> str:
    """Up to 8 decimals without trailing zeros (prices and quantities keep their precision)."""
    if x is None:
        return "—"
    text = f"{abs(x):,.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(min_decimals, "0")
    text = f"{whole}.{frac}" if frac else whole
    return (_MINUS if x < 0 and text.strip("0.,") else "") + text


def price(x: float | None) -> str:
    """A price with the precision its size needs: 2 decimals for 42,000, 5 for a 1.08523 FX quote."""
    if x is None:
        return "—"
    size = abs(x)
    decimals = 2 if size >= 1000 else 4 if size >= 10 else 5 if size >= 1 else 8
    return plain(round(x, decimals), min_decimals=2)


def metric_text(value: float, kind: str) -> str:
    if kind == "signed_pct":
        return fixed(value, 2, sign=True) + "%"
    if kind == "pct":
        return fixed(value, 2) + "%"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "money":
        return fixed(value, 2)
    if kind == "days":
        return fixed(value, 1) + " days"
    return fixed(value, 2)


def fmt_time(t: float | None, *, seconds: bool | None = None) -> str:
    """UTC as 2024-01-15 10:30, with seconds when asked (by default: when they are not 0)."""
    if t is None:
        return "—"
    d = datetime.fromtimestamp(t, UTC)
    if seconds is None:
        seconds = d.second != 0
    return f"{d:%Y-%m-%d %H:%M:%S}" if seconds else f"{d:%Y-%m-%d %H:%M}"


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def display_time(value: Any) -> str:
    """A timestamp from the metadata for display; shown as given when it is not RFC 3339."""
    if value in (None, ""):
        return "—"
    try:
        return fmt_time(parse_time(value)) + " UTC"
    except (ValueError, TypeError, OverflowError, OSError):
        return str(value)


def tone(x: float | None) -> str:
    return "pos" if x is not None and x > 0 else "neg" if x is not None and x < 0 else ""

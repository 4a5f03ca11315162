"""The words of a config's problems: how a value is described, the fix it probably needs.

Standard library only.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tektii_core.scenario_config.model import SYMBOL_RE


def join(prefix: str, key: str) -> str:
    name = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key)
    if not prefix:
        return name
    return f"{prefix}.{name}" if name == key else f"{prefix}[{name}]"


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def did_you_mean(word: str, options: Sequence[str]) -> str | None:
    """The closest option: same letters ignoring case and separators (start_time for
    startTime), else difflib's closest match (its usual cutoff, 0.6)."""
    by_norm = {normalise(o): o for o in options}
    if normalise(word) in by_norm:
        return by_norm[normalise(word)]
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def symbol_guess(value: str) -> str | None:
    """A valid symbol the user probably meant: upper-cased, spaces and separators such as
    "/" or "-" removed (C:btc/usd -> C:BTCUSD)."""
    prefix, sep, code = value.strip().upper().partition(":")
    if not sep:
        return None
    squeezed = re.sub(r"[\s/_-]", "", code)
    candidate = f"{prefix.strip()}:{squeezed}"
    if SYMBOL_RE.fullmatch(candidate):
        return candidate
    candidate = f"{prefix.strip()}:{code.strip()}"
    return candidate if SYMBOL_RE.fullmatch(candidate) else None


def describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def describe(value: Any) -> str:
    """The type of a value, with the value itself when short (for messages)."""
    kind = describe_type(value)
    if isinstance(value, str):
        shown = json.dumps(value)
        return f"{kind} {shown}" if len(shown) <= 40 else kind
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{kind} ({num(value)})"
    if isinstance(value, bool):
        return str(value).lower()
    return kind


def num(value: float) -> str:
    """A number as a user wrote it: 100000, not 100000.0; big ones with separators."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return repr(value)


def is_number_text(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False

"""Market costs and margin rules of the simulated broker, per asset class (docs/fill-model.md).

The defaults of the ``spreadBps`` scenario config field and the maintenance margins live
here, and so do the field's rules: the config's validator (tektii_core.scenario_config, for
the CLI, the API and the engine) calls ``spread_problems`` and ``resolve_spreads``.

Standard library only: the CLI imports this at start-up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

ASSET_CLASSES = {"C": "CRYPTO", "F": "FOREX", "S": "STOCK"}

# The full bid-ask spread, in basis points of the price, of a typical liquid market:
# a major forex pair about 1 pip (EUR/USD: 0.0001 at ~1.10 is 0.9 bps), a large crypto pair
# a few bps, a liquid stock or index about 1 bp.
DEFAULT_SPREAD_BPS = {"CRYPTO": 5.0, "FOREX": 1.0, "STOCK": 1.0}
MAX_SPREAD_BPS = 10_000.0

# Maintenance margin as a fraction of the margin an account uses (its initial margin):
# forex 50 % (ESMA's margin close-out rule for retail CFDs), stocks and indices 30 % (FINRA
# Rule 4210's minimum for short positions), crypto 40 % (Kraken's liquidation level).
# At 1x (crypto, stocks) the margin used is the notional, so a long-only cash account can
# never fall below it: its equity is at least the market value of what it holds.
MAINTENANCE_MARGIN = {"CRYPTO": 0.4, "FOREX": 0.5, "STOCK": 0.3}

FIELD = "spreadBps"
_EXAMPLE = '{"F:EURUSD": 0.8, "C:BTCUSD": 4}'


def asset_class(symbol: str) -> str:
    """CRYPTO, FOREX or STOCK from a platform symbol's prefix (C:, F:, S:)."""
    return ASSET_CLASSES[symbol.split(":", 1)[0]]


def spread_path(instrument: str) -> str:
    """The JSON path of one instrument's spread, e.g. spreadBps["F:EURUSD"]."""
    return f"{FIELD}[{json.dumps(instrument)}]"


def spread_problems(value: Any, instruments: Iterable[str] | None) -> list[tuple[str, str]]:
    """Every problem with a ``spreadBps`` value, as (JSON path, message) pairs.

    ``value``: a number for every instrument, or an object of instrument -> number (the
    instruments it leaves out take their asset class's default). ``instruments``: the
    subscribed ones, None when the subscriptions are invalid (then the keys are not checked
    against them).
    """
    if isinstance(value, Mapping):
        subscribed = None if instruments is None else list(instruments)
        problems: list[tuple[str, str]] = []
        for key, bps in value.items():
            path = spread_path(str(key))
            if subscribed is not None and key not in subscribed:
                listing = ", ".join(subscribed) or "none"
                problems.append((path, f"{json.dumps(str(key))} is not a subscribed instrument; subscribed: {listing}"))
            problem = _bps_problem(bps)
            if problem:
                problems.append((path, problem))
        return problems
    problem = _bps_problem(value, f" (every instrument) or an object of instrument to basis points, e.g. {_EXAMPLE}")
    return [] if problem is None else [(FIELD, problem)]


def resolve_spreads(value: Any, instruments: Iterable[str]) -> dict[str, float]:
    """The spread of each instrument, in bps, from a valid ``spreadBps`` (None: the defaults)."""
    out: dict[str, float] = {}
    for symbol in instruments:
        if isinstance(value, Mapping) and symbol in value:
            out[symbol] = float(value[symbol])
        elif value is not None and not isinstance(value, Mapping):
            out[symbol] = float(value)
        else:
            out[symbol] = DEFAULT_SPREAD_BPS[asset_class(symbol)]
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bps_problem(value: Any, alternative: str = "") -> str | None:
    span = f"between 0 and {MAX_SPREAD_BPS:,.0f}"
    if not _is_number(value):
        if isinstance(value, str):
            kind = f"a string {json.dumps(value)}" if len(value) <= 30 else "a string"
        elif isinstance(value, Mapping):
            kind = "an object"
        else:
            kind = {type(None): "null", bool: "true/false", list: "an array"}.get(type(value), type(value).__name__)
        return f"must be a number of basis points {span}{alternative}, got {kind}"
    if not math.isfinite(value) or not 0 <= value <= MAX_SPREAD_BPS:
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        return f"must be {span} basis points, got {shown}"
    return None

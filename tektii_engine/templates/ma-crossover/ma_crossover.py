"""Pure logic of the moving-average crossover strategy: settings, indicators, sizing.

No network and no SDK here, so everything can be unit-tested without a gateway
(see test_ma_crossover.py); main.py wires it to the Tektii trading gateway.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal


class ConfigError(ValueError):
    """One or more environment variables hold invalid values (all of them are listed)."""


@dataclass(frozen=True)
class Settings:
    fast_period: int = 10
    slow_period: int = 20
    order_equity_fraction: float = 0.10
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    quantity_decimals: int = 8


def _number(env, name, errors, parse, default, *, low=None, high=None, optional=False):
    raw = env.get(name, "").strip()
    if not raw:
        return None if optional else default
    try:
        value = parse(raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
    except ValueError:
        kind = "an integer" if parse is int else "a number"
        errors.append(f"{name}={raw!r} is not {kind}")
        return default
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        errors.append(f"{name}={raw!r} must be {bounds}")
        return default
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read the strategy's parameters from environment variables; raise ConfigError."""
    errors: list[str] = []
    fast = _number(env, "FAST_PERIOD", errors, int, 10, low=1)
    slow = _number(env, "SLOW_PERIOD", errors, int, 20, low=2)
    fraction = _number(env, "ORDER_EQUITY_FRACTION", errors, float, 0.10, low=0.0001, high=1)
    stop = _number(env, "STOP_LOSS_PCT", errors, float, None, low=0.01, high=99.99, optional=True)
    take = _number(env, "TAKE_PROFIT_PCT", errors, float, None, low=0.01, high=1000, optional=True)
    decimals = _number(env, "QUANTITY_DECIMALS", errors, int, 8, low=0, high=18)
    if not errors and fast >= slow:
        errors.append(f"FAST_PERIOD ({fast}) must be smaller than SLOW_PERIOD ({slow})")
    if errors:
        raise ConfigError("invalid settings: " + "; ".join(errors))
    return Settings(fast, slow, fraction, stop, take, decimals)


class SMA:
    """Simple moving average over the last `period` values (None until it has them)."""

    def __init__(self, period: int):
        self.period = period
        self._window: deque[float] = deque(maxlen=period)

    def update(self, value: float) -> float | None:
        self._window.append(value)
        if len(self._window) < self.period:
            return None
        return math.fsum(self._window) / self.period


class Crossover:
    """Signals "buy" when the fast SMA crosses above the slow one, "sell" when below.

    A cross needs both averages on the previous and the current bar, so the first
    signal can come on bar ``slow_period + 1`` at the earliest.
    """

    def __init__(self, fast_period: int, slow_period: int):
        self._fast = SMA(fast_period)
        self._slow = SMA(slow_period)
        self._previous: tuple[float, float] | None = None

    def update(self, close: float) -> str | None:
        fast, slow = self._fast.update(close), self._slow.update(close)
        if fast is None or slow is None:
            return None
        previous, self._previous = self._previous, (fast, slow)
        if previous is None:
            return None
        if previous[0] <= previous[1] and fast > slow:
            return "buy"
        if previous[0] >= previous[1] and fast < slow:
            return "sell"
        return None


def order_quantity(equity: Decimal, fraction: float, price: Decimal, decimals: int) -> Decimal:
    """How much to buy for `fraction` of `equity` at `price`, rounded down to `decimals`."""
    if price <= 0 or equity <= 0:
        return Decimal(0)
    raw = equity * Decimal(str(fraction)) / price
    return raw.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def bracket_prices(
    entry: Decimal, stop_loss_pct: float | None, take_profit_pct: float | None
) -> tuple[Decimal | None, Decimal | None]:
    """Stop-loss and take-profit prices of a long entry at `entry`, or None when unset."""
    stop = entry * (1 - Decimal(str(stop_loss_pct)) / 100) if stop_loss_pct else None
    take = entry * (1 + Decimal(str(take_profit_pct)) / 100) if take_profit_pct else None
    return stop, take

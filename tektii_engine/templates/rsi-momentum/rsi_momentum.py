"""Pure logic of the RSI momentum strategy: settings, Wilder's RSI, signals, sizing.

No network and no SDK here, so everything can be unit-tested without a gateway
(see test_rsi_momentum.py); main.py wires it to the Tektii trading gateway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal


class ConfigError(ValueError):
    """One or more environment variables hold invalid values (all of them are listed)."""


@dataclass(frozen=True)
class Settings:
    rsi_period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
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
    period = _number(env, "RSI_PERIOD", errors, int, 14, low=2)
    oversold = _number(env, "RSI_OVERSOLD", errors, float, 30.0, low=0, high=100)
    overbought = _number(env, "RSI_OVERBOUGHT", errors, float, 70.0, low=0, high=100)
    fraction = _number(env, "ORDER_EQUITY_FRACTION", errors, float, 0.10, low=0.0001, high=1)
    stop = _number(env, "STOP_LOSS_PCT", errors, float, None, low=0.01, high=99.99, optional=True)
    take = _number(env, "TAKE_PROFIT_PCT", errors, float, None, low=0.01, high=1000, optional=True)
    decimals = _number(env, "QUANTITY_DECIMALS", errors, int, 8, low=0, high=18)
    if not errors and oversold >= overbought:
        errors.append(f"RSI_OVERSOLD ({oversold:g}) must be below RSI_OVERBOUGHT ({overbought:g})")
    if errors:
        raise ConfigError("invalid settings: " + "; ".join(errors))
    return Settings(period, oversold, overbought, fraction, stop, take, decimals)


class WilderRSI:
    """Relative Strength Index with Wilder's smoothing.

    The first average gain/loss is the simple mean of the first `period` changes (so the
    first value needs ``period + 1`` closes); after that each average is
    ``(previous * (period - 1) + current) / period``. RSI is 100 when there were no
    losses, and 50 when prices did not move at all.
    """

    def __init__(self, period: int):
        self.period = period
        self._last: float | None = None
        self._gains: list[float] = []
        self._losses: list[float] = []
        self._avg_gain: float | None = None
        self._avg_loss = 0.0

    def update(self, close: float) -> float | None:
        last, self._last = self._last, close
        if last is None:
            return None
        change = close - last
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if self._avg_gain is None:
            self._gains.append(gain)
            self._losses.append(loss)
            if len(self._gains) < self.period:
                return None
            self._avg_gain = math.fsum(self._gains) / self.period
            self._avg_loss = math.fsum(self._losses) / self.period
        else:
            n = self.period
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        if self._avg_loss == 0:
            return 50.0 if self._avg_gain == 0 else 100.0
        return 100.0 - 100.0 / (1.0 + self._avg_gain / self._avg_loss)


class RsiMomentum:
    """Signals "buy" when RSI climbs back out of the oversold zone (crosses up through
    `oversold`), and "sell" when it falls back out of the overbought zone (crosses down
    through `overbought`): momentum turning, rather than merely being extreme."""

    def __init__(self, period: int, oversold: float, overbought: float):
        self._rsi = WilderRSI(period)
        self._oversold = oversold
        self._overbought = overbought
        self._previous: float | None = None
        self.value: float | None = None

    def update(self, close: float) -> str | None:
        self.value = self._rsi.update(close)
        if self.value is None:
            return None
        previous, self._previous = self._previous, self.value
        if previous is None:
            return None
        if previous < self._oversold <= self.value:
            return "buy"
        if previous > self._overbought >= self.value:
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

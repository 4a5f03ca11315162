"""The simulated broker's records: orders, fills, positions and closed trades.

Sides are +1 (buy / long) and -1 (sell / short); times are simulated epoch seconds.

Money, quantities and prices are `decimal.Decimal` (see docs/fill-model.md, "Numbers"):
quantities and prices are kept exactly as the strategy sent them (at most 28 decimal places),
market prices are the shortest decimal of the stored candle value, and arithmetic runs in
Python's default decimal context (28 significant digits, half-even rounding). Only a
position's mark (`current_price`, the last close) stays the candle's float, converted when
P&L is computed; the equity curve and its statistics are float64.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

ZERO = Decimal(0)


def market_decimal(value: float | Decimal | int) -> Decimal:
    """A candle price as the shortest decimal that reads back as the same float."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)

OPEN_STATUSES = frozenset({"PENDING", "OPEN", "PARTIALLY_FILLED"})
ORDER_TYPES = ("MARKET", "LIMIT", "STOP", "STOP_LIMIT", "TRAILING_STOP")
TIME_IN_FORCE = ("GTC", "DAY", "IOC", "FOK")


class BrokerError(Exception):
    """A request the gateway refuses; carries the gateway's HTTP status, code and details."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def rejected(cls, reason: str, message: str, *, reject_code: str | None = None):
        details = {"reject_reason": reason, "reject_code": reject_code or reason}
        return cls(422, "ORDER_REJECTED", f"Order rejected: {message}", details)


@attrs.define(slots=True, eq=False)
class Order:
    id: str
    symbol: str
    side: int
    order_type: str
    quantity: Decimal
    time_in_force: str
    created_at: int
    active_from: int  # first bar open time it may match: no fill on bars already seen
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_distance: Decimal | None = None
    trailing_type: str | None = None
    reduce_only: bool = False
    post_only: bool = False
    client_order_id: str | None = None
    oco_group_id: str | None = None
    position_id: str | None = None  # target position (hedging) or the position it opened
    parent_id: str | None = None  # bracket children point at their entry order
    correlation_id: str | None = None  # set by the broker: liquidation:<margin call id>
    status: str = "OPEN"
    filled_quantity: Decimal = ZERO
    average_fill_price: Decimal | None = None
    reject_reason: str | None = None
    updated_at: int = 0
    triggered: bool = False  # a STOP_LIMIT whose stop was reached now works as a limit
    watermark: Decimal | None = None  # best price seen, for TRAILING_STOP
    children: list[str] = attrs.field(factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return max(self.quantity - self.filled_quantity, ZERO)


@attrs.define(slots=True, eq=False)
class Position:
    id: str
    symbol: str
    side: int
    quantity: Decimal
    average_price: Decimal
    opened_at: int
    updated_at: int
    leverage: Decimal
    current_price: float  # the mark: the last close, as stored in the market data
    realized_pnl: Decimal = ZERO
    entry_fees: Decimal = ZERO  # commission paid on the still-open quantity, for trade P&L
    entry_spread: Decimal = ZERO  # spread paid on the still-open quantity (already in its price)
    # Float copies for the per-bar equity curve (float64 there); kept by `changed()`.
    signed_quantity_value: float = attrs.field(init=False, default=0.0)
    average_price_value: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self.changed()

    def changed(self) -> None:
        """Call after quantity or average_price change."""
        self.signed_quantity_value = float(self.quantity) * self.side
        self.average_price_value = float(self.average_price)

    @property
    def unrealized_value(self) -> float:
        return (self.current_price - self.average_price_value) * self.signed_quantity_value

    @property
    def mark(self) -> Decimal:
        return market_decimal(self.current_price)

    @property
    def unrealized_pnl(self) -> Decimal:
        return (self.mark - self.average_price) * self.quantity * self.side

    @property
    def margin(self) -> Decimal:
        return abs(self.quantity * self.mark) / self.leverage


@attrs.frozen
class Fill:
    id: str
    order_id: str
    symbol: str
    side: int
    quantity: Decimal
    price: Decimal
    commission: Decimal
    time: int
    is_maker: bool
    position_id: str | None
    spread_cost: Decimal = ZERO  # quantity × |price before slippage − mid|: already in `price`


@attrs.frozen
class ClosedTrade:
    """One round trip (or the closed part of a position), with fees of both legs."""

    symbol: str
    side: str  # LONG / SHORT
    quantity: Decimal
    entry_time: int
    entry_price: Decimal
    exit_time: int
    exit_price: Decimal
    gross_pnl: Decimal
    fees: Decimal
    pnl: Decimal  # gross_pnl - fees
    position_id: str
    exit_order_id: str
    spread_cost: Decimal = ZERO  # of both legs, pro rata; already in the prices and P&L
    exit_reason: str | None = None  # LIQUIDATION: closed by a margin call

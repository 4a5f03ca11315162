"""The simulated broker's records: orders, fills, positions and closed trades.

Sides are +1 (buy / long) and -1 (sell / short); times are simulated epoch seconds; money and
quantities are floats (deterministic, and formatted as decimal strings only on the wire).
"""

from __future__ import annotations

import attrs

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
    quantity: float
    time_in_force: str
    created_at: int
    active_from: int  # first bar open time it may match: no fill on bars already seen
    limit_price: float | None = None
    stop_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_distance: float | None = None
    trailing_type: str | None = None
    reduce_only: bool = False
    post_only: bool = False
    client_order_id: str | None = None
    oco_group_id: str | None = None
    position_id: str | None = None  # target position (hedging) or the position it opened
    parent_id: str | None = None  # bracket children point at their entry order
    status: str = "OPEN"
    filled_quantity: float = 0.0
    average_fill_price: float | None = None
    reject_reason: str | None = None
    updated_at: int = 0
    triggered: bool = False  # a STOP_LIMIT whose stop was reached now works as a limit
    watermark: float | None = None  # best price seen, for TRAILING_STOP
    children: list[str] = attrs.field(factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)


@attrs.define(slots=True, eq=False)
class Position:
    id: str
    symbol: str
    side: int
    quantity: float
    average_price: float
    opened_at: int
    updated_at: int
    leverage: float
    current_price: float
    realized_pnl: float = 0.0
    entry_fees: float = 0.0  # commission paid on the still-open quantity, for trade P&L

    @property
    def unrealized_pnl(self) -> float:
        return (self.current_price - self.average_price) * self.quantity * self.side

    @property
    def margin(self) -> float:
        return abs(self.quantity * self.current_price) / self.leverage


@attrs.frozen
class Fill:
    id: str
    order_id: str
    symbol: str
    side: int
    quantity: float
    price: float
    commission: float
    time: int
    is_maker: bool
    position_id: str | None


@attrs.frozen
class ClosedTrade:
    """One round trip (or the closed part of a position), with fees of both legs."""

    symbol: str
    side: str  # LONG / SHORT
    quantity: float
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    gross_pnl: float
    fees: float
    pnl: float  # gross_pnl - fees
    position_id: str
    exit_order_id: str

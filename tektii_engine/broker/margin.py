"""Maintenance margin, liquidation prices and margin calls (docs/fill-model.md, "Margin calls").

The maintenance requirement is a fraction of the margin used, per asset class
(tektii_core.market_model.MAINTENANCE_MARGIN): Σ |quantity × mark| × rate with
rate = fraction / leverage. When equity is below it at the close of a step, the account is
margin-called: every open position gets a reduce-only MARKET order (correlation id
`liquidation:<call id>`) that fills at its instrument's next bar open like any market order
(at the bid or ask, with slippage and commission), and the call is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

import attrs

from tektii_core.market_model import ASSET_CLASSES, MAINTENANCE_MARGIN
from tektii_engine.broker.models import ZERO, Order, Position, market_decimal

if TYPE_CHECKING:
    from tektii_engine.broker.broker import Broker

LIQUIDATION = "LIQUIDATION"
_PREFIX = "liquidation:"
_SIGNIFICANT = 12  # digits of a liquidation price


def default_maintenance(symbol: str) -> float:
    return MAINTENANCE_MARGIN[ASSET_CLASSES[symbol.split(":", 1)[0]]]


@attrs.define(eq=False)
class MarginCall:
    """One margin call: the account at the close that called it, and how it was liquidated."""

    id: str
    time: int
    equity: Decimal
    maintenance_margin: Decimal
    margin_used: Decimal
    positions: list[Position]  # snapshots at the call
    order_ids: list[str] = attrs.field(factory=list)
    liquidations: list[dict[str, Any]] = attrs.field(factory=list)  # one per finished order


class MarginDesk:
    """The account's maintenance margin and margin calls; the broker owns one."""

    def __init__(self, broker: Broker, maintenance: Mapping[str, float | Decimal] | None = None):
        self.broker = broker
        fractions = {s: market_decimal(default_maintenance(s)) for s in broker.leverage}
        fractions.update({s: market_decimal(v) for s, v in (maintenance or {}).items()})
        self.fraction = fractions
        self.rate = {s: fractions[s] / lev for s, lev in broker.leverage.items()}  # of notional
        self.rate_value = {s: float(r) for s, r in self.rate.items()}
        self.calls: list[MarginCall] = []
        self.active: MarginCall | None = None  # the last call, until equity is above again
        self.open_orders: dict[str, MarginCall] = {}  # liquidation orders still working

    def requirement(self) -> Decimal:
        rate = self.rate
        return sum((abs(p.quantity * p.mark) * rate[p.symbol] for p in self.broker.positions.values()), ZERO)

    def check(self, t: int, equity_value: float) -> MarginCall | None:
        """At the close of step `t`: call the account if its equity is below maintenance."""
        rate = self.rate_value
        floor = sum(
            abs(p.signed_quantity_value) * p.current_price * rate[p.symbol] for p in self.broker.positions.values()
        )
        if equity_value <= floor + 1e-9 * (abs(floor) + abs(equity_value)):  # close or below: exactly
            equity, maintenance = self.broker.equity(), self.requirement()
            if equity < maintenance:
                return self.active or self._call(t, equity, maintenance)  # one call per fall
        if not self.open_orders:
            self.active = None
        return None

    def _call(self, t: int, equity: Decimal, maintenance: Decimal) -> MarginCall:
        broker = self.broker
        call = MarginCall(
            id=f"mcall_{len(self.calls) + 1}",
            time=t,
            equity=equity,
            maintenance_margin=maintenance,
            margin_used=broker.margin_used(),
            positions=[attrs.evolve(p) for p in broker.positions.values()],
        )
        self.calls.append(call)
        self.active = call
        broker.sink("account", "MARGIN_CALL", None, None)
        for pos in list(broker.positions.values()):
            order = broker.submit(
                pos.symbol,
                -pos.side,
                pos.quantity,
                "MARKET",
                reduce_only=True,
                position_id=pos.id,
                active_from=t,  # the next bar of its instrument
                correlation_id=_PREFIX + call.id,
            )
            call.order_ids.append(order.id)
            self.open_orders[order.id] = call
        broker.sink("error", LIQUIDATION, call, None)
        return call

    def finished(self, order: Order) -> None:
        """A liquidation order ended (filled, or cancelled when its position closed before)."""
        call = self.open_orders.pop(order.id, None)
        if call is None:
            return
        broker = self.broker
        fill = broker.fills[-1] if broker.fills and broker.fills[-1].order_id == order.id else None
        trade = next((t for t in reversed(broker.closed_trades) if t.exit_order_id == order.id), None)
        call.liquidations.append(
            {
                "order_id": order.id,
                "position_id": order.position_id,
                "symbol": order.symbol,
                "status": order.status,
                "time": fill.time if fill else order.updated_at,
                "quantity": order.filled_quantity,
                "price": order.average_fill_price,
                "pnl": trade.pnl if trade else None,
            }
        )

    @staticmethod
    def is_liquidation(order: Order) -> bool:
        return order.correlation_id is not None and order.correlation_id.startswith(_PREFIX)

    def liquidation_price(self, position: Position) -> Decimal | None:
        """The mark of the position's instrument at which the account's equity would meet its
        maintenance requirement, other instruments' marks unchanged (None: no such price > 0).

        Equity and requirement are linear in that mark x: with N = Σ side × quantity and
        W = Σ rate × quantity over the instrument's positions, x = mark + (M − E) / (N − W).
        """
        broker = self.broker
        same = broker.positions_for(position.symbol)
        rate = self.rate[position.symbol]
        slope = sum((p.quantity * p.side for p in same), ZERO) - rate * sum((p.quantity for p in same), ZERO)
        if slope == 0:
            return None
        equity, maintenance = broker.equity(), self.requirement()
        mark = position.mark
        if equity <= maintenance:
            return mark  # already at or through it: liquidating
        with localcontext() as ctx:
            ctx.prec = _SIGNIFICANT
            price = +(mark + (maintenance - equity) / slope)
        return price if price > 0 else None

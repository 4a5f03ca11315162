"""The simulated broker: order validation, bar-by-bar matching, positions and the account.

The fill model (docs/fill-model.md) in one paragraph: an order may only match bars that open
at or after the simulated time it was placed (never a bar the strategy has already seen), at
the prices its side of the spread sees (tektii_engine.broker.fill_model). Every fill pays
`commission_bps` of its notional. Margin accounting: the balance changes only by fees and
realised P&L; equity = balance + unrealised P&L; margin used = notional / leverage; margin
calls are tektii_engine.broker.margin's. Every quantity, price and amount is a Decimal
(tektii_engine.broker.models says how exact).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tektii_engine.broker.fill_model import FillModel, _set
from tektii_engine.broker.margin import LIQUIDATION, MarginDesk
from tektii_engine.broker.models import (
    ORDER_TYPES,
    TIME_IN_FORCE,
    ZERO,
    BrokerError,
    ClosedTrade,
    Fill,
    Order,
    Position,
    market_decimal,
)

# Bounds of an order's quantity and prices (docs/fill-model.md, "Numbers"): more decimal
# places than PLACES are rounded half-even, and a value that rounds to zero is refused.
MAX_VALUE = Decimal("1e15")
PLACES = 28
_QUANTUM = Decimal(1).scaleb(-PLACES)
DAY = 86_400
# Within one bar, orders are matched market first, then stops, then limits: when a bracket's
# stop-loss and take-profit both lie inside one bar, the stop-loss wins (the pessimistic path).
_PRIORITY = {"MARKET": 0, "STOP": 1, "TRAILING_STOP": 1, "STOP_LIMIT": 1, "LIMIT": 2}

Sink = Callable[[str, str, Any, str | None], None]
"""sink(kind, event, obj, parent_order_id): kind is order / trade / position / account."""


def _noop_sink(kind: str, event: str, obj: Any, parent: str | None) -> None:
    pass


def parse_decimal(value: Any, field: str) -> Decimal:
    """A wire quantity or price (decimal string or JSON number), exactly as sent.

    400 INVALID_VALUE unless it is finite, positive, at most MAX_VALUE and non-zero once
    rounded to PLACES decimal places (then held to at most 28 significant digits).
    """
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise InvalidOperation
        number = market_decimal(value) if not isinstance(value, str) else Decimal(value.strip())
    except (InvalidOperation, ValueError):
        raise _invalid(field, "not a decimal number", value) from None
    if not number.is_finite():
        raise _invalid(field, "must be a finite number", value)
    if number <= 0:
        raise _invalid(field, "must be positive", value)
    if number > MAX_VALUE:
        raise _invalid(field, f"must be at most {MAX_VALUE:,f}", value)
    number = +number  # 28 significant digits (the default context)
    if number.as_tuple().exponent < -PLACES:  # type: ignore[operator]
        number = number.quantize(_QUANTUM)
        if not number:
            raise _invalid(field, f"rounds to zero at {PLACES} decimal places", value)
    return number


def _invalid(field: str, message: str, provided: Any = None) -> BrokerError:
    details = {"field": field, "provided": None if provided is None else str(provided)}
    return BrokerError(400, "INVALID_VALUE", f"Invalid value for {field}: {message}", details)


class Broker:
    """One account trading the subscribed symbols; not thread-safe (one event loop owns it)."""

    def __init__(
        self,
        leverage: Mapping[str, float | Decimal],
        *,
        initial_capital: float | Decimal = 100_000.0,
        position_mode: str = "netting",
        commission_bps: float = 0.0,
        slippage_bps: float = 0.0,
        spread_bps: Mapping[str, float] | None = None,
        maintenance: Mapping[str, float] | None = None,
        sink: Sink | None = None,
    ):
        self.leverage = {s: market_decimal(v) for s, v in leverage.items()}
        self.hedging = position_mode == "hedging"
        self.initial_capital = market_decimal(initial_capital)
        self.balance = self.initial_capital
        self.balance_value = float(self.balance)  # the balance as float, for the equity curve
        self.commission_rate = market_decimal(commission_bps) / 10_000
        # spread_bps: per symbol, a missing one trades without spread (the engine passes all)
        self.fill_model = FillModel(spread_bps or {}, slippage_bps)
        self.sink: Sink = sink or _noop_sink
        self.now = 0
        self.orders: dict[str, Order] = {}
        self.pending: dict[str, dict[str, Order]] = {s: {} for s in self.leverage}
        self.positions: dict[str, Position] = {}
        self.net: dict[str, str] = {}  # symbol -> position id (netting mode)
        self.marks: dict[str, float] = {}  # last close per symbol, as stored
        self.fills: list[Fill] = []
        self.closed_trades: list[ClosedTrade] = []
        self.total_fees = ZERO
        self._aliases = self._build_aliases(self.leverage)
        self._seq = {"ord": 0, "pos": 0, "trd": 0}
        self.margin = MarginDesk(self, maintenance)

    # -- identifiers and symbols ------------------------------------------------------------
    def _next(self, kind: str) -> str:
        self._seq[kind] += 1
        return f"{kind}_{self._seq[kind]}"

    @staticmethod
    def _build_aliases(symbols: Iterable[str]) -> dict[str, str]:
        """Accept the platform form (C:BTCUSD) and, when unambiguous, BTCUSD or BTC/USD."""
        aliases: dict[str, str] = {}
        ambiguous: set[str] = set()
        for symbol in symbols:
            aliases[symbol.upper()] = symbol
            bare = symbol.split(":", 1)[1].upper()
            for alias in {bare, bare.replace("/", "")}:
                if alias in aliases and aliases[alias] != symbol:
                    ambiguous.add(alias)
                aliases.setdefault(alias, symbol)
        for alias in ambiguous:
            del aliases[alias]
        return aliases

    def resolve_symbol(self, symbol: Any) -> str | None:
        if not isinstance(symbol, str):
            return None
        key = symbol.strip().upper()
        return self._aliases.get(key) or self._aliases.get(key.replace("/", ""))

    def _symbol_or_reject(self, symbol: Any) -> str:
        resolved = self.resolve_symbol(symbol)
        if resolved is None:
            known = ", ".join(self.leverage) or "none"
            raise BrokerError.rejected(
                "SYMBOL_NOT_TRADEABLE",
                f"unknown symbol {symbol!r} (this backtest trades: {known})",
                reject_code="UNKNOWN_SYMBOL",
            )
        return resolved

    # -- account ------------------------------------------------------------------------------
    def unrealized(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    def equity(self) -> Decimal:
        if not self.positions:
            return self.balance
        return self.balance + self.unrealized()

    def equity_value(self) -> float:
        """Equity as a float, for the equity curve (whose statistics are float64)."""
        if not self.positions:
            return self.balance_value
        return self.balance_value + sum(p.unrealized_value for p in self.positions.values())

    def margin_used(self) -> Decimal:
        return sum((p.margin for p in self.positions.values()), ZERO)

    def mark(self, symbol: str) -> Decimal | None:
        price = self.marks.get(symbol)
        return None if price is None else market_decimal(price)

    def account(self) -> dict[str, Decimal]:
        unrealized = self.unrealized()
        equity = self.balance + unrealized
        used = self.margin_used()
        return {
            "balance": self.balance,
            "equity": equity,
            "unrealized_pnl": unrealized,
            "margin_used": used,
            "margin_available": equity - used,
        }

    def positions_for(self, symbol: str, side: int | None = None) -> list[Position]:
        return [
            p
            for p in self.positions.values()
            if p.symbol == symbol and (side is None or p.side == side)
        ]

    # -- order entry ---------------------------------------------------------------------------
    def submit_request(self, body: Mapping[str, Any]) -> Order:
        """Validate an SDK `OrderRequest` body and place the order (BrokerError if refused)."""
        if not isinstance(body, Mapping):
            raise BrokerError(400, "INVALID_REQUEST", "Invalid request: expected a JSON object")
        for field in ("symbol", "side", "quantity", "order_type"):
            if body.get(field) is None:
                raise BrokerError(
                    400,
                    "INVALID_REQUEST",
                    f"Invalid request: {field} is required",
                    {"field": field},
                )
        symbol = self._symbol_or_reject(body["symbol"])
        side_text = str(body["side"]).upper()
        if side_text not in ("BUY", "SELL"):
            raise _invalid("side", "expected buy or sell", body["side"])
        order_type = str(body["order_type"]).upper()
        if order_type not in ORDER_TYPES:
            raise _invalid("order_type", f"expected one of {', '.join(ORDER_TYPES)}", order_type)
        tif = str(body.get("time_in_force") or "GTC").upper()
        if tif not in TIME_IN_FORCE:
            raise _invalid("time_in_force", f"expected one of {', '.join(TIME_IN_FORCE)}", tif)
        quantity = parse_decimal(body["quantity"], "quantity")
        prices: dict[str, Any] = {}
        for field in (
            "limit_price",
            "stop_price",
            "stop_loss",
            "take_profit",
            "trailing_distance",
        ):
            value = body.get(field)
            prices[field] = None if value is None else parse_decimal(value, field)
        trailing_type = str(body.get("trailing_type") or "ABSOLUTE").upper()
        if trailing_type not in ("ABSOLUTE", "PERCENT"):
            raise _invalid("trailing_type", "expected ABSOLUTE or PERCENT", trailing_type)
        return self.submit(
            symbol,
            1 if side_text == "BUY" else -1,
            quantity,
            order_type,
            time_in_force=tif,
            reduce_only=bool(body.get("reduce_only") or False),
            post_only=bool(body.get("post_only") or False),
            client_order_id=body.get("client_order_id"),
            oco_group_id=body.get("oco_group_id"),
            position_id=body.get("position_id"),
            trailing_type=trailing_type if order_type == "TRAILING_STOP" else None,
            **prices,
        )

    def submit(
        self,
        symbol: str,
        side: int,
        quantity: Decimal,
        order_type: str = "MARKET",
        *,
        time_in_force: str = "GTC",
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        trailing_distance: Decimal | None = None,
        trailing_type: str | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        client_order_id: str | None = None,
        oco_group_id: str | None = None,
        position_id: str | None = None,
        parent_id: str | None = None,
        active_from: int | None = None,
        correlation_id: str | None = None,
    ) -> Order:
        symbol = self._symbol_or_reject(symbol)
        # In-process callers may pass numbers; the wire path has parsed them already.
        quantity = parse_decimal(quantity, "quantity")
        limit_price, stop_price, stop_loss, take_profit, trailing_distance = (
            None if v is None else parse_decimal(v, f)
            for f, v in (
                ("limit_price", limit_price),
                ("stop_price", stop_price),
                ("stop_loss", stop_loss),
                ("take_profit", take_profit),
                ("trailing_distance", trailing_distance),
            )
        )
        needs = {
            "LIMIT": ("limit_price",),
            "STOP": ("stop_price",),
            "STOP_LIMIT": ("stop_price", "limit_price"),
            "TRAILING_STOP": ("trailing_distance",),
        }.get(order_type, ())
        given = {
            "limit_price": limit_price,
            "stop_price": stop_price,
            "trailing_distance": trailing_distance,
        }
        for field in needs:
            if given[field] is None:
                raise BrokerError.rejected("INVALID_PRICE", f"{order_type} orders need {field}")
        target: Position | None = None
        if position_id is not None:
            target = self.get_position(position_id)
            if target.symbol != symbol:
                raise _position_not_found(position_id)
            if target.side == side:
                raise BrokerError.rejected(
                    "REDUCE_ONLY_VIOLATED",
                    f"a {'buy' if side > 0 else 'sell'} order cannot reduce {position_id},"
                    f" which is {'long' if target.side > 0 else 'short'}",
                )
        closing = reduce_only or target is not None
        opposite = self.positions_for(symbol, -side)
        if reduce_only and not opposite:
            raise BrokerError.rejected(
                "REDUCE_ONLY_VIOLATED",
                f"reduce-only order but no opposite position in {symbol}",
            )
        if closing and (stop_loss is not None or take_profit is not None):
            raise BrokerError.rejected(
                "INVALID_PRICE",
                "stop_loss/take_profit attach only to orders that open a position",
            )
        mark = self.mark(symbol)
        quote = None if mark is None else self.fill_model.side_price(symbol, side, mark)  # bid or ask
        reference = {
            "LIMIT": limit_price,
            "STOP": stop_price,
            "STOP_LIMIT": stop_price,
        }.get(order_type) or quote
        if reference is not None:
            self._check_bracket(side, reference, stop_loss, take_profit)
        if post_only:
            if order_type != "LIMIT":
                raise BrokerError.rejected(
                    "POST_ONLY_VIOLATED", "post-only applies to LIMIT orders"
                )
            if quote is not None and (_set(limit_price) - quote) * side >= 0:
                raise BrokerError.rejected(
                    "POST_ONLY_VIOLATED",
                    f"limit {limit_price} would fill at once ({'ask' if side > 0 else 'bid'} {quote})",
                )
        if mark is not None and not closing:
            opening, released = quantity, ZERO
            if not self.hedging:  # the part that closes the opposite position frees its margin
                opening = max(quantity - sum(p.quantity for p in opposite), ZERO)
                released = self._released_margin(opposite, quantity)
            price = _set(reference or quote)  # quote is set whenever mark is
            needed = opening * price / self.leverage[symbol] + self._fee(quantity, price)
            available = self.account()["margin_available"] + released
            if needed > available:
                raise BrokerError.rejected(
                    "INSUFFICIENT_MARGIN",
                    f"needs {needed:.2f} of margin, {max(available, ZERO):.2f} available",
                )
        order = Order(
            id=self._next("ord"),
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=quantity,
            time_in_force=time_in_force,
            created_at=self.now,
            updated_at=self.now,
            active_from=self.now if active_from is None else active_from,
            limit_price=limit_price,
            stop_price=stop_price,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing_distance=trailing_distance,
            trailing_type=trailing_type,
            reduce_only=reduce_only,
            post_only=post_only,
            client_order_id=client_order_id,
            oco_group_id=oco_group_id,
            position_id=position_id,
            parent_id=parent_id,
            correlation_id=correlation_id,
            # A trailing stop trails from the price when it was placed: the last close's quote.
            watermark=quote if order_type == "TRAILING_STOP" else None,
        )
        self.orders[order.id] = order
        self.pending[symbol][order.id] = order
        event = "BRACKET_ORDER_CREATED" if parent_id else "ORDER_CREATED"
        self.sink("order", event, order, parent_id)
        return order

    @staticmethod
    def _released_margin(positions: list[Position], quantity: Decimal) -> Decimal:
        """Margin the positions (closed oldest first) free when `quantity` reduces them."""
        released, left = ZERO, quantity
        for pos in positions:
            take = min(left, pos.quantity)
            released += pos.margin * take / pos.quantity
            left -= take
            if left <= 0:
                break
        return released

    @staticmethod
    def _check_bracket(
        side: int, ref: Decimal, sl: Decimal | None, tp: Decimal | None
    ) -> None:
        if sl is not None and (ref - sl) * side <= 0:
            where = "below" if side > 0 else "above"
            raise BrokerError.rejected(
                "INVALID_PRICE", f"stop_loss {sl} must be {where} the entry price {ref}"
            )
        if tp is not None and (tp - ref) * side <= 0:
            where = "above" if side > 0 else "below"
            raise BrokerError.rejected(
                "INVALID_PRICE",
                f"take_profit {tp} must be {where} the entry price {ref}",
            )

    def get_position(self, position_id: str) -> Position:
        position = self.positions.get(position_id)
        if position is None:
            raise _position_not_found(position_id)
        return position

    def get_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise BrokerError(
                404,
                "ORDER_NOT_FOUND",
                f"Order not found: {order_id}",
                {"resource": "order", "id": order_id},
            )
        return order

    def _not_modifiable(self, order: Order, action: str) -> BrokerError:
        why = "closes a position in a margin call" if order.is_open else f"is {order.status}"
        return BrokerError(409, "ORDER_NOT_MODIFIABLE", f"Order cannot be {action}: {order.id} {why}",
                           {"order_id": order.id})

    def cancel(self, order_id: str) -> Order:
        order = self.get_order(order_id)
        if not order.is_open or self.margin.is_liquidation(order):
            raise self._not_modifiable(order, "cancelled")
        self._finish(order, "CANCELLED", "ORDER_CANCELLED")
        return order

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel the working orders (of `symbol`: a symbol not traded here has none)."""
        if symbol is not None:
            symbol = self.resolve_symbol(symbol)
            if symbol is None:
                return 0
        targets = [
            o
            for o in self.orders.values()
            if o.is_open and (symbol is None or o.symbol == symbol) and not self.margin.is_liquidation(o)
        ]
        for order in targets:
            self._finish(order, "CANCELLED", "ORDER_CANCELLED")
        return len(targets)

    def modify(self, order_id: str, changes: Mapping[str, Any]) -> Order:
        order = self.get_order(order_id)
        fields = {k: v for k, v in changes.items() if v is not None}
        unknown = set(fields) - {
            "quantity",
            "limit_price",
            "stop_price",
            "stop_loss",
            "take_profit",
            "trailing_distance",
        }
        if unknown:
            raise _invalid(min(unknown), "not a modifiable field")
        values = {
            k: parse_decimal(v, k) for k, v in fields.items()
        }
        if self.margin.is_liquidation(order):
            raise self._not_modifiable(order, "modified")
        if not order.is_open:
            # A filled entry's stop_loss/take_profit live on in its bracket children.
            children = [self.orders[c] for c in order.children if self.orders[c].is_open]
            if children and set(values) <= {"stop_loss", "take_profit"}:
                for child in children:
                    new = values.get("stop_loss" if child.order_type == "STOP" else "take_profit")
                    if new is None:
                        continue
                    if child.order_type == "STOP":
                        child.stop_price = new
                    else:
                        child.limit_price = new
                    child.updated_at = self.now
                    self.sink("order", "BRACKET_ORDER_MODIFIED", child, order.id)
                order.stop_loss = values.get("stop_loss", order.stop_loss)
                order.take_profit = values.get("take_profit", order.take_profit)
                return order
            raise self._not_modifiable(order, "modified")
        allowed = {
            "MARKET": {"quantity"},
            "LIMIT": {"quantity", "limit_price"},
            "STOP": {"quantity", "stop_price"},
            "STOP_LIMIT": {"quantity", "stop_price", "limit_price"},
            "TRAILING_STOP": {"quantity", "trailing_distance"},
        }[order.order_type]
        if not order.reduce_only:
            allowed = allowed | {"stop_loss", "take_profit"}
        for field in values:
            if field not in allowed:
                raise _invalid(field, f"cannot be changed on a {order.order_type} order")
        if values.get("quantity", order.quantity) < order.filled_quantity:
            raise BrokerError.rejected("INVALID_QUANTITY", "quantity below the filled quantity")
        for field, value in values.items():
            setattr(order, field, value)
        order.updated_at = self.now
        self.sink(
            "order",
            "BRACKET_ORDER_MODIFIED" if order.parent_id else "ORDER_MODIFIED",
            order,
            order.parent_id,
        )
        return order

    def close_position(
        self,
        position_id: str,
        *,
        quantity: Decimal | None = None,
        order_type: str = "MARKET",
        limit_price: Decimal | None = None,
        cancel_associated_orders: bool = True,
    ) -> Order:
        position = self.get_position(position_id)
        order_type = str(order_type).upper()
        if order_type not in ("MARKET", "LIMIT"):  # as POST /v1/orders validates its body
            raise _invalid("order_type", "a position closes with a MARKET or LIMIT order", order_type)
        qty = position.quantity if quantity is None else parse_decimal(quantity, "quantity")
        if qty > position.quantity:
            raise BrokerError.rejected(
                "INVALID_QUANTITY",
                f"quantity {qty} exceeds the position's {position.quantity}",
            )
        if cancel_associated_orders and qty >= position.quantity:
            self._cancel_linked(position.id)
        return self.submit(
            position.symbol,
            -position.side,
            qty,
            order_type,
            limit_price=limit_price,
            reduce_only=True,
            position_id=position.id,
        )

    def close_all(self, symbol: str | None = None) -> list[Order]:
        """Close every position (of `symbol`: a symbol not traded here has none)."""
        if symbol is not None:
            symbol = self.resolve_symbol(symbol)
            if symbol is None:
                return []
        targets = [p for p in self.positions.values() if symbol is None or p.symbol == symbol]
        return [self.close_position(p.id) for p in targets]

    def modify_position(self, position_id: str, changes: Mapping[str, Any]) -> Position:
        """Move (or set, or with null remove) a position's stop-loss and take-profit exits.

        The exits are the position's reduce-only STOP (stop loss) and LIMIT (take profit)
        orders for its whole quantity, e.g. a bracket's legs; a missing one is created, in one
        OCO group with the other.
        """
        position = self.get_position(position_id)
        unknown = sorted(set(changes) - {"stop_loss", "take_profit"})
        if unknown:
            raise _invalid(unknown[0], "not a field of a position's exits (stop_loss, take_profit)")
        if not changes:
            raise _invalid("stop_loss", "give stop_loss and/or take_profit")
        values = {k: None if v is None else parse_decimal(v, k) for k, v in changes.items()}
        mark = self.mark(position.symbol) or position.average_price
        # The exits are on the far side of the mark: below it for a long's stop, and so on.
        self._check_bracket(position.side, mark, values.get("stop_loss"), values.get("take_profit"))
        exits = {
            o.order_type: o
            for o in self.orders.values()
            if o.is_open and o.reduce_only and o.position_id == position.id and o.order_type in ("STOP", "LIMIT")
        }
        group = next((o.oco_group_id for o in exits.values() if o.oco_group_id), f"oco_{position.id}")
        for field, kind in (("stop_loss", "STOP"), ("take_profit", "LIMIT")):
            if field not in values:
                continue
            price, leg = values[field], exits.get(kind)
            if leg is not None and price is None:
                self._finish(leg, "CANCELLED", "ORDER_CANCELLED")
            elif leg is not None:
                if kind == "STOP":
                    leg.stop_price = price
                else:
                    leg.limit_price = price
                leg.updated_at = self.now
                self.sink("order", "BRACKET_ORDER_MODIFIED" if leg.parent_id else "ORDER_MODIFIED", leg, leg.parent_id)
            elif price is not None:
                leg = Order(
                    id=self._next("ord"),
                    symbol=position.symbol,
                    side=-position.side,
                    order_type=kind,
                    quantity=position.quantity,
                    time_in_force="GTC",
                    created_at=self.now,
                    updated_at=self.now,
                    active_from=self.now,
                    reduce_only=True,
                    oco_group_id=group,
                    position_id=position.id,
                    stop_price=price if kind == "STOP" else None,
                    limit_price=price if kind == "LIMIT" else None,
                )
                self.orders[leg.id] = leg
                self.pending[position.symbol][leg.id] = leg
                self.sink("order", "ORDER_CREATED", leg, None)
            if leg is not None and leg.parent_id:  # keep the entry's view of its bracket true
                setattr(self.orders[leg.parent_id], field, price)
        return position

    # -- matching -------------------------------------------------------------------------------
    def update_mark(self, symbol: str, price: float) -> None:
        self.marks[symbol] = price
        if self.positions:
            for p in self.positions.values():
                if p.symbol == symbol:
                    p.current_price = price

    def on_bar(
        self,
        symbol: str,
        t_open: int,
        seconds: int,
        o: float,
        h: float,
        l: float,
        c: float,
    ) -> None:
        """Match the symbol's working orders against one bar, then mark positions at its close."""
        book = self.pending[symbol]
        if book:
            fills = self.fill_model
            sides = fills.sides(symbol, market_decimal(o), market_decimal(h), market_decimal(l))
            candidates = sorted(
                (x for x in book.values() if x.active_from <= t_open),
                key=lambda x: _PRIORITY[x.order_type if not x.triggered else "LIMIT"],
            )
            for order in candidates:
                if not order.is_open:
                    continue  # cancelled by an OCO sibling earlier in this bar
                if order.time_in_force == "DAY" and t_open >= (order.created_at // DAY + 1) * DAY:
                    self._finish(order, "EXPIRED", "ORDER_EXPIRED")
                    continue
                price, maker, slipped = fills.trigger(order, *sides[order.side])
                if price is not None:
                    spread = fills.spread_cost(symbol, order.side, price, 1)  # per unit
                    fill = fills.slip(order.side, price) if slipped else price
                    self._execute(order, fill, maker, t_open, t_open + seconds, spread)
                elif order.time_in_force in ("IOC", "FOK"):
                    self._finish(order, "CANCELLED", "ORDER_CANCELLED")
        self.update_mark(symbol, c)

    def _fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        return abs(quantity * price) * self.commission_rate

    def _execute(
        self, order: Order, price: Decimal, maker: bool, t_open: int, t_next: int, spread: Decimal = ZERO
    ) -> None:
        symbol, side = order.symbol, order.side
        qty = order.remaining
        reductions: list[tuple[Position, Decimal]] = []
        closing = order.reduce_only or order.position_id is not None
        if order.position_id is not None:
            target = self.positions.get(order.position_id)
            if target is None or target.side == side:
                self._finish(order, "CANCELLED", "ORDER_CANCELLED")  # its position is gone
                return
            reductions.append((target, min(qty, target.quantity)))
        elif order.reduce_only or not self.hedging:
            # Netting has one position per symbol; hedging reduce-only closes oldest first.
            left = qty
            for pos in self.positions_for(symbol, -side):
                if left <= 0:
                    break
                take = min(left, pos.quantity)
                reductions.append((pos, take))
                left -= take
        reduced = sum((r for _, r in reductions), ZERO)
        opening = ZERO if closing else max(qty - reduced, ZERO)
        if closing:
            qty = reduced  # never more than what is left to reduce
        if qty <= 0:
            self._reject(order, "REDUCE_ONLY_VIOLATED")
            return
        fee = self._fee(qty, price)
        spread *= qty  # the whole fill's
        if opening > 0:
            needed = opening * price / self.leverage[symbol] + fee
            released = sum((pos.margin * take / pos.quantity for pos, take in reductions), ZERO)
            if needed > self.account()["margin_available"] + released:
                self._reject(order, "INSUFFICIENT_MARGIN")
                return
        self.balance -= fee
        self.total_fees += fee
        position_events: list[tuple[str, Position]] = []
        touched: Position | None = None
        for pos, take in reductions:
            gross = (price - pos.average_price) * take * pos.side
            entry_fee = pos.entry_fees * take / pos.quantity
            exit_fee = fee * take / qty
            entry_spread = pos.entry_spread * take / pos.quantity
            self.closed_trades.append(
                ClosedTrade(
                    symbol=symbol,
                    side="LONG" if pos.side > 0 else "SHORT",
                    quantity=take,
                    entry_time=pos.opened_at,
                    entry_price=pos.average_price,
                    exit_time=t_open,
                    exit_price=price,
                    gross_pnl=gross,
                    fees=entry_fee + exit_fee,
                    pnl=gross - entry_fee - exit_fee,
                    position_id=pos.id,
                    exit_order_id=order.id,
                    spread_cost=entry_spread + spread * take / qty,
                    exit_reason=LIQUIDATION if self.margin.is_liquidation(order) else None,
                )
            )
            self.balance += gross
            pos.realized_pnl += gross
            pos.entry_fees -= entry_fee
            pos.entry_spread -= entry_spread
            pos.quantity -= take
            pos.changed()
            pos.updated_at = t_open
            pos.current_price = self.marks.get(symbol, float(price))
            touched = pos
            if pos.quantity <= 0:
                pos.quantity = ZERO
                del self.positions[pos.id]
                if self.net.get(symbol) == pos.id:
                    del self.net[symbol]
                position_events.append(("POSITION_CLOSED", pos))
            else:
                position_events.append(("POSITION_MODIFIED", pos))
        if opening > 0:
            # netting adds to the symbol's position; hedging always opens a new one
            net_id = None if self.hedging else self.net.get(symbol)
            pos = self.positions[net_id] if net_id else None  # type: ignore[assignment]
            opening_fee, opening_spread = fee * opening / qty, spread * opening / qty
            if pos is not None and pos.side == side:
                total = pos.quantity + opening
                pos.average_price = (pos.average_price * pos.quantity + price * opening) / total
                pos.quantity = total
                pos.changed()
                pos.entry_fees += opening_fee
                pos.entry_spread += opening_spread
                pos.updated_at = t_open
                position_events.append(("POSITION_MODIFIED", pos))
            else:
                pos = Position(
                    id=self._next("pos"),
                    symbol=symbol,
                    side=side,
                    quantity=opening,
                    average_price=price,
                    opened_at=t_open,
                    updated_at=t_open,
                    leverage=self.leverage[symbol],
                    current_price=self.marks.get(symbol, float(price)),
                    entry_fees=opening_fee,
                    entry_spread=opening_spread,
                )
                self.positions[pos.id] = pos
                if not self.hedging:
                    self.net[symbol] = pos.id
                position_events.append(("POSITION_OPENED", pos))
            touched = pos
        fill = Fill(
            id=self._next("trd"),
            order_id=order.id,
            symbol=symbol,
            side=side,
            quantity=qty,
            price=price,
            commission=fee,
            time=t_open,
            is_maker=maker,
            position_id=touched.id if touched else None,
            spread_cost=spread,
        )
        self.fills.append(fill)
        self.balance_value = float(self.balance)
        order.filled_quantity += qty
        order.average_fill_price = price
        if order.position_id is None and touched is not None:
            order.position_id = touched.id  # reported on the wire as the order's position
        self._finish(order, "FILLED", "ORDER_FILLED")
        self.sink("trade", "TRADE_FILLED", fill, None)
        for event, pos in position_events:
            self.sink("position", event, pos, None)
            if event == "POSITION_CLOSED":
                self._cancel_linked(pos.id)
        self.sink("account", "BALANCE_UPDATED", None, None)
        if order.oco_group_id:
            for other in list(self.pending[symbol].values()):
                if other.oco_group_id == order.oco_group_id and other is not order:
                    self._finish(other, "CANCELLED", "ORDER_CANCELLED")
        if opening > 0 and (order.stop_loss is not None or order.take_profit is not None):
            self._attach_bracket(order, touched, opening, t_next)

    def _attach_bracket(
        self, entry: Order, pos: Position | None, qty: Decimal, t_next: int
    ) -> None:
        group = f"oco_{entry.id}"
        legs: list[tuple[str, Decimal | None, Decimal | None]] = []
        if entry.stop_loss is not None:
            legs.append(("STOP", entry.stop_loss, None))
        if entry.take_profit is not None:
            legs.append(("LIMIT", None, entry.take_profit))
        for kind, stop_price, limit_price in legs:
            child = Order(
                id=self._next("ord"),
                symbol=entry.symbol,
                side=-entry.side,
                order_type=kind,
                quantity=qty,
                time_in_force="GTC",
                created_at=self.now,
                updated_at=self.now,
                active_from=t_next,  # brackets start working on the bar after the entry fill
                reduce_only=True,
                oco_group_id=group,
                position_id=pos.id if pos else None,
                parent_id=entry.id,
                stop_price=stop_price,
                limit_price=limit_price,
            )
            self.orders[child.id] = child
            self.pending[entry.symbol][child.id] = child
            entry.children.append(child.id)
            self.sink("order", "BRACKET_ORDER_CREATED", child, entry.id)

    def _cancel_linked(self, position_id: str) -> None:
        for order in [
            o for o in self.orders.values() if o.is_open and o.position_id == position_id
        ]:
            if order.reduce_only and not self.margin.is_liquidation(order):  # that one ends at its fill
                self._finish(order, "CANCELLED", "ORDER_CANCELLED")

    def _reject(self, order: Order, reason: str) -> None:
        order.reject_reason = reason
        self._finish(order, "REJECTED", "ORDER_REJECTED")

    def _finish(self, order: Order, status: str, event: str) -> None:
        order.status = status
        order.updated_at = self.now
        if status != "OPEN":
            self.pending[order.symbol].pop(order.id, None)
            if order.correlation_id is not None:
                self.margin.finished(order)
        self.sink("order", event, order, order.parent_id)


def _position_not_found(position_id: str) -> BrokerError:
    return BrokerError(404, "POSITION_NOT_FOUND", f"Position not found: {position_id}",
                       {"resource": "position", "id": position_id})

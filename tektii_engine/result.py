"""The outcome of one backtest run, serialisable to plain camelCase JSON for storage."""

from __future__ import annotations

from typing import Any

import attrs

from tektii_core.scenario_config.model import ScenarioConfig
from tektii_core.timeutil import format_time, to_epoch

COMPLETE, FAILED, CANCELLED = "COMPLETE", "FAILED", "CANCELLED"


def _side(side: int) -> str:
    return "BUY" if side > 0 else "SELL"


def _num(value: Any) -> float | None:
    """A broker Decimal as a JSON number of the stored result (the wire keeps exact strings)."""
    return None if value is None else float(value)


def order_record(order: Any) -> dict[str, Any]:
    """A broker Order as a camelCase result record (numbers stay numbers)."""
    return {
        "id": order.id,
        "symbol": order.symbol,
        "side": _side(order.side),
        "orderType": order.order_type,
        "quantity": _num(order.quantity),
        "filledQuantity": _num(order.filled_quantity),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "limitPrice": _num(order.limit_price),
        "stopPrice": _num(order.stop_price),
        "stopLoss": _num(order.stop_loss),
        "takeProfit": _num(order.take_profit),
        "reduceOnly": order.reduce_only,
        "averageFillPrice": _num(order.average_fill_price),
        "rejectReason": order.reject_reason,
        "clientOrderId": order.client_order_id,
        "parentOrderId": order.parent_id,
        "positionId": order.position_id,
        "correlationId": order.correlation_id,
        "createdAt": format_time(order.created_at),
        "updatedAt": format_time(order.updated_at),
    }


def fill_record(fill: Any) -> dict[str, Any]:
    return {
        "id": fill.id,
        "orderId": fill.order_id,
        "symbol": fill.symbol,
        "side": _side(fill.side),
        "quantity": _num(fill.quantity),
        "price": _num(fill.price),
        "commission": _num(fill.commission),
        "time": format_time(fill.time),
        "isMaker": fill.is_maker,
        "positionId": fill.position_id,
        "spreadCost": _num(fill.spread_cost),
    }


def margin_call_record(call: Any) -> dict[str, Any]:
    """A broker MarginCall as stored: the account at the call, then each liquidation."""
    return {
        "id": call.id,
        "time": format_time(call.time),
        "equity": _num(call.equity),
        "maintenanceMargin": _num(call.maintenance_margin),
        "marginUsed": _num(call.margin_used),
        "positions": [
            {
                "id": p.id,
                "symbol": p.symbol,
                "side": "LONG" if p.side > 0 else "SHORT",
                "quantity": _num(p.quantity),
                "averageEntryPrice": _num(p.average_price),
                "mark": p.current_price,
                "unrealizedPnl": _num(p.unrealized_pnl),
            }
            for p in call.positions
        ],
        "liquidations": [
            {
                "orderId": x["order_id"],
                "positionId": x["position_id"],
                "symbol": x["symbol"],
                "status": x["status"],
                "time": format_time(x["time"]),
                "quantity": _num(x["quantity"]),
                "price": _num(x["price"]),
                "pnl": _num(x["pnl"]),
            }
            for x in call.liquidations
        ],
    }


@attrs.frozen
class ClosedTradeRecord:
    """A round trip as stored: what tektii_engine.metrics.compute_metrics reads."""

    symbol: str
    side: str
    quantity: float
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    pnl: float
    gross_pnl: float
    fees: float
    spread_cost: float = 0.0  # already in the prices (and so in pnl), not deducted again
    exit_reason: str | None = None  # LIQUIDATION: closed by a margin call

    @classmethod
    def of(cls, trade: Any) -> ClosedTradeRecord:
        return cls(
            trade.symbol,
            trade.side,
            float(trade.quantity),
            trade.entry_time,
            float(trade.entry_price),
            trade.exit_time,
            float(trade.exit_price),
            float(trade.pnl),
            float(trade.gross_pnl),
            float(trade.fees),
            float(trade.spread_cost),
            trade.exit_reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "entryTime": format_time(self.entry_time),
            "entryPrice": self.entry_price,
            "exitTime": format_time(self.exit_time),
            "exitPrice": self.exit_price,
            "pnl": self.pnl,
            "grossPnl": self.gross_pnl,
            "fees": self.fees,
            "spreadCost": self.spread_cost,
            "exitReason": self.exit_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClosedTradeRecord:
        return cls(
            d["symbol"],
            d["side"],
            d["quantity"],
            to_epoch(d["entryTime"]),
            d["entryPrice"],
            to_epoch(d["exitTime"]),
            d["exitPrice"],
            d["pnl"],
            d["grossPnl"],
            d["fees"],
            d.get("spreadCost", 0.0),
            d.get("exitReason"),
        )


@attrs.define
class BacktestResult:
    """State, reason, equity curve, orders, fills, closed trades, strategy log and counters.

    The equity curve is columnar (epoch seconds; equity and cash in account currency;
    drawdown as a fraction of the running peak) and holds one point per bar of the finest
    subscription, or per 2m..1d step on long windows (steps divide a day: daily closes exact).
    """

    state: str
    reason: str | None
    config: dict[str, Any]
    initial_capital: float
    final_equity: float
    final_balance: float
    max_drawdown: float  # exact over every bar, not only the sampled curve
    total_fees: float
    longest_drawdown_s: float | None = None  # exact over every bar (None: from the curve)
    times: list[int] = attrs.field(factory=list)
    equity: list[float] = attrs.field(factory=list)
    cash: list[float] = attrs.field(factory=list)
    drawdown: list[float] = attrs.field(factory=list)
    orders: list[dict[str, Any]] = attrs.field(factory=list)
    fills: list[dict[str, Any]] = attrs.field(factory=list)
    trades: list[ClosedTradeRecord] = attrs.field(factory=list)
    open_positions: list[dict[str, Any]] = attrs.field(factory=list)
    margin_calls: list[dict[str, Any]] = attrs.field(factory=list)
    log: str = ""
    counters: dict[str, int] = attrs.field(factory=dict)

    @property
    def total_return_pct(self) -> float:
        return (self.final_equity / self.initial_capital - 1.0) * 100.0

    def metrics(self, *, risk_free_rate: float = 0.0) -> dict[str, float | int]:
        """Headline metrics (tektii_engine.metrics); crypto-only runs annualise over 365 days."""
        from tektii_engine.metrics import compute_metrics

        symbols = [s["instrument"] for s in self.config.get("subscriptions", [])]
        periods = 365 if symbols and all(s.startswith("C:") for s in symbols) else 252
        open_fees = self.total_fees - sum(t.fees for t in self.trades)
        start = self.config.get("startTime")
        metrics = compute_metrics(
            self.times,
            self.equity,
            self.trades,
            initial_capital=self.initial_capital,
            periods_per_year=periods,
            risk_free_rate=risk_free_rate,
            fees=max(open_fees, 0.0),
            start_time=to_epoch(start) if start else None,
            open_since=[to_epoch(p["openedAt"]) for p in self.open_positions],
        )
        # The curve is thinned on long windows (it keeps every daily close); the engine
        # tracked the drawdowns on every bar.
        if "maxDrawdownPct" in metrics:
            metrics["maxDrawdownPct"] = max(metrics["maxDrawdownPct"], self.max_drawdown * 100.0)
        if "longestDrawdownDays" in metrics and self.longest_drawdown_s is not None:
            metrics["longestDrawdownDays"] = self.longest_drawdown_s / 86_400
        metrics["marginCalls"] = len(self.margin_calls)
        return metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "config": self.config,
            "initialCapital": self.initial_capital,
            "finalEquity": self.final_equity,
            "finalBalance": self.final_balance,
            "totalReturnPct": self.total_return_pct,
            "maxDrawdownPct": self.max_drawdown * 100.0,
            "totalFees": self.total_fees,
            "longestDrawdownS": self.longest_drawdown_s,
            "equityCurve": [
                {"time": format_time(t), "equity": e, "cash": c, "drawdown": d}
                for t, e, c, d in zip(
                    self.times, self.equity, self.cash, self.drawdown, strict=True
                )
            ],
            "orders": self.orders,
            "fills": self.fills,
            "trades": [t.to_dict() for t in self.trades],
            "openPositions": self.open_positions,
            "marginCalls": self.margin_calls,
            "log": self.log,
            "counters": self.counters,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BacktestResult:
        curve = d.get("equityCurve", [])
        return cls(
            state=d["state"],
            reason=d.get("reason"),
            config=d.get("config", {}),
            initial_capital=d["initialCapital"],
            final_equity=d["finalEquity"],
            final_balance=d["finalBalance"],
            max_drawdown=d["maxDrawdownPct"] / 100.0,
            total_fees=d["totalFees"],
            longest_drawdown_s=d.get("longestDrawdownS"),
            times=[to_epoch(p["time"]) for p in curve],
            equity=[p["equity"] for p in curve],
            cash=[p["cash"] for p in curve],
            drawdown=[p["drawdown"] for p in curve],
            orders=d.get("orders", []),
            fills=d.get("fills", []),
            trades=[ClosedTradeRecord.from_dict(t) for t in d.get("trades", [])],
            open_positions=d.get("openPositions", []),
            margin_calls=d.get("marginCalls", []),
            log=d.get("log", ""),
            counters=d.get("counters", {}),
        )


# What a result records of its config: the engine's fields, numbers as floats and the window to
# the second (as results have always stored them); not the version, riskFreeRate or environment.
_NOT_RECORDED = ("strategyVersionId", "riskFreeRate", "environment")
_FLOATS = ("initialCapital", "commissionBps", "slippageBps", "forexLeverage", "startupTimeoutSeconds",
           "eventTimeoutSeconds")


def recorded_config(config: ScenarioConfig) -> dict[str, Any]:
    """The config of a run as its result stores it, from the config's one serialiser."""
    data = config.to_api()
    data.update(startTime=format_time(config.start), endTime=format_time(config.end))
    for name in _FLOATS:
        data[name] = float(data[name])
    return {k: v for k, v in data.items() if k not in _NOT_RECORDED}


def build_result(
    engine: Any, state: str, reason: str | None, log: str, events: int
) -> BacktestResult:
    """Collect a finished engine's state into a BacktestResult."""
    broker = engine.broker
    engine.record_final()
    times, equity, cash, drawdown = engine.curve
    return BacktestResult(
        state=state,
        reason=reason,
        config=recorded_config(engine.config),
        initial_capital=float(engine.config.initial_capital),
        final_equity=float(broker.equity()),
        final_balance=float(broker.balance),
        max_drawdown=engine.max_drawdown,
        total_fees=float(broker.total_fees),
        longest_drawdown_s=engine.longest_drawdown_s,
        times=list(times),
        equity=list(equity),
        cash=list(cash),
        drawdown=list(drawdown),
        orders=[order_record(o) for o in broker.orders.values()],
        fills=[fill_record(f) for f in broker.fills],
        trades=[ClosedTradeRecord.of(t) for t in broker.closed_trades],
        open_positions=[
            {
                "id": p.id,
                "symbol": p.symbol,
                "side": "LONG" if p.side > 0 else "SHORT",
                "quantity": float(p.quantity),
                "averageEntryPrice": float(p.average_price),
                "currentPrice": p.current_price,
                "unrealizedPnl": float(p.unrealized_pnl),
                "liquidationPrice": _num(broker.margin.liquidation_price(p)),
                "openedAt": format_time(p.opened_at),
            }
            for p in broker.positions.values()
        ],
        margin_calls=[margin_call_record(c) for c in broker.margin.calls],
        log=log,
        counters={
            "candles": engine.candles,
            "steps": engine.batches_done,
            "events": events,
            "orders": len(broker.orders),
            "fills": len(broker.fills),
        },
    )

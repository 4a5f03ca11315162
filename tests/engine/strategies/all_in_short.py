"""Sells as much as its margin allows on the first candle, then holds: a margin call waiting to
happen. Reports every lifecycle and error event it sees, the quote and the position's
liquidation price, and what the gateway answers when it tries to cancel a liquidation.
"""

import json
import os
from decimal import Decimal

from tektii import (
    AccountEvent,
    CandleEvent,
    ConflictError,
    ErrorEvent,
    OrderEvent,
    PositionEvent,
    TradeEvent,
    TradingGateway,
)

report = {"events": [], "quote": None, "liquidation_price": None, "cancel": None, "candles": 0}

with TradingGateway() as gw:

    def done(event):
        with open(os.environ["REPORT"], "w") as out:
            json.dump(report, out)

    with gw.stream(on_backtest_complete=done) as events:
        for event in events:
            if isinstance(event, CandleEvent):
                report["candles"] += 1
                symbol = event.bar.symbol
                if report["candles"] == 1:
                    quote = gw.get_quote(symbol)
                    report["quote"] = [quote.bid, quote.ask, quote.last]
                    account = gw.get_account()
                    leverage = Decimal(os.environ.get("LEVERAGE", "30"))
                    quantity = int(Decimal(account.equity) * leverage / Decimal(quote.bid) * Decimal("0.98"))
                    gw.submit_order(symbol, "sell", str(quantity))
                elif report["candles"] == 2:
                    report["liquidation_price"] = gw.list_positions(symbol=symbol)[0].liquidation_price
            elif isinstance(event, OrderEvent):
                report["events"].append(["order", event.event.value, event.order.status.value, event.order.id,
                                         event.order.correlation_id, event.order.reduce_only])
                if event.order.correlation_id and event.event.value == "ORDER_CREATED":
                    try:
                        gw.cancel_order(event.order.id)
                    except ConflictError as err:
                        report["cancel"] = [err.status_code, err.code]
            elif isinstance(event, TradeEvent):
                report["events"].append(["trade", event.event.value, event.trade.order_id, event.trade.price])
            elif isinstance(event, PositionEvent):
                report["events"].append(["position", event.event.value, event.position.id,
                                         event.position.liquidation_price])
            elif isinstance(event, AccountEvent):
                report["events"].append(["account", event.event.value, event.account.equity])
            elif isinstance(event, ErrorEvent):
                report["events"].append(["error", event.code.value, event.message, event.details])

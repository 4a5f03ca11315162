"""A scripted SDK strategy: one step of orders per candle, everything it observes in a report.

Runs unmodified against any gateway; the engine tests compare its report with numbers
computed by hand from the candles in tests/engine/test_gateway_e2e.py.
"""

import json
import os
from collections import Counter

from tektii import BadRequestError, CandleEvent, OrderRejectedError, TradingGateway

SYMBOL = "C:BTCUSD"
report = {"steps": {}, "events": Counter(), "order_events": [], "errors": {}}
state = {}


def rejected(name, **order):
    try:
        gw.submit_order(SYMBOL, **order)
    except (OrderRejectedError, BadRequestError) as err:
        details = err.details or {}
        report["errors"][name] = [
            err.status_code,
            err.code,
            details.get("reject_reason") or details.get("field"),
        ]


def step(k, bar):
    if k == 0:
        report["steps"]["warmup"] = [
            b.timestamp.isoformat() for b in gw.get_bars(SYMBOL, "1m", limit=5)
        ]
        report["steps"]["quote"] = gw.get_quote(SYMBOL).last
        report["steps"]["capabilities"] = gw.get_capabilities().position_mode.value
        gw.submit_order(SYMBOL, "buy", "2")
    elif k == 1:
        pos = gw.list_positions(symbol=SYMBOL)[0]
        report["steps"]["after_market"] = [pos.quantity, pos.average_entry_price]
        gw.submit_order(SYMBOL, "buy", "1", "limit", limit_price="95")
        state["stop"] = gw.submit_order(SYMBOL, "sell", "1", "stop", stop_price="90").id
        state["ioc"] = gw.submit_order(
            SYMBOL, "buy", "1", "limit", limit_price="50", time_in_force="IOC"
        ).id
    elif k == 2:
        pos = gw.list_positions(symbol=SYMBOL)[0]
        report["steps"]["after_limit"] = [pos.quantity, pos.average_entry_price]
        report["steps"]["ioc_status"] = gw.get_order(state["ioc"]).status.value
        report["steps"]["open_orders"] = [o.id for o in gw.list_orders()]
        modified = gw.modify_order(state["stop"], stop_price="92").order
        report["steps"]["modified_stop"] = modified.stop_price
        report["steps"]["cancelled"] = gw.cancel_order(state["stop"]).order.status.value
        gw.submit_order(SYMBOL, "buy", "1", "stop_limit", stop_price="104", limit_price="105")
        rejected("zero", side="buy", quantity="0")
        rejected("margin", side="buy", quantity="10000")
        try:
            gw.submit_order("C:DOGEUSD", "buy", "1")
        except OrderRejectedError as err:
            report["errors"]["symbol"] = [err.status_code, err.code, err.details["reject_code"]]
    elif k == 3:
        pos = gw.list_positions(symbol=SYMBOL)[0]
        report["steps"]["after_stop_limit"] = [pos.quantity, pos.average_entry_price]
        gw.close_position(pos.id)
    elif k == 4:
        report["steps"]["flat"] = gw.list_positions() == []
        entry = gw.submit_order(SYMBOL, "sell", "1", stop_loss="115", take_profit="100")
        state["bracket"] = entry.id
    elif k == 5:
        pos = gw.list_positions(symbol=SYMBOL)[0]
        report["steps"]["short"] = [pos.side.value, pos.quantity, pos.average_entry_price]
        report["steps"]["legs"] = sorted(
            (o.order_type.value, o.stop_price or o.limit_price) for o in gw.list_orders()
        )


with TradingGateway() as gw:

    def done(event):
        account = gw.get_account()
        report["account"] = account.model_dump()
        report["history"] = Counter(o.status.value for o in gw.get_order_history())
        report["trades"] = [
            [t.side.value, t.price, t.quantity, t.commission] for t in gw.list_trades()
        ]
        report["positions"] = [p.model_dump(mode="json") for p in gw.list_positions()]

    k = 0
    with gw.stream(on_backtest_complete=done) as events:
        for event in events:
            report["events"][event.type] += 1
            if event.event_id is None:
                raise SystemExit("engine events must carry an event_id")
            if isinstance(event, CandleEvent):
                step(k, event.bar)
                k += 1
            elif event.type == "order":
                report["order_events"].append([event.event.value, event.order.order_type.value])

if os.environ["REPORT"] == "-":  # in a container (read-only root): the report goes to the log
    print("REPORT " + json.dumps(report), flush=True)
else:
    with open(os.environ["REPORT"], "w") as fh:
        json.dump(report, fh)

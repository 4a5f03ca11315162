"""Buys 10, then sells 4 (no reduce-only, no position id); reports the resulting positions."""

import json
import os

from tektii import CandleEvent, TradingGateway

SYMBOL = os.environ.get("SYMBOL", "C:BTCUSD")
with TradingGateway() as gw:
    positions = []

    def done(event):
        positions.extend(
            sorted([p.side.value, p.quantity, p.average_entry_price] for p in gw.list_positions())
        )

    n = 0
    with gw.stream(on_backtest_complete=done) as events:
        for event in events:
            if isinstance(event, CandleEvent):
                n += 1
                if n == 1:
                    gw.submit_order(SYMBOL, "buy", "10")
                elif n == 2:
                    gw.submit_order(SYMBOL, "sell", "4")

with open(os.environ["REPORT"], "w") as fh:
    json.dump(positions, fh)

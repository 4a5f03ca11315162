"""Fault: hangs inside its loop body on the second candle, so the event is never acked."""

import time

from tektii import CandleEvent, TradingGateway

n = 0
with TradingGateway() as gw, gw.stream() as events:
    for event in events:
        if isinstance(event, CandleEvent):
            n += 1
            if n == 2:
                print("hanging on candle 2", flush=True)
                time.sleep(600)

"""Fault: raises while handling the third candle."""

from tektii import CandleEvent, TradingGateway

n = 0
with TradingGateway() as gw, gw.stream() as events:
    for event in events:
        if isinstance(event, CandleEvent):
            n += 1
            if n == 3:
                raise RuntimeError("boom: strategy bug on the third candle")

"""SMA 10/20 crossover, long only, a fixed 10,000 units: the strategy backtesting.py's own
example runs (see tests/engine/test_real_data.py, which runs both and compares the trades).

Means use math.fsum, exactly rounded, so both implementations see the same crossings.
"""

import math
from collections import defaultdict, deque

from tektii import CandleEvent, TradingGateway

FAST, SLOW = 10, 20
closes = defaultdict(lambda: deque(maxlen=SLOW + 1))
held = False  # one symbol; market orders fill at the next open, before the next candle


def sma(values, n, end):
    return math.fsum(values[end - n : end]) / n


with TradingGateway() as gw, gw.stream() as events:
    for event in events:
        if not isinstance(event, CandleEvent):
            continue
        window = closes[event.bar.symbol]
        window.append(float(event.bar.close))
        if len(window) <= SLOW:
            continue  # a crossing needs the previous bar's slow mean too
        values = list(window)
        fast_prev, slow_prev = sma(values, FAST, SLOW), sma(values, SLOW, SLOW)
        fast, slow = sma(values, FAST, SLOW + 1), sma(values, SLOW, SLOW + 1)
        if fast_prev < slow_prev and fast > slow and not held:
            gw.submit_order(event.bar.symbol, "buy", "10000")  # fills at the next bar's open
            held = True
        elif slow_prev < fast_prev and slow > fast and held:
            gw.close_position(gw.list_positions(symbol=event.bar.symbol)[0].id)
            held = False

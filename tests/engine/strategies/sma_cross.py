"""SMA 5/20 crossover on every subscribed symbol: long 10% of equity above, flat below."""

from collections import defaultdict, deque
from decimal import Decimal

from tektii import CandleEvent, TradingGateway

closes = defaultdict(lambda: deque(maxlen=20))
with TradingGateway() as gw, gw.stream() as events:
    for event in events:
        if not isinstance(event, CandleEvent):
            continue
        bar = event.bar
        window = closes[bar.symbol]
        window.append(Decimal(bar.close))
        if len(window) < 20:
            continue
        fast = sum(list(window)[-5:]) / 5
        slow = sum(window) / 20
        held = gw.list_positions(symbol=bar.symbol)
        if fast > slow and not held:
            qty = gw.quantity_for_notional(bar.symbol, equity_fraction="0.1", price=bar.close)
            gw.submit_order(bar.symbol, "buy", qty.quantize(Decimal("0.0001")))
        elif fast < slow and held:
            gw.close_position(held[0].id)

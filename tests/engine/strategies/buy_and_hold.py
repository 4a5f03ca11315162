"""Buys 1 unit on the first candle and holds; prints what it saw (sync SDK client + stream)."""

from tektii import CandleEvent, OrderEvent, TradingGateway

candles = 0
with TradingGateway() as gw:

    def done(event):
        account = gw.get_account()
        print(f"complete candles={candles} equity={account.equity}", flush=True)

    with gw.stream(on_backtest_complete=done) as events:
        for event in events:
            if isinstance(event, CandleEvent):
                candles += 1
                if candles == 1:
                    gw.submit_order(event.bar.symbol, "buy", "1")
            elif isinstance(event, OrderEvent):
                print(f"order {event.event.value} {event.order.status.value}", flush=True)

"""The async SDK client: buys once, counts candle and fill events, reports at the end."""

import asyncio
import json
import os

from tektii import AsyncTradingGateway, CandleEvent, TradeEvent


async def main():
    seen = {"candles": 0, "fills": [], "symbols": set()}
    async with AsyncTradingGateway() as gw:

        async def done(event):
            seen["equity"] = (await gw.get_account()).equity

        async with gw.stream(on_backtest_complete=done) as events:
            async for event in events:
                if isinstance(event, CandleEvent):
                    seen["candles"] += 1
                    seen["symbols"].add(event.bar.symbol)
                    if seen["candles"] == 1:
                        await gw.submit_order("F:EURUSD", "buy", "10000")
                elif isinstance(event, TradeEvent):
                    seen["fills"].append([event.trade.symbol, event.trade.price])
    seen["symbols"] = sorted(seen["symbols"])
    with open(os.environ["REPORT"], "w") as fh:
        json.dump(seen, fh)


asyncio.run(main())

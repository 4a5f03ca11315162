"""momentum-v1: the write workflow's example strategy, written with the `tektii` SDK.

Goes long when the close has risen more than THRESHOLD_PCT over the last LOOKBACK candles and
goes flat when momentum turns negative. Sized at ORDER_EQUITY_FRACTION of equity. Runs
unchanged against a live gateway or the Tektii backtest engine.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from decimal import Decimal

from tektii import APIStatusError, CandleEvent, OrderType, PositionSide, Side, TradingGateway

LOOKBACK = int(os.environ.get("LOOKBACK", "60"))
THRESHOLD_PCT = Decimal(os.environ.get("THRESHOLD_PCT", "0.5"))
ORDER_EQUITY_FRACTION = Decimal(os.environ.get("ORDER_EQUITY_FRACTION", "0.10"))


def main() -> int:
    closes: dict[str, deque[Decimal]] = {}
    holding: dict[str, bool] = {}
    with TradingGateway() as gw, gw.stream() as events:
        for event in events:
            if not isinstance(event, CandleEvent):
                continue
            bar = event.bar
            window = closes.setdefault(bar.symbol, deque(maxlen=LOOKBACK + 1))
            window.append(Decimal(bar.close))
            if len(window) <= LOOKBACK:
                continue
            change_pct = (window[-1] / window[0] - 1) * 100
            try:
                # Ask the gateway for positions only when a signal fires: one request per candle
                # would make the strategy, not the market, the bottleneck of a backtest.
                if change_pct > THRESHOLD_PCT and not holding.get(bar.symbol):
                    equity = Decimal(gw.get_account().equity)
                    quantity = (equity * ORDER_EQUITY_FRACTION / window[-1]).quantize(Decimal("0.0001"))
                    gw.submit_order(bar.symbol, Side.BUY, quantity, OrderType.MARKET)
                    holding[bar.symbol] = True
                    print(f"{bar.symbol}: momentum {change_pct:.2f}% -> buy {quantity}", flush=True)
                elif change_pct < 0 and holding.get(bar.symbol):
                    for position in gw.list_positions(symbol=bar.symbol):
                        if position.side == PositionSide.LONG:
                            gw.close_position(position.id)
                    holding[bar.symbol] = False
                    print(f"{bar.symbol}: momentum {change_pct:.2f}% -> flat", flush=True)
            except APIStatusError as err:
                print(f"{bar.symbol}: order rejected: {err}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

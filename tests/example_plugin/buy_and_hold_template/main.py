"""buy-and-hold: buys QUANTITY units of each subscribed symbol on its first candle and holds
(the example plugin's template, written against the `tektii` SDK)."""

import os
import sys
from decimal import Decimal, InvalidOperation

from tektii import CandleEvent, TradingGateway


def quantity() -> str:
    text = os.environ.get("QUANTITY", "1")
    try:
        if Decimal(text) > 0:
            return text
    except InvalidOperation:
        pass
    print(f"buy-and-hold: invalid settings: QUANTITY={text!r} is not a positive number", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    amount = quantity()
    bought: set[str] = set()
    with TradingGateway() as gw, gw.stream() as events:
        for event in events:
            if isinstance(event, CandleEvent) and event.bar.symbol not in bought:
                bought.add(event.bar.symbol)
                gw.submit_order(event.bar.symbol, "buy", amount)


if __name__ == "__main__":
    main()

"""A hostile strategy image for tests/security/test_limits_in_runs.py; the scenario's ATTACK
environment entry picks what it does:

* numbers: huge, tiny, zero and non-finite quantities and prices at the gateway's REST API,
  sent as raw bodies (strings and JSON numbers), then one ordinary order; every response is
  printed as a `GATEWAY {...}` line (status and body text) for the test to judge;
* flood: a 140 KB line, a 5 MB line and 200,000 short lines, then the run to its end.

Either way it follows the event stream to `backtest_complete`, printing `complete` then."""

import json
import os
import sys
import urllib.error
import urllib.request

from tektii import CandleEvent, TradingGateway

URL = os.environ["TEKTII_TRADING_GATEWAY_URL"].rstrip("/")
KEY = os.environ["TEKTII_TRADING_GATEWAY_API_KEY"]
SYMBOL = "C:BTCUSD"
LONG = "".join(chr(0x41 + i % 26) for i in range(100_000)) + "é" * 20_000
HUGE_LINE = 5_000_000
FLOOD_LINES = 200_000


def raw(case, method, path, body=None):
    request = urllib.request.Request(URL + path, method=method, data=None if body is None else body.encode(),
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    print("GATEWAY " + json.dumps({"case": case, "status": status, "text": text}), flush=True)


def order(quantity, **extra):
    fields = [f'"symbol": "{SYMBOL}"', '"side": "buy"', f'"quantity": {quantity}']
    fields += [f'"{k}": {v}' for k, v in extra.items()]
    return "{" + ", ".join(fields) + "}"


def numbers():
    for quantity in ('"1e308"', "1e308", '"1E+16"', '"1e-40"', "1e-40", '"0"', "0", '"-1"', "1e400", '"NaN"',
                     '"Infinity"', '"-Infinity"'):
        raw(f"quantity {quantity}", "POST", "/v1/orders", order(quantity, order_type='"market"'))
    for price in ('"1e308"', "1e308", '"1e-40"', '"0"', "1e400", '"NaN"'):
        raw(f"limit_price {price}", "POST", "/v1/orders", order('"0.01"', order_type='"limit"', limit_price=price))
    raw("ordinary", "POST", "/v1/orders", order('"0.01"', order_type='"market"'))


def flood():
    print(LONG, flush=True)
    sys.stdout.write("y" * HUGE_LINE + "\n")
    for i in range(FLOOD_LINES):
        print("flood", i)
    sys.stdout.flush()


attack = os.environ["ATTACK"]
with TradingGateway() as gw, gw.stream(on_backtest_complete=lambda e: print("complete", flush=True)) as events:
    candles = 0
    for event in events:
        if isinstance(event, CandleEvent):
            candles += 1
            if candles == 1 and attack == "numbers":
                numbers()
            elif candles == 1:
                flood()
            elif candles == 3 and attack == "numbers":
                for path in ("/v1/account", "/v1/orders", "/v1/orders/history", "/v1/positions", "/v1/trades",
                             f"/v1/quotes/{SYMBOL}", "/v1/capabilities", "/v1/status"):
                    raw(f"read {path}", "GET", path)

"""Orders and exits as on Tektii's gateway, on S:GOOG near 601 with 100,000 of capital.

Quote before the first bar, lists and bulk calls for a symbol not traded, a bracket whose
legs name their parent order, moving the exits (PATCH /v1/positions/{id}, which the SDK has no
call for), close_position's body validated, and a netting reversal. Prints `EXITS OK`.
"""

import json
import os
import urllib.error
import urllib.request

from tektii import BadRequestError, CandleEvent, NotFoundError, TradingGateway

SYMBOL, OTHER = "S:GOOG", "C:DOGEUSD"
BASE, KEY = os.environ["TEKTII_TRADING_GATEWAY_URL"], os.environ["TEKTII_TRADING_GATEWAY_API_KEY"]


def raw(method, path, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


with TradingGateway() as gw:
    try:
        gw.get_quote(SYMBOL)
        raise AssertionError("a quote before the first bar")
    except NotFoundError as err:
        assert "No quote for S:GOOG yet" in err.message and "first candle" in err.message, err
    with gw.stream() as events:
        n = 0
        for event in events:
            if not isinstance(event, CandleEvent):
                continue
            n += 1
            if n == 1:
                assert gw.list_orders(symbol=OTHER) == [] and gw.list_positions(symbol=OTHER) == []
                assert gw.list_trades(symbol=OTHER) == []
                assert gw.cancel_all_orders(symbol=OTHER).cancelled_count == 0
                assert gw.close_all_positions(symbol=OTHER) == []
                entry = gw.submit_order(SYMBOL, "buy", "100", stop_loss="590", take_profit="620").id
            elif n == 2:
                legs = gw.list_orders(symbol=SYMBOL)
                assert len(legs) == 2, legs
                for leg in legs:
                    status, body = raw("GET", f"/v1/orders/{leg.id}")
                    assert status == 200 and body["parent_order_id"] == entry, body
                position = gw.list_positions(symbol=SYMBOL)[0]
                status, moved = raw("PATCH", f"/v1/positions/{position.id}", {"stop_loss": "595.5", "take_profit": "610"})
                assert status == 200 and moved["id"] == position.id, moved
                prices = sorted((o.stop_price or o.limit_price) for o in gw.list_orders(symbol=SYMBOL))
                assert prices == ["595.5", "610"], prices
                try:
                    gw.close_position(position.id, order_type="foo")
                    raise AssertionError("order_type foo was accepted")
                except BadRequestError as err:
                    assert err.code == "INVALID_VALUE" and err.details["field"] == "order_type", err
                assert len(gw.list_orders(symbol=SYMBOL)) == 2  # nothing was stored
                gw.submit_order(SYMBOL, "sell", "200")  # long 100 -> short 100: margin for 100 only
            elif n == 3:
                (short,) = gw.list_positions(symbol=SYMBOL)
                assert (short.side.value, short.quantity) == ("SHORT", "100"), short
                assert gw.list_orders(symbol=SYMBOL) == []  # the long's exits went with it
                print("EXITS OK", flush=True)

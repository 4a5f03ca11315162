"""Sends exact decimals and reads them back; refuses huge and tiny quantities. Fails loudly.

Runs through `tektii backtest run` on C:SHIBUSD candles priced near 1.2e-05 (see
tests/cli/test_backtest_fidelity.py); prints `NUMBERS OK` when every check held.
"""

from decimal import Decimal

from tektii import BadRequestError, CandleEvent, TradingGateway

SYMBOL = "C:SHIBUSD"
QTY = "0.2378139947352737845505089576"
TINY = "0.000000000012345"
LIMIT = "12345.123456789012345"


def expect_invalid(gw, quantity, **extra):
    try:
        gw.submit_order(SYMBOL, "buy", quantity, **extra)
    except BadRequestError as err:
        assert err.code == "INVALID_VALUE", err
        return
    raise AssertionError(f"quantity {quantity} was accepted")


with TradingGateway() as gw, gw.stream() as events:
    seen = 0
    for event in events:
        if not isinstance(event, CandleEvent):
            continue
        seen += 1
        if seen == 1:
            assert event.bar.close == "0.0000123456789", event.bar.close  # not rounded, no exponent
            sized = gw.quantity_for_notional(SYMBOL, notional="1")
            entry = gw.submit_order(SYMBOL, "buy", QTY)
            tiny = gw.submit_order(SYMBOL, "buy", TINY)
            sized_id = gw.submit_order(SYMBOL, "buy", sized).id
            resting = gw.submit_order(SYMBOL, "sell", QTY, "limit", limit_price=LIMIT)
            back = gw.get_order(resting.id)
            assert (back.quantity, back.limit_price) == (QTY, LIMIT), back
            assert Decimal(gw.get_order(sized_id).quantity) == sized, (sized, gw.get_order(sized_id))
            assert gw.get_order(tiny.id).quantity == TINY, gw.get_order(tiny.id)
            for huge in ("1e308", "1E+16", "1e-40", "0"):
                expect_invalid(gw, huge)
            expect_invalid(gw, "1", order_type="limit", limit_price="1e308")
        elif seen == 2:
            assert gw.get_order(entry.id).filled_quantity == QTY
            assert gw.get_order(tiny.id).filled_quantity == TINY
            position = gw.list_positions(symbol=SYMBOL)[0]
            assert Decimal(position.quantity) == Decimal(QTY) + Decimal(TINY) + sized, position
            print("NUMBERS OK", flush=True)

"""Simulated broker: every expected number below is computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tektii_engine.broker import Broker, BrokerError

BTC, EUR = "C:BTCUSD", "F:EURUSD"


def make(mode: str = "netting", commission_bps: float = 0.0, slippage_bps: float = 0.0) -> Broker:
    broker = Broker(
        {BTC: 1.0, EUR: 30.0},
        initial_capital=100_000,
        position_mode=mode,
        commission_bps=commission_bps,
        slippage_bps=slippage_bps,
    )
    broker.now = 60
    broker.update_mark(BTC, 100.0)  # the strategy has seen one bar closing at 100
    return broker


def bar(broker: Broker, o: float, h: float, lo: float, c: float, symbol: str = BTC) -> None:
    """Feed the next 1m bar (opening at broker.now) and advance time to its close."""
    broker.on_bar(symbol, broker.now, 60, o, h, lo, c)
    broker.now += 60


def order(broker: Broker, **body) -> object:
    body.setdefault("symbol", BTC)
    body.setdefault("order_type", "market")
    return broker.submit_request(body)


def rejected(excinfo) -> str:
    err = excinfo.value
    assert err.status == 422 and err.code == "ORDER_REJECTED"
    return err.details["reject_reason"]


def test_market_order_fills_at_next_open_with_commission():
    b = make(commission_bps=10)
    o = order(b, side="buy", quantity="10")
    assert o.status == "OPEN" and not b.fills  # nothing fills before the next bar
    bar(b, 101, 105, 99, 104)
    assert o.status == "FILLED" and o.average_fill_price == 101
    fee = D("1.01")  # 10 * 101 * 0.001
    acct = b.account()
    assert acct["balance"] == 100_000 - fee
    assert acct["unrealized_pnl"] == (104 - 101) * 10  # 30
    assert acct["equity"] == 100_000 - fee + 30
    assert acct["margin_used"] == 10 * 104  # crypto at 1x
    assert acct["margin_available"] == 100_000 - fee + 30 - 1040
    assert b.fills[0].commission == fee


def test_market_slippage_is_against_the_trader():
    b = make(slippage_bps=50)
    buy = order(b, side="buy", quantity="1")
    bar(b, 100, 100, 100, 100)
    assert buy.average_fill_price == D("100.5")
    sell = order(b, side="sell", quantity="1")
    bar(b, 100, 100, 100, 100)
    assert sell.average_fill_price == D("99.5")
    assert b.closed_trades[-1].pnl == -1


def test_limit_fills_at_limit_or_better_open_on_gap():
    b = make()
    touch = order(b, side="buy", quantity="1", order_type="limit", limit_price="95")
    gap = order(b, side="buy", quantity="1", order_type="limit", limit_price="92")
    bar(b, 100, 101, 96, 97)  # low 96 > 95: neither
    assert touch.status == gap.status == "OPEN"
    bar(b, 97, 98, 94, 95)  # low 94 touches 95
    assert touch.average_fill_price == 95 and gap.status == "OPEN"
    bar(b, 90, 93, 89, 91)  # opens at 90, below 92: gap fill at the open
    assert gap.average_fill_price == 90
    assert b.positions[b.net[BTC]].average_price == D("92.5")  # (95 + 90) / 2


def test_stop_triggers_on_high_and_fills_at_open_when_gapping():
    b = make(slippage_bps=10)
    stop = order(b, side="buy", quantity="1", order_type="stop", stop_price="105")
    bar(b, 100, 104, 99, 103)
    assert stop.status == "OPEN"
    bar(b, 103, 106, 102, 105)
    assert stop.average_fill_price == D("105.105")  # 105 * 1.001
    b2 = make()
    gap = order(b2, side="sell", quantity="1", order_type="stop", stop_price="95")
    bar(b2, 90, 92, 88, 91)
    assert gap.average_fill_price == 90


def test_stop_limit_triggers_then_works_as_limit():
    b = make()
    fills_now = order(
        b,
        side="buy",
        quantity="1",
        order_type="stop_limit",
        stop_price="105",
        limit_price="106",
    )
    waits = order(
        b,
        side="buy",
        quantity="1",
        order_type="stop_limit",
        stop_price="105",
        limit_price="104",
    )
    bar(b, 100, 107, 99, 106)  # both trigger at 105; 105 <= 106 fills, 105 > 104 waits
    assert fills_now.average_fill_price == 105
    assert waits.status == "OPEN" and waits.triggered
    bar(b, 106, 106, 103, 104)  # as a limit 104 now: low 103 touches
    assert waits.average_fill_price == 104


def test_bracket_take_profit_fills_and_cancels_stop_loss():
    b = make()
    entry = order(b, side="buy", quantity="2", stop_loss="95", take_profit="110")
    bar(b, 100, 101, 94, 100)  # entry at 100; the legs only work from the next bar
    assert entry.status == "FILLED" and len(entry.children) == 2
    sl, tp = (b.orders[c] for c in entry.children)
    assert (sl.order_type, sl.stop_price, tp.order_type, tp.limit_price) == (
        "STOP",
        95,
        "LIMIT",
        110,
    )
    assert sl.status == tp.status == "OPEN"
    bar(b, 105, 111, 104, 108)
    assert tp.status == "FILLED" and tp.average_fill_price == 110
    assert sl.status == "CANCELLED"
    assert not b.positions
    trade = b.closed_trades[0]
    assert (trade.side, trade.entry_price, trade.exit_price, trade.pnl) == (
        "LONG",
        100,
        110,
        20,
    )
    assert b.balance == 100_020


def test_bracket_stop_loss_wins_when_both_inside_one_bar():
    b = make()
    entry = order(b, side="sell", quantity="1", stop_loss="105", take_profit="90")
    bar(b, 100, 100, 100, 100)
    sl, tp = (b.orders[c] for c in entry.children)
    bar(b, 100, 106, 89, 95)
    assert sl.status == "FILLED" and sl.average_fill_price == 105 and tp.status == "CANCELLED"
    assert b.closed_trades[0].pnl == -5


def test_bracket_prices_on_the_wrong_side_are_rejected():
    b = make()
    with pytest.raises(BrokerError) as exc:
        order(b, side="buy", quantity="1", stop_loss="101")
    assert rejected(exc) == "INVALID_PRICE"


def test_cancel_and_cancel_filled_conflict():
    b = make()
    lim = order(b, side="buy", quantity="1", order_type="limit", limit_price="95")
    assert b.cancel(lim.id).status == "CANCELLED"
    bar(b, 100, 100, 90, 95)
    assert not b.fills
    mkt = order(b, side="buy", quantity="1")
    bar(b, 95, 95, 95, 95)
    with pytest.raises(BrokerError) as exc:
        b.cancel(mkt.id)
    assert (exc.value.status, exc.value.code) == (409, "ORDER_NOT_MODIFIABLE")
    with pytest.raises(BrokerError) as exc:
        b.cancel("ord_999")
    assert (exc.value.status, exc.value.code) == (404, "ORDER_NOT_FOUND")


def test_cancel_all_by_symbol():
    b = make()
    order(b, side="buy", quantity="1", order_type="limit", limit_price="90")
    order(
        b,
        side="buy",
        quantity="1000",
        order_type="limit",
        limit_price="1.0",
        symbol=EUR,
    )
    assert b.cancel_all(BTC) == 1
    assert [o.symbol for o in b.orders.values() if o.is_open] == [EUR]


def test_modify_limit_price_and_quantity():
    b = make()
    lim = order(b, side="buy", quantity="1", order_type="limit", limit_price="95")
    b.modify(lim.id, {"limit_price": "97", "quantity": "3"})
    bar(b, 100, 100, 96, 98)
    assert lim.status == "FILLED" and lim.average_fill_price == 97 and lim.filled_quantity == 3
    with pytest.raises(BrokerError) as exc:
        b.modify(lim.id, {"limit_price": "90"})
    assert exc.value.status == 409


def test_ioc_cancels_when_not_marketable_on_the_next_bar():
    b = make()
    ioc = order(
        b,
        side="buy",
        quantity="1",
        order_type="limit",
        limit_price="95",
        time_in_force="ioc",
    )
    bar(b, 100, 101, 96, 97)
    assert ioc.status == "CANCELLED" and not b.fills
    ioc2 = order(
        b,
        side="buy",
        quantity="1",
        order_type="limit",
        limit_price="97",
        time_in_force="IOC",
    )
    bar(b, 97, 98, 96, 97)
    assert ioc2.status == "FILLED"


def test_day_order_expires_at_utc_midnight():
    b = make()
    b.now = 86_400 - 60
    day = order(
        b,
        side="buy",
        quantity="1",
        order_type="limit",
        limit_price="50",
        time_in_force="DAY",
    )
    bar(b, 100, 100, 99, 100)
    assert day.status == "OPEN"
    bar(b, 100, 100, 99, 100)  # opens at midnight
    assert day.status == "EXPIRED"


def test_reduce_only_never_opens_or_flips():
    b = make()
    with pytest.raises(BrokerError) as exc:
        order(b, side="sell", quantity="1", reduce_only=True)
    assert rejected(exc) == "REDUCE_ONLY_VIOLATED"
    order(b, side="buy", quantity="10")
    bar(b, 100, 100, 100, 100)
    close = order(b, side="sell", quantity="15", reduce_only=True)
    bar(b, 102, 102, 102, 102)
    assert close.status == "FILLED" and close.filled_quantity == 10
    assert not b.positions  # closed, not flipped short
    assert b.balance == 100_020


def test_netting_and_hedging_differ_for_the_same_orders():
    results = {}
    for mode in ("netting", "hedging"):
        b = make(mode)
        order(b, side="buy", quantity="10")
        bar(b, 100, 100, 100, 100)
        order(b, side="sell", quantity="4")
        bar(b, 110, 110, 110, 110)
        results[mode] = sorted((p.side, p.quantity, p.average_price) for p in b.positions.values())
        if mode == "netting":
            # 4 of the long closed at 110: realised (110-100)*4 = 40
            assert b.balance == 100_040
            assert b.closed_trades[0].quantity == 4
        else:
            assert b.balance == 100_000 and not b.closed_trades
            # long +100 (10 * 10), short 0 at 110 -> equity 100100
            assert b.equity() == 100_100
    assert results["netting"] == [(1, 6, 100)]
    assert results["hedging"] == [(-1, 4, 110), (1, 10, 100)]


def test_netting_flip_closes_and_opens_new_position():
    b = make()
    order(b, side="buy", quantity="2")
    bar(b, 100, 100, 100, 100)
    order(b, side="sell", quantity="5")
    bar(b, 90, 90, 90, 90)
    (pos,) = b.positions.values()
    assert (pos.side, pos.quantity, pos.average_price) == (-1, 3, 90)
    assert b.closed_trades[0].pnl == -20


def test_close_position_in_hedging_targets_one_position():
    b = make("hedging")
    order(b, side="buy", quantity="1")
    order(b, side="buy", quantity="2")
    bar(b, 100, 100, 100, 100)
    first, second = b.positions.values()
    b.close_position(second.id)
    bar(b, 105, 105, 105, 105)
    assert list(b.positions) == [first.id] and first.quantity == 1
    assert b.closed_trades[0].pnl == 10


def test_short_position_values():
    b = make()
    order(b, side="sell", quantity="10")
    bar(b, 100, 100, 90, 90)
    acct = b.account()
    assert acct["unrealized_pnl"] == 100  # (90 - 100) * 10 * -1
    assert acct["margin_used"] == 900


def test_rejections_carry_gateway_reasons():
    b = make()
    with pytest.raises(BrokerError) as exc:
        order(b, side="buy", quantity="1", symbol="C:DOGEUSD")
    assert rejected(exc) == "SYMBOL_NOT_TRADEABLE"
    assert exc.value.details["reject_code"] == "UNKNOWN_SYMBOL"
    with pytest.raises(BrokerError) as exc:
        order(b, side="buy", quantity="1001")  # 1001 * 100 > 100,000 at 1x
    assert rejected(exc) == "INSUFFICIENT_MARGIN"
    with pytest.raises(BrokerError) as exc:
        order(b, side="buy", quantity="1", order_type="limit")
    assert rejected(exc) == "INVALID_PRICE"
    with pytest.raises(BrokerError) as exc:
        order(b, side="up", quantity="1")
    assert exc.value.status == 400
    assert not b.orders  # nothing refused was recorded


def test_forex_leverage_lets_notional_exceed_capital():
    b = make()
    b.update_mark(EUR, 1.1)
    order(b, side="buy", quantity="2000000", symbol=EUR)  # 2.2M notional, 73,333 margin at 30x
    bar(b, 1.1, 1.1, 1.1, 1.1, symbol=EUR)
    assert b.account()["margin_used"] == D(2_000_000) * D("1.1") / 30
    with pytest.raises(BrokerError) as exc:
        order(b, side="buy", quantity="1000000", symbol=EUR)  # +36,667 > 26,667 available
    assert rejected(exc) == "INSUFFICIENT_MARGIN"


def test_margin_is_rechecked_at_fill_time():
    b = make()
    o = order(b, side="buy", quantity="900")  # 90,000 at the last close: accepted
    bar(b, 120, 120, 120, 120)  # opens at 120: 108,000 > 100,000
    assert o.status == "REJECTED" and o.reject_reason == "INSUFFICIENT_MARGIN"


def test_symbol_aliases():
    b = make()
    assert b.resolve_symbol("BTCUSD") == BTC
    assert b.resolve_symbol("btc/usd") == BTC
    assert b.resolve_symbol("C:BTCUSD") == BTC
    assert b.resolve_symbol("ETHUSD") is None


def test_trailing_stop_follows_the_high():
    b = make()
    trail = order(b, side="sell", quantity="1", order_type="trailing_stop", trailing_distance="5")
    bar(b, 100, 110, 99, 108)  # stop 95 on this bar, then the watermark moves to 110
    assert trail.status == "OPEN"
    bar(b, 108, 109, 104, 104)  # stop 105: low 104 hits it
    assert trail.average_fill_price == 105


@pytest.mark.parametrize(
    "field, value",
    [
        ("quantity", "0"),
        ("quantity", "-1"),
        ("quantity", "abc"),
        ("quantity", "1e308"),
        ("quantity", 1e308),
        ("quantity", "1e-40"),  # rounds to zero at 28 decimal places: refused, never a 0 fill
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", True),
        ("limit_price", "1e16"),
        ("limit_price", "-5"),
        ("stop_loss", "inf"),
    ],
)
def test_numbers_out_of_bounds_are_invalid_values(field, value):
    b = make()
    body = {"side": "buy", "quantity": "1", "order_type": "limit", "limit_price": "50"}
    body[field] = value
    with pytest.raises(BrokerError) as exc:
        order(b, **body)
    assert (exc.value.status, exc.value.code) == (400, "INVALID_VALUE")
    assert exc.value.details["field"] == field
    assert not b.orders


def test_quantities_and_prices_are_kept_exactly():
    b = make()
    qty = "0.2378139947352737845505089576"  # 28 places, as the SDK's quantity_for_notional
    limit = "12345.123456789012345"
    o = order(b, side="buy", quantity=qty, order_type="limit", limit_price=limit)
    assert str(o.quantity) == qty and str(o.limit_price) == limit
    tiny = order(b, side="buy", quantity="0.000000000012345")
    assert tiny.quantity == D("1.2345E-11")
    bar(b, 100, 100, 100, 100)
    assert tiny.filled_quantity == D("0.000000000012345")
    assert b.positions[b.net[BTC]].quantity == D("0.000000000012345") + D(qty)
    # Fills, balance and P&L stay exact decimals: no float noise.
    sell = order(b, side="sell", quantity=qty)
    bar(b, D("100.1"), 101, 99, 100)
    assert sell.average_fill_price == D("100.1")
    assert b.balance == 100_000 + D(qty) * (D("100.1") - 100)


def test_a_netting_reversal_needs_margin_only_for_the_new_side():
    b = Broker({"S:GOOG": 1.0}, initial_capital=100_000)
    b.update_mark("S:GOOG", 601.11)
    b.submit_request({"symbol": "S:GOOG", "side": "buy", "quantity": "100", "order_type": "market"})
    b.on_bar("S:GOOG", 0, 60, 601.11, 601.11, 601.11, 601.11)
    # Long 100 (60,111 of margin): selling 200 closes it and opens a short of 100 (60,111).
    reverse = b.submit_request({"symbol": "S:GOOG", "side": "sell", "quantity": "200", "order_type": "market"})
    b.on_bar("S:GOOG", 60, 60, 601.11, 601.11, 601.11, 601.11)
    assert reverse.status == "FILLED"
    (short,) = b.positions.values()
    assert (short.side, short.quantity) == (-1, 100)
    with pytest.raises(BrokerError) as exc:  # a short of 300 would need 180,333
        b.submit_request({"symbol": "S:GOOG", "side": "buy", "quantity": "400", "order_type": "market"})
    assert rejected(exc) == "INSUFFICIENT_MARGIN"


def test_trailing_stop_trails_from_the_last_close_when_placed():
    b = make()  # last close 100
    trail = order(b, side="sell", quantity="1", order_type="trailing_stop", trailing_distance="5")
    bar(b, 97, 97, 94, 96)  # stop 100 - 5 = 95 (not 97 - 5 = 92 from this bar's open): hit
    assert trail.status == "FILLED" and trail.average_fill_price == 95


def test_close_position_validates_its_order_type():
    b = make()
    order(b, side="buy", quantity="1")
    bar(b, 100, 100, 100, 100)
    (pos,) = b.positions.values()
    with pytest.raises(BrokerError) as exc:
        b.close_position(pos.id, order_type="foo")
    assert (exc.value.status, exc.value.code, exc.value.details["field"]) == (400, "INVALID_VALUE", "order_type")
    assert len(b.orders) == 1  # nothing stored


def test_moving_a_positions_exits():
    b = make()
    entry = order(b, side="buy", quantity="2", stop_loss="90", take_profit="120")
    bar(b, 100, 100, 100, 100)
    sl, tp = (b.orders[c] for c in entry.children)
    (pos,) = b.positions.values()
    b.modify_position(pos.id, {"stop_loss": "95", "take_profit": "110"})
    assert (sl.stop_price, tp.limit_price) == (95, 110) and entry.stop_loss == 95
    b.modify_position(pos.id, {"take_profit": None})
    assert tp.status == "CANCELLED"
    b.modify_position(pos.id, {"take_profit": "105"})  # a new exit for the whole position
    new_tp = next(o for o in b.orders.values() if o.is_open and o.order_type == "LIMIT")
    assert (new_tp.quantity, new_tp.reduce_only, new_tp.position_id) == (2, True, pos.id)
    with pytest.raises(BrokerError) as exc:
        b.modify_position(pos.id, {"stop_loss": "101"})  # above the mark for a long
    assert rejected(exc) == "INVALID_PRICE"
    bar(b, 100, 106, 99, 104)
    assert new_tp.status == "FILLED" and sl.status == "CANCELLED" and not b.positions


def test_untraded_symbols_have_nothing_to_cancel_or_close():
    b = make()
    assert b.cancel_all("C:DOGEUSD") == 0 and b.close_all("C:DOGEUSD") == []

"""The spread (quotes, fills at bid and ask, the trade log's spread cost), the comparison with
backtesting.py's `spread`, and margin calls: a 30x forex account on real EUR/USD, a cash
crypto account that cannot be called, the events an SDK strategy sees, a liquidated run's
metrics. docs/fill-model.md states the formulas checked here.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from tektii_testkit import TableFeed

from tektii_core.market_model import DEFAULT_SPREAD_BPS, MAINTENANCE_MARGIN
from tektii_core.scenario_config import validate_config
from tektii_core.scenario_config.validate import build_config, config_from_json
from tektii_core.timeutil import format_time
from tektii_engine.data.importer import import_file
from tektii_engine.data.store import CandleStore
from tektii_engine.run import RunLimits, local_run, run_in_process

from .test_real_data import backtesting_sma_cross, shipped

STRATEGIES = Path(__file__).parent / "strategies"
T0 = 1_704_067_200
BTC = "C:BTCUSD"
EURUSD = "F:EURUSD"


class Script:
    """In-process strategy: calls[k](broker) runs at the k-th batch."""

    def __init__(self, calls):
        self.calls = calls
        self.k = 0

    def on_candles(self, engine, t, bars):
        call = self.calls.get(self.k)
        if call is not None:
            call(engine.broker)
        self.k += 1


def table(rows, symbol=BTC):
    return TableFeed({(symbol, "1m"): [(T0 + 60 * i, *r) for i, r in enumerate(rows)]})


def btc_config(n, **kw):
    return build_config([(BTC, ["candle_1m"])], T0, T0 + 60 * n, **kw)


# -- spread ------------------------------------------------------------------------------


def test_defaults_per_asset_class_in_both_validators():
    subs = [{"instrument": s, "events": ["candle_1m"]} for s in ("C:BTCUSD", "F:EURUSD", "S:SPX")]
    body = {"strategyVersionId": "ver_x", "subscriptions": subs, "startTime": "2024-01-01T00:00:00Z",
            "endTime": "2024-01-02T00:00:00Z"}
    config, problems = validate_config(body)
    assert problems == [] and config is not None
    expected = {"C:BTCUSD": 5.0, "F:EURUSD": 1.0, "S:SPX": 1.0}
    assert config.to_api()["spreadBps"] == expected == config_from_json(body).spreads()
    assert DEFAULT_SPREAD_BPS == {"CRYPTO": 5.0, "FOREX": 1.0, "STOCK": 1.0}
    one = config_from_json({**body, "spreadBps": {"F:EURUSD": 0.8}})
    assert one.spreads() == {**expected, "F:EURUSD": 0.8}
    assert config_from_json({**body, "spreadBps": 0}).spreads() == dict.fromkeys(expected, 0.0)


def test_engine_validator_reports_every_bad_spread_by_path():
    body = {"subscriptions": [{"instrument": BTC, "events": ["candle_1m"]}], "startTime": "2024-01-01T00:00:00Z",
            "endTime": "2024-01-02T00:00:00Z", "spreadBps": {"C:BTCUSD": -1, "F:EURUSD": "x"}, "slippageBps": -2}
    with pytest.raises(Exception) as info:
        config_from_json(body)
    message = str(info.value)
    assert 'spreadBps["C:BTCUSD"]: must be between 0 and 10,000 basis points, got -1' in message
    assert 'spreadBps["F:EURUSD"]: "F:EURUSD" is not a subscribed instrument; subscribed: C:BTCUSD' in message
    assert 'spreadBps["F:EURUSD"]: must be a number of basis points between 0 and 10,000, got a string "x"' in message
    assert "slippageBps: must be between 0 and 10,000, got -2" in message


def test_market_orders_pay_half_the_spread_each_way_and_the_trade_log_records_it():
    rows = [(100, 101, 99, 100), (200, 201, 199, 200), (300, 301, 299, 300), (400, 401, 399, 400)]
    calls = {0: lambda b: b.submit(BTC, 1, D(2)), 1: lambda b: b.submit(BTC, -1, D(2))}
    result = run_in_process(btc_config(4, spread_bps=10, slippage_bps=1, commission_bps=5), table(rows), Script(calls))
    buy, sell = result.fills
    # ask = open × (1 + 0.0005), then 1 bps of slippage; bid = open × (1 − 0.0005), slippage
    assert buy["price"] == pytest.approx(200 * 1.0005 * 1.0001, rel=1e-15)
    assert sell["price"] == pytest.approx(300 * 0.9995 * 0.9999, rel=1e-15)
    assert buy["spreadCost"] == pytest.approx(2 * 200 * 0.0005) and sell["spreadCost"] == pytest.approx(2 * 300 * 0.0005)
    assert buy["commission"] == pytest.approx(2 * buy["price"] * 0.0005)
    (trade,) = result.trades
    assert trade.spread_cost == pytest.approx(0.2 + 0.3)
    assert trade.gross_pnl == pytest.approx((sell["price"] - buy["price"]) * 2)
    assert trade.to_dict()["spreadCost"] == trade.spread_cost


def test_limits_and_stops_trigger_on_their_side_of_the_spread():
    # 100 bps: ask = mid × 1.005, bid = mid × 0.995
    rows = [(100, 100, 100, 100), (100, 100.5, 99.2, 100), (100, 100.7, 98.9, 100), (100, 100, 100, 100)]

    def place(b):
        b.submit(BTC, 1, D(1), "LIMIT", limit_price=D("99.7"))  # ask low 99.2×1.005 = 99.696 on bar 1
        b.submit(BTC, -1, D(1), "LIMIT", limit_price=D("100.3"))  # bid highs 99.9975, 100.1965: never
        b.submit(BTC, -1, D(1), "STOP", stop_price=D("98.5"))  # bid low 99.2×0.995 = 98.704: no

    result = run_in_process(btc_config(4, spread_bps=100), table(rows), Script({0: place}))
    orders = {o["orderType"] + o["side"]: o for o in result.orders}
    assert orders["LIMITBUY"]["status"] == "FILLED" and orders["LIMITBUY"]["averageFillPrice"] == 99.7
    assert orders["LIMITSELL"]["status"] == "OPEN"
    # bar 2: bid low 98.9 × 0.995 = 98.4055 <= 98.5: the sell stop fills at its price
    assert orders["STOPSELL"]["status"] == "FILLED" and orders["STOPSELL"]["averageFillPrice"] == 98.5
    fill = next(f for f in result.fills if f["orderId"] == orders["LIMITBUY"]["id"])
    assert fill["spreadCost"] == pytest.approx(99.7 - 99.7 / 1.005)  # to the mid at that ask


def test_spread_zero_is_the_frictionless_model():
    rows = [(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104)]
    calls = {0: lambda b: b.submit(BTC, 1, D(1))}
    result = run_in_process(btc_config(3, spread_bps=0), table(rows), Script(calls))
    assert result.fills[0]["price"] == 102 and result.fills[0]["spreadCost"] == 0


def test_against_backtesting_py_with_its_spread(tmp_path):
    """backtesting.py charges its whole `spread` on entry (price × (1 ± spread)) and exits at the
    raw price; ours charges half the spread at each fill. With their spread = ours in bps / 10^4,
    entries and exits happen at the same bars, and each trade's P&L differs by exactly
    quantity × s/2 × (entry open − exit open): the second-order term of where the half spread is paid."""
    bps = 2.0
    half = bps / 20_000
    theirs, store, config = backtesting_sma_cross(tmp_path, spread=bps / 10_000)
    config["spreadBps"] = bps
    result = local_run(STRATEGIES / "sma_fixed.py", config, data_dir=store.root)
    assert result.state == "COMPLETE", result.reason
    assert len(theirs) > 50 and len(result.trades) == len(theirs)
    for ours, ref in zip(result.trades, theirs.itertuples(), strict=True):
        assert (format_time(ours.entry_time), format_time(ours.exit_time)) == (
            format_time(ref.EntryTime.tz_localize("UTC").timestamp()), format_time(ref.ExitTime.tz_localize("UTC").timestamp()))
        entry_open, exit_open = ref.EntryPrice / (1 + 2 * half), ref.ExitPrice
        assert ours.entry_price == pytest.approx(entry_open * (1 + half), rel=1e-12)
        assert ours.exit_price == pytest.approx(exit_open * (1 - half), rel=1e-12)
        assert ours.pnl == pytest.approx(ref.PnL + ours.quantity * half * (entry_open - exit_open), rel=1e-9, abs=1e-6)
        assert ours.spread_cost == pytest.approx(ours.quantity * half * (entry_open + exit_open), rel=1e-9)


# -- margin calls --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eurusd_store(tmp_path_factory):
    store = CandleStore(tmp_path_factory.mktemp("market-data"))
    import_file(store, EURUSD, shipped("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv"))
    return store


EUR_START, EUR_END = "2017-01-03T00:00:00Z", "2017-03-01T00:00:00Z"


def all_in_short(broker):
    mark = broker.mark(EURUSD)
    quantity = int(broker.equity() * broker.leverage[EURUSD] / mark * D("0.98"))
    broker.submit(EURUSD, -1, D(quantity))


def eurusd_run(store, **config):
    cfg = build_config([(EURUSD, ["candle_1h"])], EUR_START, EUR_END, initial_capital=10_000, **config)
    liquidation = {}

    def watch(broker):
        pos = next(iter(broker.positions.values()))
        liquidation["price"] = broker.margin.liquidation_price(pos)

    return run_in_process(cfg, store.read, Script({0: all_in_short, 1: watch})), liquidation["price"]


def test_a_30x_forex_short_on_real_eurusd_is_margin_called_and_liquidated(eurusd_store):
    result, liquidation_price = eurusd_run(eurusd_store)
    (call,) = result.margin_calls
    bars = eurusd_store.read_all(EURUSD, "1h", EUR_START, EUR_END)
    closes = dict(zip((bars.time + 3600).tolist(), bars.close.tolist(), strict=True))
    opens = dict(zip(bars.time.tolist(), bars.open.tolist(), strict=True))
    called_at = int(np.datetime64(call["time"].rstrip("Z"), "s").astype(np.int64))
    # Called at the first close at or above the liquidation price the position reported.
    entry = result.trades[0].entry_time
    assert all(c < liquidation_price for t, c in closes.items() if entry < t < called_at)
    assert closes[called_at] >= liquidation_price
    # The maintenance margin: 50 % of the margin used at 30x
    assert MAINTENANCE_MARGIN["FOREX"] == 0.5
    assert call["maintenanceMargin"] == pytest.approx(call["marginUsed"] * 0.5)
    assert call["equity"] < call["maintenanceMargin"]
    # Closed by a market buy at the next bar's open, on the ask (1 bp spread by default)
    (liq,) = call["liquidations"]
    assert liq["status"] == "FILLED" and liq["time"] == format_time(called_at)
    assert liq["price"] == pytest.approx(opens[called_at] * (1 + 0.5e-4), rel=1e-12)
    (trade,) = result.trades
    assert trade.exit_reason == "LIQUIDATION" and trade.pnl == pytest.approx(liq["pnl"])
    assert result.open_positions == []
    assert min(result.equity) < 10_000 * 0.6 and result.final_equity == pytest.approx(10_000 + trade.pnl)


def test_equity_below_zero_only_with_a_margin_call_entry(eurusd_store):
    # 1000x: a gap against the position can take equity below zero before the next open
    result, _ = eurusd_run(eurusd_store, forex_leverage=1000)
    assert result.margin_calls
    first_call = result.margin_calls[0]["time"]
    assert all(e >= 0 for t, e in zip(result.times, result.equity, strict=True) if format_time(t) < first_call)


def test_a_cash_backed_crypto_account_is_never_called():
    # Everything in, then a 95 % crash: at 1x the equity is at least what the coins are worth.
    rows = [(100, 100, 100, 100)] + [(100 - 19 * i, 100, 100 - 19 * i - 1, 100 - 19 * i) for i in range(1, 6)]
    seen = []

    def buy(b):
        b.submit(BTC, 1, D(99), "MARKET")

    def look(b):
        pos = next(iter(b.positions.values()))
        seen.append(b.margin.liquidation_price(pos))

    calls = {0: buy, **{k: look for k in range(1, 5)}}
    result = run_in_process(btc_config(len(rows), initial_capital=10_000, commission_bps=10), table(rows),
                            Script(calls))
    assert result.margin_calls == [] and result.metrics()["marginCalls"] == 0
    assert seen == [None] * 4  # no price above zero liquidates it
    assert min(result.equity) > 0 and result.open_positions[0]["liquidationPrice"] is None


def test_a_liquidated_run_s_metrics(eurusd_store):
    result, _ = eurusd_run(eurusd_store)
    metrics = result.metrics()
    assert metrics["marginCalls"] == 1 and metrics["totalTrades"] == 1
    assert metrics["totalReturn"] == pytest.approx((result.final_equity / 10_000 - 1) * 100)
    assert metrics["winRatePct"] == 0 and metrics["averageLoss"] == pytest.approx(result.trades[0].pnl)
    assert metrics["maxDrawdownPct"] >= -metrics["totalReturn"] > 40
    assert metrics["endEquity"] == pytest.approx(result.final_equity)
    stored = result.to_dict()
    assert stored["marginCalls"][0]["liquidations"][0]["status"] == "FILLED"
    assert stored["trades"][0]["exitReason"] == "LIQUIDATION"


def test_the_events_a_strategy_sees_in_a_margin_call(eurusd_store, tmp_path):
    report_path = tmp_path / "report.json"
    config = {"subscriptions": [{"instrument": EURUSD, "events": ["candle_1h", "order_update", "position_update",
                                                                  "trade_update", "account_update"]}],
              "startTime": EUR_START, "endTime": EUR_END, "initialCapital": 10_000,
              "environment": {"REPORT": str(report_path)}}
    result = local_run(STRATEGIES / "all_in_short.py", config, data_dir=eurusd_store.root,
                       limits=RunLimits(ack_timeout_s=30, connect_timeout_s=60))
    assert result.state == "COMPLETE", result.reason
    import json

    report = json.loads(report_path.read_text())
    bid, ask, last = (D(x) for x in report["quote"])
    assert bid < D(last) < ask and ask - bid == pytest.approx(D(last) * D("0.0001"), rel=D("1e-20"))
    (call,) = result.margin_calls
    events = report["events"]
    kinds = [e[:2] for e in events]
    i = kinds.index(["account", "MARGIN_CALL"])
    created, error = events[i + 1], events[i + 2]
    assert created[:3] == ["order", "ORDER_CREATED", "OPEN"] and created[4] == f"liquidation:{call['id']}"
    assert created[5] is True  # reduce-only
    assert error[:2] == ["error", "LIQUIDATION"] and "Margin call at" in error[2]
    assert error[3]["margin_call_id"] == call["id"] and error[3]["order_ids"] == [created[3]]
    assert D(error[3]["equity"]) < D(error[3]["maintenance_margin"])
    assert report["cancel"] == [409, "ORDER_NOT_MODIFIABLE"]  # a liquidation cannot be cancelled
    after = events[i + 3 :]
    filled = next(e for e in after if e[:2] == ["order", "ORDER_FILLED"])
    assert filled[3] == created[3] and filled[4] == created[4]
    assert ["trade", "TRADE_FILLED", created[3]] == next(e for e in after if e[0] == "trade")[:3]
    closed = next(e for e in after if e[0] == "position")
    assert closed[1] == "POSITION_CLOSED"
    opened = next(e for e in events if e[:2] == ["position", "POSITION_OPENED"])
    assert D(opened[3]) == D(report["liquidation_price"]) > D(last)  # a short's is above the price


def test_the_worked_example_of_the_fill_model_docs():
    rows = [(1.1, 1.1, 1.1, 1.1), (1.1, 1.101, 1.099, 1.1), (1.102, 1.103, 1.101, 1.102), (1.102, 1.102, 1.102, 1.102)]
    calls = {0: lambda b: b.submit(EURUSD, 1, D(100_000)), 1: lambda b: b.submit(EURUSD, -1, D(100_000))}
    config = build_config([(EURUSD, ["candle_1m"])], T0, T0 + 240, spread_bps=1, slippage_bps=0.5,
                            commission_bps=0.2)
    engine_result = run_in_process(config, table(rows, EURUSD), Script(calls))
    buy, sell = engine_result.fills
    assert (buy["price"], sell["price"]) == (1.10011000275, 1.101889802755)
    assert (buy["commission"], sell["commission"]) == (2.2002200055, 2.20377960551)
    (trade,) = engine_result.trades
    assert (trade.gross_pnl, trade.pnl) == (177.9800005, 173.57600088899)
    assert trade.spread_cost == pytest.approx(11.01, abs=1e-12)


def test_a_margin_call_s_liquidation_cannot_be_cancelled_and_closes_first():
    from tektii_engine.broker import Broker, BrokerError

    broker = Broker({EURUSD: 30}, initial_capital=1_000, spread_bps={EURUSD: 0})
    broker.on_bar(EURUSD, T0, 60, 1.0, 1.0, 1.0, 1.0)
    broker.now = T0 + 60
    broker.submit(EURUSD, 1, D(29_000))
    broker.on_bar(EURUSD, T0 + 60, 60, 1.0, 1.0, 0.98, 0.98)  # filled at 1.0, marked at 0.98
    pos = next(iter(broker.positions.values()))
    # equity 1000 − 580 = 420 < maintenance 0.98 × 29 000 / 30 × 0.5 = 473.67
    assert broker.margin.liquidation_price(pos) == pos.mark
    call = broker.margin.check(T0 + 120, float(broker.equity()))
    assert call is not None and broker.margin.check(T0 + 120, float(broker.equity())) is call  # one call
    (order_id,) = call.order_ids
    with pytest.raises(BrokerError) as info:
        broker.cancel(order_id)
    assert info.value.status == 409 and "margin call" in info.value.message
    assert broker.cancel_all() == 0
    broker.now = T0 + 120
    broker.close_position(pos.id, order_type="LIMIT", limit_price=D("0.99"))  # does not cancel it
    assert broker.get_order(order_id).is_open
    broker.on_bar(EURUSD, T0 + 120, 60, 0.97, 0.995, 0.96, 0.99)
    assert broker.get_order(order_id).status == "FILLED" and broker.positions == {}
    assert call.liquidations[0]["price"] == D("0.97")
    assert broker.closed_trades[-1].exit_reason == "LIQUIDATION" and broker.balance == 1_000 - 870

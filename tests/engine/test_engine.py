"""The engine loop: closed-candle delivery, batching, matching before delivery, determinism."""

from __future__ import annotations

import json

import pytest
from tektii_testkit import TableFeed, WalkFeed

from tektii_core.contracts import TektiiError
from tektii_core.scenario_config.validate import build_config, config_from_json
from tektii_engine.run import run_in_process

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


class Recorder:
    def __init__(self):
        self.seen: list[tuple[int, list[tuple[str, str, int]]]] = []

    def on_candles(self, engine, t, bars):
        assert engine.now == t
        self.seen.append((t, [(b[0].symbol, b[0].timeframe, b[1]) for b in bars]))


def config(subs, start=T0, end=T0 + 3600, **kw):
    kw.setdefault("spread_bps", 0)  # the hand-computed numbers below are the frictionless model's
    return build_config(subs, start, end, **kw)


def test_candles_arrive_only_after_they_close():
    rec = Recorder()
    run_in_process(config([("C:BTCUSD", ["candle_5m"])]), WalkFeed(), rec)
    assert len(rec.seen) == 12
    for t, bars in rec.seen:
        ((_, _, t_open),) = bars
        assert t == t_open + 300  # delivered exactly at the close, never earlier


def test_bars_not_closed_by_window_end_are_not_delivered():
    rec = Recorder()
    run_in_process(config([("C:BTCUSD", ["candle_1h"])], end=T0 + 3600 + 1800), WalkFeed(), rec)
    assert [t for t, _ in rec.seen] == [T0 + 3600]


def test_simultaneous_closes_are_one_batch_in_subscription_order():
    rec = Recorder()
    subs = [("C:BTCUSD", ["candle_1m", "candle_5m"]), ("F:EURUSD", ["candle_5m"])]
    run_in_process(config(subs, end=T0 + 600), WalkFeed(), rec)
    times = [t for t, _ in rec.seen]
    assert times == sorted(set(times)) and len(times) == 10
    by_time = dict(rec.seen)
    assert by_time[T0 + 300] == [
        ("C:BTCUSD", "1m", T0 + 240),
        ("C:BTCUSD", "5m", T0),
        ("F:EURUSD", "5m", T0),
    ]
    assert by_time[T0 + 60] == [("C:BTCUSD", "1m", T0)]


class BuyOnce:
    """Buys at the first bar; records what it could observe when each bar arrived."""

    def __init__(self, **order):
        self.order = order
        self.views = []

    def on_candles(self, engine, t, bars):
        broker = engine.broker
        self.views.append((t, [(f.price, f.time) for f in broker.fills]))
        if len(self.views) == 1:
            broker.submit("C:BTCUSD", 1, 1.0, **self.order)


def test_orders_fill_on_the_next_bar_before_the_strategy_sees_it():
    rows = {
        ("C:BTCUSD", "1m"): [
            (T0, 100, 101, 99, 100),
            (T0 + 60, 102, 103, 101, 102),
            (T0 + 120, 104, 105, 103, 104),
        ]
    }
    strat = BuyOnce()
    result = run_in_process(config([("C:BTCUSD", ["candle_1m"])]), TableFeed(rows), strat)
    # Submitted after seeing the bar closing at T0+60 -> filled at the open of the next bar
    # (102, opening at T0+60), and visible when the strategy receives that bar at T0+120.
    assert strat.views[0] == (T0 + 60, [])
    assert strat.views[1] == (T0 + 120, [(102, T0 + 60)])
    assert result.fills[0]["price"] == 102
    assert result.final_equity == pytest.approx(100_000 + (104 - 102))


def test_limit_order_never_fills_on_a_bar_already_seen():
    rows = {("C:BTCUSD", "1m"): [(T0, 100, 100, 90, 95), (T0 + 60, 95, 96, 94, 95)]}
    strat = BuyOnce(order_type="LIMIT", limit_price=91.0)
    result = run_in_process(config([("C:BTCUSD", ["candle_1m"])]), TableFeed(rows), strat)
    assert result.fills == []  # the first bar's low of 90 was before the order existed


def test_matching_uses_the_finest_timeframe_only():
    rows = {
        ("C:BTCUSD", "1m"): [(T0 + 60 * i, 100, 100, 100, 100) for i in range(10)],
        ("C:BTCUSD", "5m"): [(T0, 100, 100, 50, 100), (T0 + 300, 100, 100, 50, 100)],
    }
    strat = BuyOnce(order_type="LIMIT", limit_price=60.0)
    subs = [("C:BTCUSD", ["candle_1m", "candle_5m"])]
    result = run_in_process(config(subs, end=T0 + 600), TableFeed(rows), strat)
    assert result.fills == []  # the 5m lows never traded on the 1m bars


class Trader:
    """Alternates long and short every 7 bars with brackets: enough activity to compare runs."""

    def on_candles(self, engine, t, bars):
        broker = engine.broker
        n = engine.batches_done
        if n % 7 == 0:
            broker.close_all()
            side = 1 if (n // 7) % 2 == 0 else -1
            close = bars[0][5]
            broker.submit(
                "C:BTCUSD",
                side,
                5.0,
                stop_loss=close * (1 - 0.01 * side),
                take_profit=close * (1 + 0.02 * side),
            )


def test_same_inputs_give_identical_results():
    cfg = config(
        [("C:BTCUSD", ["candle_1m"])], end=T0 + 86400 * 3, commission_bps=5, slippage_bps=2
    )
    first = run_in_process(cfg, WalkFeed(chunk=777), Trader()).to_dict()
    second = run_in_process(cfg, WalkFeed(chunk=5000), Trader()).to_dict()
    assert first["fills"] and first["trades"]
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_equity_curve_is_downsampled_but_keeps_daily_closes():
    cfg = config([("C:BTCUSD", ["candle_1m"])], end=T0 + 86400 * 30)
    result = run_in_process(cfg, WalkFeed(), Trader())
    assert len(result.times) < 20_001
    assert all(T0 + 86400 * d in result.times for d in range(1, 30))
    step = result.times[1] - result.times[0]
    assert 86400 % step == 0 and step > 60
    assert result.counters["candles"] == 30 * 1440
    assert 0 <= result.max_drawdown and max(result.drawdown) <= result.max_drawdown + 1e-12


def test_result_round_trips_through_json():
    cfg = config([("C:BTCUSD", ["candle_1m"])], end=T0 + 86400, commission_bps=5)
    result = run_in_process(cfg, WalkFeed(), Trader())
    data = json.loads(json.dumps(result.to_dict()))
    assert data["state"] == "COMPLETE" and "equityCurve" in data and data["trades"]
    again = type(result).from_dict(data)
    assert again.to_dict() == data
    metrics = result.metrics()
    assert metrics["totalTrades"] == len(result.trades)


def test_config_reports_every_problem_at_once():
    with pytest.raises(TektiiError) as exc:
        config_from_json(
            {
                "subscriptions": [{"instrument": "BTCUSD", "events": ["candle_3m", "fills"]}],
                "startTime": "2024-02-01T00:00:00Z",
                "endTime": "2024-01-01T00:00:00Z",
                "initialCapital": 0,
                "positionMode": "fifo",
                "slippageBps": -1,
            }
        )
    message = str(exc.value)
    for needle in (
        "subscriptions[0].instrument",
        "candle_3m",
        '"fills"',  # the words of the one validator (tektii_core.scenario_config)
        "endTime",
        "initialCapital",
        "positionMode",
        "slippageBps",
    ):
        assert needle in message


def test_config_from_scenario_json():
    cfg = config_from_json(
        {
            "strategyVersionId": "ver_x",
            "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m", "order_update"]}],
            "startTime": "2024-01-01T00:00:00Z",
            "endTime": "2024-04-01T00:00:00Z",
            "positionMode": "hedging",
            "commissionBps": 2.5,
        }
    )
    assert (cfg.start, cfg.position_mode, cfg.commission_bps) == (T0, "hedging", 2.5)
    assert cfg.initial_capital == 100_000 and cfg.lifecycle() == {"order_update"}


class BuyAndHoldRecording:
    """Buys on the first candle and holds; records the equity of every step (the full curve)."""

    def __init__(self):
        self.times: list[int] = []
        self.equity: list[float] = []

    def on_candles(self, engine, t, bars):
        if not self.times:
            engine.broker.submit("C:BTCUSD", 1, 500)
        self.times.append(t)
        self.equity.append(engine.broker.equity_value())


@pytest.mark.parametrize("days", [31, 366])
def test_metrics_of_a_thinned_curve_equal_those_of_the_full_curve(days):
    """Above 20,000 steps the stored curve is thinned for the chart; every daily close and
    the drawdowns stay exact, so the metrics do not depend on the window's length."""
    from tektii_engine.metrics import compute_metrics

    strategy = BuyAndHoldRecording()
    result = run_in_process(config([("C:BTCUSD", ["candle_1m"])], end=T0 + days * 86_400), WalkFeed(), strategy)
    assert len(result.times) < len(strategy.times) == days * 1440  # thinned
    ours = result.metrics()
    full = compute_metrics(strategy.times, strategy.equity, [], initial_capital=100_000, periods_per_year=365,
                           start_time=T0, open_since=[T0 + 60])
    for key in ("sharpeRatio", "sortinoRatio", "volatilityPct", "cagrPct", "maxDrawdownPct", "longestDrawdownDays",
                "totalReturn"):
        assert ours[key] == pytest.approx(full[key], rel=1e-12), key
    # Buy and hold: a position open from the first fill to the end is exposure.
    assert ours["exposureTimePct"] == pytest.approx(100.0, abs=0.01)

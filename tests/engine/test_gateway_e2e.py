"""End to end: real `tektii` SDK strategies run as processes against the real gateway server.

Candles are fixed rows, so every number the strategy observes is computed by hand below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tektii_testkit import TableFeed, WalkFeed

from tektii_core.scenario_config.validate import build_config
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_plugins.runtimes.process import ProcessRuntime

from .test_process_runtime import running

STRATEGIES = Path(__file__).parent / "strategies"
T0 = 1_704_067_200
LIFECYCLE = ["order_update", "position_update", "trade_update", "account_update"]
BARS = [
    (100, 101, 99, 100),
    (101, 102, 100, 101),
    (101, 103, 94, 96),
    (100, 106, 99, 105),
    (107, 108, 106, 107),
    (106, 107, 105, 106),
    (104, 105, 99, 101),
    (101, 101, 101, 101),
    (101, 101, 101, 101),
]
WARMUP = [(T0 - 60 * i, 100, 100, 100, 100) for i in range(4, 0, -1)]
FEED = TableFeed({("C:BTCUSD", "1m"): WARMUP + [(T0 + 60 * i, *b) for i, b in enumerate(BARS)]})


class RecordingRuntime(ProcessRuntime):
    """The process runtime, remembering what it started (to check nothing is left behind)."""

    def __init__(self):
        self.started = []

    def start(self, launch):
        strategy = super().start(launch)
        self.started.append(strategy)
        return strategy


def run(strategy, config, tmp_path, feed=FEED, limits=None):
    report = tmp_path / "report.json"
    config.setdefault("spread_bps", 0)  # numbers computed by hand: the frictionless model
    config = build_config(
        config.pop("subscriptions"),
        T0,
        config.pop("end", T0 + 60 * len(BARS)),
        environment={"REPORT": str(report)},
        **config,
    )
    runtime = RecordingRuntime()
    result = run_backtest(
        config,
        feed,
        StrategyLauncher(runtime, path=STRATEGIES / strategy),
        limits=limits or RunLimits(ack_timeout_s=20, connect_timeout_s=30),
    )
    for started in runtime.started:
        assert started.poll() is not None
        assert not running(started.pid)
    data = json.loads(report.read_text()) if report.exists() else None
    return result, data


SCRIPTED = {"subscriptions": [("C:BTCUSD", ["candle_1m", *LIFECYCLE])], "commission_bps": 10, "spread_bps": 0}


def test_scripted_sdk_strategy_trades_with_hand_computed_results(tmp_path):
    result, rep = run("scripted_trader.py", dict(SCRIPTED), tmp_path)
    check_scripted_trader(result, rep)


def test_scripted_sdk_strategy_in_a_real_container(docker_client, tmp_path):
    """The same script, as an image in the docker runtime's sandbox: the same hand-computed numbers."""
    import uuid

    from tektii_plugins.runtimes.docker import DockerRuntime

    context = tmp_path / "image"
    context.mkdir()
    (context / "scripted_trader.py").write_text((STRATEGIES / "scripted_trader.py").read_text())
    (context / "Dockerfile").write_text('FROM python:3.11-slim\nRUN pip install "tektii>=1.9,<2"\n'
                                        'COPY scripted_trader.py /app/\nCMD ["python", "/app/scripted_trader.py"]\n')
    tag = f"tektii-test/scripted:{uuid.uuid4().hex[:12]}"
    docker_client.images.build(path=str(context), tag=tag, pull=False, rm=True, forcerm=True)
    lines: list[str] = []
    try:
        config = dict(SCRIPTED)
        config = build_config(config.pop("subscriptions"), T0, T0 + 60 * len(BARS), environment={"REPORT": "-"},
                                **config)
        launcher = StrategyLauncher(DockerRuntime(), image=tag, log=lines.append)
        result = run_backtest(config, FEED, launcher, limits=RunLimits(ack_timeout_s=20, connect_timeout_s=60))
    finally:
        docker_client.images.remove(tag, force=True)
    reports = [line.split("REPORT ", 1)[1] for line in lines if "REPORT {" in line]
    assert reports, result.reason or lines[-20:]
    check_scripted_trader(result, json.loads(reports[-1]))


def check_scripted_trader(result, rep):
    assert result.state == "COMPLETE", result.reason
    steps = rep["steps"]
    # Warm-up history: the 4 bars before the window and bar 0, nothing not yet closed.
    assert steps["warmup"] == [
        "2023-12-31T23:56:00+00:00",
        "2023-12-31T23:57:00+00:00",
        "2023-12-31T23:58:00+00:00",
        "2023-12-31T23:59:00+00:00",
        "2024-01-01T00:00:00+00:00",
    ]
    assert steps["quote"] == "100" and steps["capabilities"] == "NETTING"
    assert steps["after_market"] == ["2", "101"]  # market: next bar's open
    assert steps["after_limit"] == ["3", "99"]  # limit 95 touched: (2*101 + 95) / 3
    assert steps["ioc_status"] == "CANCELLED"
    assert steps["modified_stop"] == "92" and steps["cancelled"] == "CANCELLED"
    assert len(steps["open_orders"]) == 1
    assert rep["errors"] == {
        "zero": [400, "INVALID_VALUE", "quantity"],
        "margin": [422, "ORDER_REJECTED", "INSUFFICIENT_MARGIN"],
        "symbol": [422, "ORDER_REJECTED", "UNKNOWN_SYMBOL"],
    }
    assert steps["after_stop_limit"] == ["4", "100.25"]  # stop-limit at its stop 104
    assert steps["flat"] is True  # closed at bar 4's open, 107
    assert steps["short"] == ["SHORT", "1", "106"]
    assert steps["legs"] == [["LIMIT", "100"], ["STOP", "115"]]
    # Fees 10 bps of each notional; realised (107 - 100.25) * 4 + (106 - 100) * 1 = 33.
    fees = 0.202 + 0.095 + 0.104 + 0.428 + 0.106 + 0.1
    account = rep["account"]
    assert float(account["balance"]) == pytest.approx(100_000 + 33 - fees)
    assert float(account["equity"]) == pytest.approx(100_000 + 33 - fees)
    assert account["margin_used"] == "0" and account["currency"] == "USD"
    assert [t[:3] for t in rep["trades"]] == [
        ["BUY", "101", "2"],
        ["BUY", "95", "1"],
        ["BUY", "104", "1"],
        ["SELL", "107", "4"],
        ["SELL", "106", "1"],
        ["BUY", "100", "1"],
    ]
    assert rep["history"] == {"FILLED": 6, "CANCELLED": 3}
    assert rep["events"]["candle"] == len(BARS)
    assert rep["events"]["trade"] == 6 and rep["events"]["account"] == 6
    kinds = {e[0] for e in rep["order_events"]}
    assert {"ORDER_CREATED", "ORDER_FILLED", "ORDER_MODIFIED", "ORDER_CANCELLED"} <= kinds
    assert "BRACKET_ORDER_CREATED" in kinds
    # The stored result agrees with what the strategy saw.
    assert result.final_balance == pytest.approx(100_000 + 33 - fees)
    assert [round(t.pnl, 6) for t in result.trades] == [
        round(27 - 0.202 - 0.095 - 0.104 - 0.428, 6),
        round(6 - 0.106 - 0.1, 6),
    ]
    assert len(result.fills) == 6 and result.counters["candles"] == len(BARS)


def test_lifecycle_events_only_when_subscribed(tmp_path):
    result, rep = run(
        "scripted_trader.py", {"subscriptions": [("C:BTCUSD", ["candle_1m"])]}, tmp_path
    )
    assert result.state == "COMPLETE", result.reason
    assert rep["events"] == {"candle": len(BARS)}


def test_same_run_twice_gives_identical_results(tmp_path):
    config = {"subscriptions": [("C:BTCUSD", ["candle_1m", *LIFECYCLE])], "commission_bps": 10}
    first, _ = run("scripted_trader.py", dict(config), tmp_path)
    second, _ = run("scripted_trader.py", dict(config), tmp_path)
    a, b = first.to_dict(), second.to_dict()
    a.pop("log"), b.pop("log")
    assert a == b


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("netting", [["LONG", "6", "101"]]),
        ("hedging", [["LONG", "10", "101"], ["SHORT", "4", "101"]]),
    ],
)
def test_netting_and_hedging_positions_through_the_sdk(tmp_path, mode, expected):
    result, positions = run(
        "positions_report.py",
        {"subscriptions": [("C:BTCUSD", ["candle_1m"])], "position_mode": mode},
        tmp_path,
    )
    assert result.state == "COMPLETE", result.reason
    assert positions == expected


def test_async_sdk_client_with_two_instruments(tmp_path):
    subs = [("F:EURUSD", ["candle_1m", "trade_update"]), ("C:BTCUSD", ["candle_5m"])]
    result, rep = run(
        "async_strategy.py", {"subscriptions": subs, "end": T0 + 1800}, tmp_path, feed=WalkFeed()
    )
    assert result.state == "COMPLETE", result.reason
    assert rep["candles"] == 30 + 6 and rep["symbols"] == ["C:BTCUSD", "F:EURUSD"]
    assert len(rep["fills"]) == 1 and rep["fills"][0][0] == "F:EURUSD"
    assert float(rep["equity"]) == pytest.approx(result.final_equity)


FAST = RunLimits(ack_timeout_s=2, connect_timeout_s=4, shutdown_grace_s=2)


@pytest.mark.parametrize(
    ("strategy", "needles"),
    [
        ("raises.py", ["exited with code 1", "RuntimeError: boom"]),
        ("exits_at_once.py", ["exited with code 0 before connecting", "nothing to do here"]),
        ("never_connects.py", ["did not connect", "within 4 s", "sleeping instead"]),
        ("stops_acking.py", ["did not acknowledge event", "within 2 s", "hanging on candle 2"]),
    ],
)
def test_faults_end_failed_with_reason_and_log_tail(tmp_path, strategy, needles):
    result, _ = run(
        strategy, {"subscriptions": [("C:BTCUSD", ["candle_1m"])]}, tmp_path, limits=FAST
    )
    assert result.state == "FAILED"
    for needle in needles:
        assert needle in result.reason
    assert needles[-1] in result.log


def test_missing_strategy_fails_cleanly(tmp_path):
    result, _ = run("no_such_file.py", {"subscriptions": [("C:BTCUSD", ["candle_1m"])]}, tmp_path)
    assert result.state == "FAILED" and "Strategy not found" in result.reason


def test_probes_and_two_streams_through_the_docker_sandbox(docker_client, tmp_path):
    """Inside the docker runtime's sandbox (its relay to the gateway): the entrypoint waits on
    /readyz and /livez, and two SDK streams each see every candle."""
    import uuid

    from tektii_plugins.runtimes.docker import DockerRuntime

    context = tmp_path / "image"
    context.mkdir()
    shared = Path(__file__).parents[1] / "plugins" / "commands" / "strategies" / "slow_and_shared.py"
    (context / "strategy.py").write_text(shared.read_text())
    (context / "Dockerfile").write_text('FROM python:3.11-slim\nRUN pip install "tektii>=1.9,<2"\n'
                                        'COPY strategy.py /app/\nCMD ["python", "/app/strategy.py"]\n')
    tag = f"tektii-test/shared:{uuid.uuid4().hex[:12]}"
    docker_client.images.build(path=str(context), tag=tag, pull=False, rm=True, forcerm=True)
    lines: list[str] = []
    try:
        config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 60 * len(BARS), environment={"STREAMS": "2"})
        launcher = StrategyLauncher(DockerRuntime(), image=tag, log=lines.append)
        result = run_backtest(config, FEED, launcher, limits=RunLimits(ack_timeout_s=20))
    finally:
        docker_client.images.remove(tag, force=True)
    assert result.state == "COMPLETE", result.reason
    assert f"STREAMS {len(BARS)} {len(BARS)}" in lines, lines[-10:]

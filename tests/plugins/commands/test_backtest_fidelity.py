"""`tektii backtest run` with SDK strategies that check what Tektii's gateway would give them.

One market-data directory (hand-made candles) is shared by the module; each test runs the real
CLI, which starts the strategy as a process against the engine on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tektii_testkit import TEKTII

from tektii_engine.data.candles import Candles
from tektii_engine.data.store import CandleStore

STRATEGIES = Path(__file__).parent / "strategies"
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
MINUTES = 120


def _flat(price: float, wiggle: float) -> Candles:
    times = T0 + 60 * np.arange(MINUTES)
    close = price + wiggle * np.sin(np.arange(MINUTES) / 7.0)
    opens = np.concatenate(([price], close[:-1]))
    return Candles(times, opens, np.maximum(opens, close), np.minimum(opens, close), close, np.ones(MINUTES))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fidelity-data")
    store = CandleStore(root / "market-data")
    store.write("C:SHIBUSD", Candles([T0 + 60 * i for i in range(MINUTES)], *[[1.23456789e-05] * MINUTES] * 4,
                                     [1.0] * MINUTES), base_timeframe="1m", source="imported", mode="replace")
    store.write("S:GOOG", _flat(601.11, 2.0), base_timeframe="1m", source="imported", mode="replace")
    return root


def backtest_args(data_dir: Path, cfg: Path, strategy: Path | str, instrument: str, minutes: int = 10,
                  **config) -> list[str]:
    cfg.write_text(json.dumps({
        "subscriptions": [{"instrument": instrument, "events": ["candle_1m", "order_update"]}],
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": f"2024-01-01T{minutes // 60:02d}:{minutes % 60:02d}:00Z",
        "spreadBps": 0,  # the strategies check hand-computed, frictionless numbers
        **config,
    }))
    return ["-v", "--output", "json", "backtest", "run", str(strategy), "--config", str(cfg), "--data-dir", str(data_dir)]


def backtest(cli, data_dir: Path, tmp_path: Path, strategy: Path | str, instrument: str, minutes: int = 10, **config):
    return cli(*backtest_args(data_dir, tmp_path / "cfg.json", strategy, instrument, minutes, **config))


def test_decimals_read_back_exactly_and_out_of_bounds_quantities_are_invalid(cli, data_dir, tmp_path):
    result = backtest(cli, data_dir, tmp_path, STRATEGIES / "exact_decimals.py", "C:SHIBUSD", minutes=3)
    assert result.code == 0, result.err
    assert "strategy: NUMBERS OK" in result.err


SLOW = STRATEGIES / "slow_and_shared.py"


def test_every_connection_sees_every_event_and_the_probes_answer(cli, data_dir, tmp_path):
    result = backtest(cli, data_dir, tmp_path, SLOW, "S:GOOG", minutes=20, environment={"STREAMS": "2"})
    assert result.code == 0, result.err
    assert "strategy: STREAMS 20 20" in result.err  # both SDK streams saw all 20 candles


def test_configured_timeouts_end_the_run_with_the_reason(cli, data_dir, tmp_path):
    late = backtest(cli, data_dir, tmp_path, SLOW, "S:GOOG", minutes=3, startupTimeoutSeconds=2,
                    environment={"SLEEP_BEFORE_CONNECT": "6"})
    assert late.code == 1
    assert "did not connect to the gateway WebSocket within 2 s (startupTimeoutSeconds)" in late.err
    slow = backtest(cli, data_dir, tmp_path, SLOW, "S:GOOG", minutes=3, eventTimeoutSeconds=1,
                    environment={"SLEEP_ON_EVENT": "2:30"})
    assert slow.code == 1
    assert "did not acknowledge event" in slow.err and "within 1 s (eventTimeoutSeconds" in slow.err


def test_ack_policy_continue_skips_slow_events_and_halts_after_five(cli, data_dir, tmp_path):
    result = backtest(cli, data_dir, tmp_path, SLOW, "S:GOOG", minutes=6, ackPolicy="continue", eventTimeoutSeconds=1,
                      environment={"SLEEP_ON_EVENT": "2:2.5"})
    assert result.code == 0, result.err  # candle 2 was skipped after 1 s; the run went on
    assert "not acknowledged within 1 s" in result.err and "continuing (ackPolicy continue" in result.err
    assert "strategy: STREAMS 6" in result.err  # the strategy still got every candle
    halted = backtest(cli, data_dir, tmp_path, SLOW, "S:GOOG", minutes=30, ackPolicy="continue",
                      eventTimeoutSeconds=1, environment={"SLEEP_ON_EVENT": "2:60"})
    assert halted.code == 1
    assert "left 5 consecutive events unacknowledged (1 s each, ackPolicy continue)" in halted.err


def test_default_limits_allow_a_90_s_cold_start_and_a_40_s_first_event(cli, data_dir, tmp_path):
    """The real cases, side by side (about 95 s of wall time in all)."""
    runs = []
    for name, env in (("cold", {"SLEEP_BEFORE_CONNECT": "90"}), ("first", {"SLEEP_ON_EVENT": "1:40"})):
        args = backtest_args(data_dir, tmp_path / f"{name}.json", SLOW, "S:GOOG", minutes=3, environment=env)
        runs.append(subprocess.Popen([TEKTII, *args], env={k: v for k, v in cli.env.items() if v is not None},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    (cold_out, cold_err), (first_out, first_err) = (run.communicate(timeout=300) for run in runs)
    assert runs[0].returncode == 0, cold_err
    assert runs[1].returncode == 0, first_err
    assert json.loads(cold_out)["data"]["state"] == json.loads(first_out)["data"]["state"] == "COMPLETE"
    # The slow first event was waited for, with a warning in the run's log after 5 s.
    assert "tektii: warning: event evt_1 not acknowledged after 5 s" in first_err


def test_orders_and_exits_behave_as_on_the_gateway(cli, data_dir, tmp_path):
    result = backtest(cli, data_dir, tmp_path, STRATEGIES / "orders_and_exits.py", "S:GOOG", minutes=4)
    assert result.code == 0, result.err
    assert "strategy: EXITS OK" in result.err


def test_a_directory_runs_its_strategy_py_or_its_dockerfile_cmd(cli, data_dir, tmp_path):
    code = SLOW.read_text()
    examples = tmp_path / "tektii-example"  # the layout of Tektii's published example strategies
    examples.mkdir()
    (examples / "strategy.py").write_text(code)
    (examples / "Dockerfile").write_text('FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "strategy.py"]\n')
    custom = tmp_path / "custom"
    (custom / "src").mkdir(parents=True)
    (custom / "src" / "bot.py").write_text(code)
    (custom / "main.py").write_text("raise SystemExit('not the entry point')\n")
    (custom / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /srv\nCOPY . .\nCMD python -u \\\n  /srv/src/bot.py\n")
    for directory in (examples, custom):
        result = backtest(cli, data_dir, tmp_path, directory, "S:GOOG", minutes=2)
        assert result.code == 0, result.err
        assert "strategy: STREAMS 2" in result.err
    empty = tmp_path / "empty"
    empty.mkdir()
    result = backtest(cli, data_dir, tmp_path, empty, "S:GOOG", minutes=2)
    assert result.code == 1 and "No main.py or strategy.py in strategy directory" in result.err

"""`tektii backtest run`: the local inner loop, a real SDK strategy as a process on local market data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "tektii_engine" / "templates" / "ma-crossover"
CONFIG = {
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1h", "order_update", "trade_update"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-01-15T00:00:00Z",
    "initialCapital": 100000,
    "positionMode": "netting",
}


@pytest.fixture
def local_data(cli):
    result = cli("data", "generate", "C:BTCUSD", "--start", "2024-01-01", "--end", "2024-02-01", "--seed", "7",
                 env={"TEKTII_API_URL": None})
    assert result.code == 0, result.err
    yield cli
    cli("platform", "down")


def write_config(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({**CONFIG, **changes}))
    return path


def test_runs_a_template_and_prints_metrics_deterministically(local_data, tmp_path):
    cfg = write_config(tmp_path)
    first = local_data("--output", "json", "backtest", "run", str(TEMPLATE), "--config", str(cfg))
    assert first.code == 0, first.err
    data = json.loads(first.out)["data"]
    assert data["state"] == "COMPLETE" and data["totalTrades"] > 0 and data["counters"]["candles"] == 14 * 24
    assert 0 <= data["maxDrawdownPct"] <= 100
    again = json.loads(local_data("--output", "json", "backtest", "run", str(TEMPLATE), "--config", str(cfg)).out)["data"]
    assert again == data  # same code, data and config: identical results
    table = local_data("backtest", "run", str(TEMPLATE), "--config", str(cfg))
    assert "✓ Backtest complete" in table.out.splitlines() and "Total Return" in table.out


def test_bad_config_and_missing_data_are_reported_before_running(local_data, tmp_path):
    cfg = write_config(tmp_path, startTime="2023-01-01T00:00:00Z", subscriptions=[
        {"instrument": "F:EURUSD", "events": ["candle_3m"]}, {"instrument": "C:BTCUSD", "events": ["candle_1h"]}])
    result = local_data("backtest", "run", str(TEMPLATE), "--config", str(cfg))
    assert result.code == 1
    assert 'subscriptions[0].events[0]: unknown event "candle_3m"' in result.err
    outside = local_data("backtest", "run", str(TEMPLATE), "--config",
                         str(write_config(tmp_path, startTime="2023-12-01T00:00:00Z")))
    assert outside.code == 1  # the window starts before the generated data
    assert "C:BTCUSD" in outside.err and "startTime" in outside.err


def test_a_crashing_strategy_fails_with_its_output(local_data, tmp_path):
    strategy = tmp_path / "crash.py"
    strategy.write_text("import sys\nprint('loading model...')\nraise SystemExit('model file missing')\n")
    result = local_data("backtest", "run", str(strategy), "--config", str(write_config(tmp_path)))
    assert result.code == 1
    assert result.err.startswith("Error: Backtest failed: ")
    assert "model file missing" in result.err

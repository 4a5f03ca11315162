"""Each template through the real engine and gateway: as a process, and as an image in the
docker runtime's sandbox. Both must trade, size by equity, attach the stop-loss, and agree."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal

import numpy as np
import pytest

from tektii_engine.data.candles import Candles
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import local_run, run_backtest
from tektii_engine.templates import template_dir, write_project
from tektii_plugins.runtimes.docker import DockerRuntime

TEMPLATES = ["ma-crossover", "rsi-momentum"]
CONFIG = {
    "strategyVersionId": "ver_e2e",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1h", "order_update"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-01-15T00:00:00Z",
    "initialCapital": 100000,
    "environment": {"STOP_LOSS_PCT": "3"},
}


def hourly_walk(symbol: str, tf: str, start: int, end: int):
    """A seeded hourly random walk with 1% moves: enough swings for both templates."""
    assert tf == "1h"
    first = -(-start // 3600) * 3600
    times = np.arange(first, end, 3600, dtype=np.int64)
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.01, len(times))))
    opens = np.concatenate(([100.0], closes[:-1]))
    yield Candles(times, opens, np.maximum(opens, closes) * 1.001, np.minimum(opens, closes) * 0.999, closes, np.ones(len(times)))


def check_traded(result) -> None:
    assert result.state == "COMPLETE", (result.reason, result.log[-2000:])
    entries = [o for o in result.orders if o["side"] == "BUY" and o["parentOrderId"] is None]
    assert len(entries) >= 2 and result.trades, result.log[-2000:]
    for order in entries:
        assert order["orderType"] == "MARKET" and order["status"] == "FILLED"
    # The first entry: 10% of the initial 100,000 at the signal close, which the 3% stop
    # reveals (stop = close * 0.97); quantities are rounded down to 8 decimals.
    first = entries[0]
    close = Decimal(str(first["stopLoss"])) / Decimal("0.97")
    expected = (Decimal(10000) / close).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
    assert abs(Decimal(str(first["quantity"])) - expected) <= Decimal("2e-8")
    stops = [o for o in result.orders if o["parentOrderId"] == first["id"]]
    assert [o["orderType"] for o in stops] == ["STOP"]


@pytest.fixture(scope="module")
def process_results():
    return {name: local_run(template_dir(name), CONFIG, feed=hourly_walk) for name in TEMPLATES}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_trades_as_a_process(process_results, name):
    result = process_results[name]
    check_traded(result)
    assert "buying" in result.log


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_image_trades_in_the_docker_sandbox(docker_client, process_results, tmp_path, name):
    write_project(name, tmp_path)
    tag = f"tektii-test/e2e-{name}:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(path=str(tmp_path), tag=tag, pull=False, rm=True, forcerm=True)
    run_id = f"e2e-{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    try:
        launcher = StrategyLauncher(DockerRuntime(), image=tag, run_id=run_id, log=lines.append)
        result = run_backtest(CONFIG, hourly_walk, launcher)
    finally:
        docker_client.images.remove(tag, force=True)
    check_traded(result)
    # Deterministic: the sandboxed image placed exactly the orders the process did.
    assert result.orders == process_results[name].orders
    assert result.final_equity == process_results[name].final_equity
    assert any("buying" in line for line in lines)
    assert docker_client.containers.list(all=True, filters={"label": f"org.tektii.run-id={run_id}"}) == []

"""Faulty strategies in the docker runtime, driven by the real engine: the run ends FAILED
with the reason and the log tail, and no container is left behind."""

from __future__ import annotations

import pytest

from tektii_engine.data.candles import Candles
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_plugins.runtimes.docker import DockerRuntime

CONFIG = {
    "strategyVersionId": "ver_faults",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1h"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-01-02T00:00:00Z",
}


def flat_feed(symbol, tf, start, end):
    times = list(range(start, end, 3600))
    yield Candles(
        times, [100.0] * len(times), [101.0] * len(times), [99.0] * len(times), [100.0] * len(times), [1.0] * len(times)
    )


@pytest.mark.parametrize(
    ("probe", "env", "reason_part", "log_part"),
    [
        ("crash", {}, "strategy exited with code 1", "RuntimeError: strategy blew up"),
        ("connect", {"PROBE_TARGETS": "192.0.2.1:80"}, "exited with code 0 before connecting", "Network is unreachable"),
        ("sleep", {}, "did not connect to the gateway WebSocket within 5 s", "sleeping"),
    ],
    ids=["crashes", "tries-the-network-then-exits", "never-connects"],
)
def test_faulty_strategy_fails_the_run_cleanly(
    docker_client, probe_image, run_id, assert_no_containers, probe, env, reason_part, log_part
):
    launcher = StrategyLauncher(DockerRuntime(), image=probe_image, run_id=run_id, env={"PROBE": probe, **env})
    result = run_backtest(CONFIG, flat_feed, launcher, limits=RunLimits(connect_timeout_s=5, wall_clock_s=60))
    assert result.state == "FAILED"
    assert reason_part in result.reason, result.reason
    assert log_part in result.log
    assert_no_containers()

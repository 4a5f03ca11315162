"""Restart safety: the platform killed (SIGKILL) or stopped during a run. The run is marked
FAILED with a clear reason, its worker and strategy stop, queued runs start after the
restart, and nothing stays RUNNING."""

from __future__ import annotations

import time

import pytest
from tektii_testkit import SPEC_CONFIG, alive, children, served, with_version

from tektii_platform.scheduler import PLATFORM_STOPPED


@pytest.fixture
def platform(tmp_path_factory):
    yield from served(tmp_path_factory, TEKTII_RUNTIME="process", TEKTII_MAX_CONCURRENT_RUNS="1")


def handle_pid(platform, scenario_id: str) -> int:
    return int(platform.scenario_row(scenario_id)["handle"].split(":")[1])  # "pid:PID:START"


def setup_runs(platform):
    key = platform.new_user("restarter", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    strategy_id = platform.strategy(key, "restarted")
    version_id = platform.template_version(key, strategy_id)
    first = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))["scenarioId"]
    queued = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))["scenarioId"]
    platform.wait(key, strategy_id, first, states=("RUNNING",), progress=True)
    assert platform.get(key, strategy_id, queued)["state"] == "PENDING"  # one run at a time here
    return key, strategy_id, first, queued


def wait_gone(pids: set[int], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "left running"


def test_platform_killed_during_a_run_then_restarted(platform):
    key, strategy_id, first, queued = setup_runs(platform)
    worker = handle_pid(platform, first)
    processes = {worker} | children(worker)
    assert len(processes) >= 2
    platform.kill()
    # the orphaned worker notices that the platform is gone and stops its strategy
    wait_gone(processes)
    platform.start()
    failed = platform.get(key, strategy_id, first)
    assert failed["state"] == "FAILED" and failed["failureReason"] == PLATFORM_STOPPED
    assert failed["finishedAt"] is not None and "totalReturn" not in failed
    # the queued run starts after the restart
    platform.wait(key, strategy_id, queued, states=("RUNNING",))
    assert platform.ok("POST", f"/v1/strategies/{strategy_id}/scenarios/{queued}/cancel", key)["cancelRequested"]
    assert platform.wait(key, strategy_id, queued, timeout=60)["state"] == "CANCELLED"
    running = platform.ok("GET", f"/v1/strategies/{strategy_id}/scenarios", key, params={"state": "RUNNING"})
    assert running["scenarios"] == []


def test_platform_stopped_gracefully_during_a_run(platform):
    key, strategy_id, first, queued = setup_runs(platform)
    worker = handle_pid(platform, first)
    processes = {worker} | children(worker)
    platform.stop()  # SIGTERM: the platform stops its runs before it exits
    assert not [p for p in processes if alive(p)]
    platform.start()
    failed = platform.get(key, strategy_id, first)
    assert failed["state"] == "FAILED" and failed["failureReason"] == PLATFORM_STOPPED
    platform.wait(key, strategy_id, queued, states=("RUNNING",))
    platform.ok("POST", f"/v1/strategies/{strategy_id}/scenarios/{queued}/cancel", key)

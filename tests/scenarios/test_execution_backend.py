"""The execution backend hook (register_execution_backends) and the built-in `local` backend
driven directly: real worker processes, the real engine, a real template strategy."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pluggy
import pytest
from tektii_testkit import SPEC_CONFIG, ServedPlatform

from tektii_core import hookimpl
from tektii_core.contracts import Availability, ExecutionBackend, RunHandle, RunSpec, RunStatus
from tektii_core.plugins import Plugins
from tektii_engine.data.generate import write_generated
from tektii_engine.data.store import CandleStore


@pytest.fixture(scope="module")
def market_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("market-data")
    write_generated(CandleStore(root), "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    return root


def spec(tmp_path: Path, market_data: Path, **changes) -> RunSpec:
    config = {**SPEC_CONFIG, "endTime": "2024-01-02T00:00:00Z", "commissionBps": 0, "slippageBps": 0,
              "forexLeverage": 30, "riskFreeRate": 0, "startupTimeoutSeconds": 120,
                                 "eventTimeoutSeconds": 60, "ackPolicy": "wait", "environment": {}}
    fields = {"scenario_id": "scen_backendtest", "config": config, "run_dir": tmp_path / "run",
              "market_data_dir": market_data, "runtime": "process", "template": "ma-crossover", **changes}
    return RunSpec(**fields)


def wait_end(handle: RunHandle, timeout: float = 120) -> RunStatus:
    deadline = time.monotonic() + timeout
    while not (status := handle.poll()).finished:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.1)
    return status


def test_the_local_backend_is_registered_through_the_hook():
    backends = Plugins().execution_backends
    assert isinstance(backends["local"], ExecutionBackend)
    assert backends["local"].availability().ok


def test_a_third_party_backend_registers_through_the_same_hook():
    class Remote:
        name = "remote"
        description = "runs elsewhere"

        def availability(self):
            return Availability(False, "no cluster configured")

        def start(self, run):
            raise AssertionError("not called")

        def abandon(self, scenario_id, run_dir, ident):
            pass

    class Plugin:
        @hookimpl
        def register_execution_backends(self, register):
            register(Remote())

    plugins = Plugins()
    plugins.pm.register(Plugin(), name="remote-backend")
    assert set(plugins.execution_backends) >= {"local", "remote"}
    assert isinstance(plugins.execution_backend("remote"), ExecutionBackend)
    with pytest.raises(Exception, match="Unknown execution backend 'nope'"):
        plugins.execution_backend("nope")
    assert isinstance(plugins.pm, pluggy.PluginManager)


def test_local_backend_runs_a_template_to_completion(tmp_path, market_data):
    backend = Plugins().execution_backend("local")
    run = spec(tmp_path, market_data)
    handle = backend.start(run)
    assert handle.ident.startswith("pid:")
    status = wait_end(handle)
    assert status.state == "COMPLETE", status
    assert status.progress is None or 0 <= status.progress.fraction <= 1
    result = json.loads((run.run_dir / "result.json").read_text())
    assert result["state"] == "COMPLETE" and result["metrics"]["totalTrades"] == len(result["trades"])
    assert result["counters"]["candles"] == 1440 and "log" not in result
    log = (run.run_dir / "strategy.log").read_text().splitlines()
    assert log[0].startswith("INFO starting")
    assert oct((run.run_dir / "run.json").stat().st_mode & 0o777) == "0o600"
    assert handle.poll() == status  # stable once ended


def test_the_next_run_goes_to_the_spare_worker(tmp_path, market_data):
    backend = Plugins().execution_backend("local")
    assert wait_end(backend.start(spec(tmp_path / "a", market_data))).state == "COMPLETE"
    run = spec(tmp_path / "b", market_data, scenario_id="scen_backendspare")
    handle = backend.start(run)
    status = wait_end(handle)
    assert status.state == "COMPLETE", status
    # Only a spare worker writes worker.pid: it learnt its run from stdin, not its command line.
    assert (run.run_dir / "worker.pid").read_text() == handle.ident[4:]
    result = json.loads((run.run_dir / "result.json").read_text())
    assert result["state"] == "COMPLETE" and result["counters"]["candles"] == 1440
    assert (run.run_dir / "strategy.log").read_text().startswith("INFO starting")


def test_a_run_that_cannot_start_its_strategy_fails_with_the_reason(tmp_path, market_data):
    backend = Plugins().execution_backend("local")
    status = wait_end(backend.start(spec(tmp_path, market_data, runtime="nonexistent")))
    assert status.state == "FAILED" and "Unknown runtime 'nonexistent'" in status.reason
    image_run = spec(tmp_path, market_data, template=None, image="127.0.0.1:1/x@sha256:" + "0" * 64)
    status = wait_end(backend.start(image_run))
    assert status.state == "FAILED" and "template versions only" in status.reason


def _strategy_pids(scenario_id: str) -> list[int]:
    """The isolated strategy processes of a run (the process runtime's work directory is named after it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).name.startswith(f"tektii-strategy-{scenario_id}-"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_crashed_worker_fails_the_run_and_takes_its_strategy_with_it(tmp_path, market_data):
    backend = Plugins().execution_backend("local")
    scenario_id = f"scen_crash{uuid.uuid4().hex[:8]}"
    run = spec(tmp_path, market_data, scenario_id=scenario_id,
               config={**spec(tmp_path, market_data).config, "endTime": "2024-04-01T00:00:00Z"})
    handle = backend.start(run)
    deadline = time.monotonic() + 60
    while handle.poll().progress is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    strategies = _strategy_pids(scenario_id)
    assert len(strategies) == 1, strategies  # isolated (as root here): an unprivileged process
    os.kill(int(handle.ident[4:]), signal.SIGKILL)
    status = wait_end(handle)
    assert status.state == "FAILED" and "was killed by signal 9" in status.reason
    deadline = time.monotonic() + 10
    while Path(f"/proc/{strategies[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{strategies[0]}").exists(), "the strategy outlived its killed worker"
    backend.abandon(run.scenario_id, run.run_dir, handle.ident)  # nothing left: a no-op


def test_cancel_through_the_handle(tmp_path, market_data):
    backend = Plugins().execution_backend("local")
    run = spec(tmp_path, market_data, config={**spec(tmp_path, market_data).config, "endTime": "2024-04-01T00:00:00Z"})
    handle = backend.start(run)
    deadline = time.monotonic() + 60
    while handle.poll().progress is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    handle.cancel()
    handle.cancel()  # idempotent
    status = wait_end(handle, timeout=20)
    assert status.state == "CANCELLED"
    assert json.loads((run.run_dir / "result.json").read_text())["state"] == "CANCELLED"


def test_an_unknown_backend_stops_the_platform_at_start(tmp_path):
    platform = ServedPlatform(tmp_path / "data", {"TEKTII_EXECUTION_BACKEND": "nope"})
    with pytest.raises(RuntimeError, match="platform exited"):
        platform.start()
    assert "Unknown execution backend 'nope'" in platform.log_path.read_text()
    platform.http.close()

"""The execution backend hook (register_execution_backends) and the built-in `local` backend
driven directly: real worker processes, the real engine, a real template strategy."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import attrs
import pluggy
import pytest
from tektii_testkit import ServedPlatform, run_desk, wait_end

from tektii_core import hookimpl
from tektii_core.contracts import Availability, ExecutionBackend
from tektii_core.plugins import Plugins


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """The other end of the runs' contract (tektii_testkit.RunDesk)."""
    yield from run_desk(tmp_path_factory, "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")


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


def test_local_backend_runs_a_template_to_completion(desk):
    backend = Plugins().execution_backend("local")
    run = desk.spec()
    handle = backend.start(run)
    assert handle.ident.startswith("pid:")
    status = wait_end(handle)
    assert status.state == "COMPLETE", status
    result = json.loads((desk.files(run) / "result.json").read_text())
    assert result["state"] == "COMPLETE" and result["metrics"]["totalTrades"] == len(result["trades"])
    assert result["counters"]["candles"] == 1440 and "log" not in result
    log = (desk.files(run) / "strategy.log").read_text().splitlines()
    assert log[0].startswith("INFO starting")
    # The spec (token, pull credentials) went over stdin: no file holds it.
    assert {p.name for p in desk.files(run).iterdir()} == {"strategy.log", "result.json"}
    assert 0 < desk.progress(run)["fraction"] <= 1
    assert handle.poll() == status  # stable once ended


def test_the_next_run_goes_to_the_spare_worker(desk):
    backend = Plugins().execution_backend("local")
    assert wait_end(backend.start(desk.spec())).state == "COMPLETE"
    run = desk.spec()
    handle = backend.start(run)
    status = wait_end(handle)
    assert status.state == "COMPLETE", status
    # A spare worker was started before its run existed: it learnt the run from stdin.
    pid = int(handle.ident.split(":")[1])
    assert handle.ident != f"pid:{pid}:?"
    result = json.loads((desk.files(run) / "result.json").read_text())
    assert result["state"] == "COMPLETE" and result["counters"]["candles"] == 1440
    assert (desk.files(run) / "strategy.log").read_text().startswith("INFO starting")


def test_a_run_that_cannot_start_its_strategy_fails_with_the_reason(desk):
    backend = Plugins().execution_backend("local")
    status = wait_end(backend.start(desk.spec(runtime="nonexistent")))
    assert status.state == "FAILED" and "Unknown runtime 'nonexistent'" in status.reason
    image_run = desk.spec(template=None, image="127.0.0.1:1/x@sha256:" + "0" * 64)
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


def test_a_run_with_a_wrong_token_fails_with_the_platforms_answer(desk):
    backend = Plugins().execution_backend("local")
    run = desk.spec()
    status = wait_end(backend.start(attrs.evolve(run, run_token="tkr_" + "a" * 52)))
    assert status.state == "FAILED" and "Could not send the run's result" not in status.reason
    assert "Invalid run token" in status.reason, status


def test_a_crashed_worker_fails_the_run_and_takes_its_strategy_with_it(desk):
    backend = Plugins().execution_backend("local")
    run = desk.spec(config={"endTime": "2024-04-01T00:00:00Z"})
    handle = backend.start(run)
    desk.wait_progress(run)
    strategies = _strategy_pids(run.scenario_id)
    assert len(strategies) == 1, strategies  # isolated (as root here): an unprivileged process
    os.kill(int(handle.ident.split(":")[1]), signal.SIGKILL)
    status = wait_end(handle)
    assert status.state == "FAILED" and "was killed by signal 9" in status.reason
    deadline = time.monotonic() + 10
    while Path(f"/proc/{strategies[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{strategies[0]}").exists(), "the strategy outlived its killed worker"
    backend.abandon(run.scenario_id, desk.files(run), handle.ident)  # nothing left: a no-op


def test_cancel_through_the_handle(desk):
    backend = Plugins().execution_backend("local")
    run = desk.spec(config={"endTime": "2024-04-01T00:00:00Z"})
    handle = backend.start(run)
    desk.wait_progress(run)
    handle.cancel()
    handle.cancel()  # idempotent
    status = wait_end(handle, timeout=20)
    assert status.state == "CANCELLED"
    assert json.loads((desk.files(run) / "result.json").read_text())["state"] == "CANCELLED"


def test_an_unknown_backend_stops_the_platform_at_start(tmp_path):
    platform = ServedPlatform(tmp_path / "data", {"TEKTII_EXECUTION_BACKEND": "nope"})
    with pytest.raises(RuntimeError, match="platform exited"):
        platform.start()
    assert "Unknown execution backend 'nope'" in platform.log_path.read_text()
    platform.http.close()

"""Strategy code on the host: the process runtime of a platform running as root. A config's
environment cannot configure the interpreter (the BROWSER + PYTHONWARNINGS injection runs
nothing), the strategy runs as an unprivileged user with resource limits, and falling back
from Docker to the process runtime stops being automatic once the platform has a second user.

The platform here cannot reach Docker (DOCKER_HOST names no daemon), as on a machine without it.
The tests run in file order on one platform: single user first, then a second user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tektii_testkit import Platform, call, cli_for, new_strategy, require

from tektii_engine.templates import template_dir

SYMBOL = "C:BTCUSD"
START = "2024-01-01T00:00:00Z"
FINISHED = ("COMPLETE", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    require(os.geteuid() == 0, "the platform's process-runtime isolation applies when it runs as root")
    server = Platform(tmp_path_factory.mktemp("process") / "data",
                      env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "TEKTII_MAX_CONCURRENT_RUNS": "1"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def owner(platform):
    """The platform's only user (an admin), a template version and a day of candles."""
    key = platform.new_user("only", admin=True)
    generated = call(platform, "POST", f"/v1/instruments/{SYMBOL}/generate", key,
                     json={"start": START, "end": "2024-01-02T00:00:00Z", "seed": 4})
    assert generated.status_code == 200, generated.text
    strategy_id = new_strategy(platform, key, "host-runner")
    version = call(platform, "POST", f"/v1/strategies/{strategy_id}/versions", key,
                   json={"gitSha": "abc1234", "template": "ma-crossover"}).json()["data"]["id"]
    return key, strategy_id, version


def config(version: str, end: str = "2024-01-02T00:00:00Z", **extra) -> dict:
    return {"strategyVersionId": version, "subscriptions": [{"instrument": SYMBOL, "events": ["candle_1m"]}],
            "startTime": START, "endTime": end, **extra}


def create(platform, key, strategy_id, body) -> str:
    created = call(platform, "POST", f"/v1/strategies/{strategy_id}/scenarios", key, json=body)
    assert created.status_code == 201, created.text
    return created.json()["data"]["scenarioId"]


def wait(platform, key, strategy_id, scenario_id, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        scenario = call(platform, "GET", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}", key).json()["data"]
        if scenario["state"] in FINISHED:
            return scenario
        assert time.monotonic() < deadline, scenario
        time.sleep(0.2)


def test_environment_injection_runs_nothing(platform, owner, tmp_path):
    key, strategy_id, version = owner
    canary = tmp_path / "canary"
    injection = {"BROWSER": f"sh -c 'touch {canary}' #%s", "PYTHONWARNINGS": "all:0:antigravity.x:0:0"}
    # The payload is live: any Python process started with this environment runs the command.
    subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, **injection}, timeout=60, capture_output=True)
    assert canary.exists(), "the injection no longer works on this Python: the test proves nothing"
    canary.unlink()

    body = config(version, environment={**injection, "FAST_PERIOD": "5"})
    refused = call(platform, "POST", f"/v1/strategies/{strategy_id}/scenarios", key, json=body)
    assert refused.status_code == 422, refused.text
    details = {d["field"]: d["message"] for d in refused.json()["error"]["details"]}
    assert set(details) == {"environment.BROWSER", "environment.PYTHONWARNINGS"}
    assert "configures a shell or how programs are found and started" in details["environment.BROWSER"]
    assert "configures an interpreter" in details["environment.PYTHONWARNINGS"]

    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(body))
    offline = cli_for(platform, tmp_path / "home", key)("scenario", "create", strategy_id, "--config", str(path),
                                                       env={"TEKTII_API_URL": "http://127.0.0.1:9"})
    assert offline.code != 0 and "environment.BROWSER" in offline.err and "environment.PYTHONWARNINGS" in offline.err
    assert "Traceback" not in offline.err
    listed = call(platform, "GET", f"/v1/strategies/{strategy_id}/scenarios", key).json()["data"]["scenarios"]
    assert listed == []
    assert not canary.exists()


def _strategy_process(entry: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if entry.encode() in cmdline and b"-I" not in cmdline:  # the strategy, not its launcher
                return int(proc.name)
    return None


def test_a_single_user_platform_runs_templates_unprivileged_with_limits(platform, owner):
    key, strategy_id, version = owner
    scenario_id = create(platform, key, strategy_id, config(version))
    entry = str(template_dir("ma-crossover").resolve() / "main.py")
    seen = None
    deadline = time.monotonic() + 120
    while seen is None and time.monotonic() < deadline:
        pid = _strategy_process(entry)
        if pid is not None:
            try:
                status = (Path(f"/proc/{pid}") / "status").read_text()
                limits = (Path(f"/proc/{pid}") / "limits").read_text()
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            seen = status, limits, cwd
        time.sleep(0.02)
    assert seen is not None, "never saw the strategy process"
    status, limits, cwd = seen
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert len(set(uids)) == 1 and int(uids[0]) != 0, status
    assert next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:] == []
    assert "NoNewPrivs:\t1" in status
    for limit in ("Max address space", "Max cpu time", "Max processes", "Max open files"):
        line = next(line for line in limits.splitlines() if line.startswith(limit))
        assert "unlimited" not in line, line
    assert Path(cwd).name.startswith(f"tektii-strategy-{scenario_id}")
    finished = wait(platform, key, strategy_id, scenario_id)
    assert finished["state"] == "COMPLETE", finished
    assert not Path(cwd).exists()  # its directory goes with it


def test_with_a_second_user_the_fallback_is_off_until_an_admin_enables_it(platform, owner):
    key, strategy_id, version = owner
    platform.new_user("second")
    scenario_id = create(platform, key, strategy_id, config(version, end="2024-01-01T06:00:00Z"))
    failed = wait(platform, key, strategy_id, scenario_id)
    assert failed["state"] == "FAILED"
    assert "Docker is not usable here" in failed["failureReason"]
    assert "the platform has more than one user" in failed["failureReason"]
    assert "TEKTII_PROCESS_FALLBACK=on" in failed["failureReason"]

    platform.stop()
    platform.env["TEKTII_PROCESS_FALLBACK"] = "on"
    platform.start()
    scenario_id = create(platform, key, strategy_id, config(version, end="2024-01-01T06:00:00Z"))
    assert wait(platform, key, strategy_id, scenario_id)["state"] == "COMPLETE"

"""The platform's files are its own: after a run and an upload, everything in the data directory
(the database, run logs and results, the registry's config with its HTTP secret and its
storage) is 0600 in 0700 directories, and the engine's gateway socket is its owner's only."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from tektii_testkit import Platform, call, cli_for, new_strategy, registry_realm, upload_tiny_image

from tektii_core.contracts import StrategyLaunch
from tektii_engine.data.generate import generate
from tektii_engine.run import run_backtest
from tektii_plugins.runtimes.process import ProcessRuntime

SYMBOL = "C:BTCUSD"


def loose_modes(root: Path) -> list[str]:
    """Every directory below `root` that is not 0700 and every file that is not 0600 (or stricter)."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


@pytest.fixture(scope="module")
def platform(tmp_path_factory, docker_engine, base_image, registry_binary):
    server = Platform(tmp_path_factory.mktemp("modes") / "data", env={"TEKTII_RUNTIME": "process"})
    yield server
    server.stop()


def test_everything_in_the_data_directory_is_the_platforms_only(platform, tmp_path):
    key = platform.new_user("owner", admin=True)
    generated = call(platform, "POST", f"/v1/instruments/{SYMBOL}/generate", key,
                     json={"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T06:00:00Z", "seed": 2})
    assert generated.status_code == 200, generated.text
    strategy_id = new_strategy(platform, key, "private")
    upload_tiny_image(cli_for(platform, tmp_path / "home", key), strategy_id, tmp_path / "project")
    version = call(platform, "POST", f"/v1/strategies/{strategy_id}/versions", key,
                   json={"gitSha": "abc1234", "template": "ma-crossover"}).json()["data"]["id"]
    body = {"strategyVersionId": version, "subscriptions": [{"instrument": SYMBOL, "events": ["candle_1m"]}],
            "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T06:00:00Z"}
    created = call(platform, "POST", f"/v1/strategies/{strategy_id}/scenarios", key, json=body)
    assert created.status_code == 201, created.text
    path = f"/v1/strategies/{strategy_id}/scenarios/{created.json()['data']['scenarioId']}"
    deadline = time.monotonic() + 300
    while (state := call(platform, "GET", path, key).json()["data"]["state"]) not in ("COMPLETE", "FAILED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state == "COMPLETE"
    registry_realm(platform)  # the registry has written its config
    data = platform.data_dir
    sqlite = ("tektii.db",) if platform.database_url is None else ()  # else its state is in PostgreSQL
    for expected in (*sqlite, "registry/config.json", "registry/http-secret", "registry/token/registry-token.key"):
        assert (data / expected).is_file(), expected
    run = next((data / "runs").glob("scen_*"))
    # what the worker posted; its spec (run token, pull credentials) came on stdin, in no file
    assert {p.name for p in run.iterdir()} == {"strategy.log", "result.json"}
    assert loose_modes(data) == []


class SocketInspectingRuntime(ProcessRuntime):
    """The process runtime, recording the mode of the engine's gateway socket at start."""

    def start(self, launch: StrategyLaunch):
        socket = Path(launch.gateway_socket)
        self.modes = (stat.S_IMODE(socket.stat().st_mode), stat.S_IMODE(socket.parent.stat().st_mode),
                      socket.stat().st_uid)
        return super().start(launch)


def test_the_gateway_socket_is_its_owners_only(tmp_path):
    from tektii_engine.gateway.session import StrategyLauncher

    strategy = tmp_path / "s.py"
    strategy.write_text("print('started')\n")  # exits at once: the run fails, the socket was made
    candles = generate(SYMBOL, "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", seed=1)
    runtime = SocketInspectingRuntime()
    run_backtest({"subscriptions": [{"instrument": SYMBOL, "events": ["candle_1m"]}],
                  "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T01:00:00Z"},
                 lambda *_args: [candles], StrategyLauncher(runtime, path=strategy))
    socket_mode, directory_mode, owner = runtime.modes
    assert owner == os.getuid()
    assert socket_mode & 0o077 == 0 and directory_mode == 0o700

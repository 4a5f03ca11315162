"""A real platform process per test module (``python -m tektii_platform serve``) that can be
killed and restarted on the same data directory, and helpers to drive scenarios over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

SPEC_CONFIG = {
    "strategyVersionId": "ver_xyz789",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-04-01T00:00:00Z",
    "initialCapital": 100000,
    "positionMode": "netting",
}
FINISHED = ("COMPLETE", "FAILED", "CANCELLED")


class ServedPlatform:
    """The platform as its own process; ``kill()`` is SIGKILL, ``start()`` serves again."""

    def __init__(self, data_dir: Path, env: dict[str, str]):
        self.data_dir = data_dir
        self.env = {**os.environ, **env, "TEKTII_DATA_DIR": str(data_dir)}
        self.proc: subprocess.Popen | None = None
        self.http = requests.Session()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "platform.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tektii_platform", "serve", "--port", str(self.port), "--data-dir",
                 str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"platform exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("platform did not become healthy within 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- API helpers ------------------------------------------------------------------------
    def new_user(self, name: str = "tester") -> str:
        done = subprocess.run([sys.executable, "-m", "tektii_platform", "user", "create", name, "--data-dir",
                               str(self.data_dir)], capture_output=True, text=True, check=True, env=self.env)
        return next(w for w in done.stdout.split() if w.startswith("tk_"))

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = key
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, key: str | None = None, status: int = 200, **kwargs):
        response = self.call(method, path, key, **kwargs)
        assert response.status_code == status, response.text
        return response.json()["data"]

    def strategy(self, key: str, name: str) -> str:
        return self.ok("POST", "/v1/strategies", key, 201, json={"name": name})["id"]

    def template_version(self, key: str, strategy_id: str, template: str = "ma-crossover") -> str:
        body = {"gitSha": "abc1234", "template": template}
        return self.ok("POST", f"/v1/strategies/{strategy_id}/versions", key, 201, json=body)["id"]

    def generate(self, key: str, symbol: str, start: str, end: str) -> dict:
        body = {"start": start, "end": end, "seed": 1}
        return self.ok("POST", f"/v1/instruments/{symbol}/generate", key, json=body, timeout=300)

    def create(self, key: str, strategy_id: str, config: dict) -> dict:
        return self.ok("POST", f"/v1/strategies/{strategy_id}/scenarios", key, 201, json=config)

    def get(self, key: str, strategy_id: str, scenario_id: str) -> dict:
        return self.ok("GET", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}", key)

    def wait(self, key: str, strategy_id: str, scenario_id: str, states=FINISHED, timeout: float = 300,
             progress: bool = False) -> dict:
        """Poll until the scenario is in one of `states` (with progress reported, if asked)."""
        deadline = time.monotonic() + timeout
        while True:
            scenario = self.get(key, strategy_id, scenario_id)
            if scenario["state"] in states and (not progress or scenario["progress"]):
                return scenario
            assert time.monotonic() < deadline, f"still {scenario['state']} after {timeout} s: {scenario}"
            time.sleep(0.2)


def served(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[ServedPlatform]:
    platform = ServedPlatform(tmp_path_factory.mktemp("platform") / "data", env)
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
        platform.http.close()


def with_version(config: dict, version_id: str, **changes) -> dict:
    return {**config, "strategyVersionId": version_id, **changes}


def children(pid: int) -> set[int]:
    """Every descendant process of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

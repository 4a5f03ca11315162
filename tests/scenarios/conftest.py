"""A real platform process per test module (``python -m tektii_platform serve``) that can be
killed and restarted on the same data directory, and helpers to drive scenarios over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tektii_testkit import Platform

SPEC_CONFIG = {
    "strategyVersionId": "ver_xyz789",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-04-01T00:00:00Z",
    "initialCapital": 100000,
    "positionMode": "netting",
}
FINISHED = ("COMPLETE", "FAILED", "CANCELLED")


class ServedPlatform(Platform):
    """The platform as its own process (see tektii_testkit.Platform), with helpers to drive
    scenarios over HTTP."""

    def __init__(self, data_dir: Path, env: dict[str, str]):
        super().__init__(data_dir, env, start=False)
        self.http = requests.Session()

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

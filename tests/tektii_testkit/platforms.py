"""Helpers shared by test modules (importable as `tektii_testkit`: tests/ is on sys.path through
the root conftest). Kept out of conftest.py, whose module name is not unique across folders."""

from __future__ import annotations

import importlib.metadata
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from tektii_engine.data.candles import Candles
    from tektii_platform.server import RunningServer


def require(ok: bool, reason: str) -> None:
    """Skip a test whose real component is missing, but fail it where CI requires every component
    (TEKTII_REQUIRE_DOCKER=1 after scripts/provision)."""
    if ok:
        return
    if os.environ.get("TEKTII_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (required: TEKTII_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


def docker_running() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def docker_client_or_skip():
    """A Docker client with the provisioned base image, or skip/fail with the reason."""

    import docker

    reason = None
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means "no docker here"
        reason = f"Docker is not available: {err}"
    else:
        try:
            client.images.get("python:3.11-slim")
        except docker.errors.ImageNotFound:
            reason = "python:3.11-slim is not provisioned (run scripts/provision)"
    require(reason is None, reason or "")
    return client


BASE_IMAGE = "python:3.11-slim"  # the local stand-in scripts/provision builds


def containers_tool_ready(tool: str, *flags: str) -> None:
    if shutil.which(tool) is None:
        require(False, f"{tool} is not installed (run scripts/provision)")
    name = f"docker.io/library/{BASE_IMAGE}"
    probe = ["image", "exists", name] if tool == "podman" else ["inspect", "--type", "image", name]
    found = subprocess.run([tool, *flags, *probe], capture_output=True, text=True, timeout=60)
    if found.returncode != 0:
        require(False, f"{BASE_IMAGE} is not in {tool}'s containers-storage (run scripts/provision)")


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    """The response is the error envelope with this status and code; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) - {"hint"} == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


BIN = Path(sys.executable).parent
TEKTII = shutil.which("tektii", path=str(BIN)) or "tektii"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    """Runs the installed `tektii` console script in a private config and cache directory."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
                 tty: bool = False, cwd: Path | None = None, timeout: float = 600) -> Result:
        full_env = {**self.env, **(env or {})}
        full_env = {k: v for k, v in full_env.items() if v is not None}
        if tty:
            return self._run_tty(list(args), full_env, cwd)
        done = subprocess.run([TEKTII, *args], capture_output=True, text=True, env=full_env, input=input,
                              cwd=cwd, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def _run_tty(self, args: list[str], env: dict[str, str], cwd: Path | None) -> Result:
        main, secondary = pty.openpty()
        proc = subprocess.Popen([TEKTII, *args], stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env={**env, "COLUMNS": "200"}, cwd=cwd)
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
        os.close(main)
        return Result(proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err)


def base_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TEKTII_") or k == "TEKTII_REQUIRE_DOCKER"}
    return {**keep, "TEKTII_CONFIG_DIR": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
            "TEKTII_DATA_DIR": str(home / "data"), "HOME": str(home)}


class Platform:
    """A real platform server (`tektii platform serve`) on 127.0.0.1 (or `host`, an address the
    test gave its own network) with its own data directory; it can be killed (SIGKILL) and
    started again on the same directory and port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, start: bool = True,
                 host: str = "127.0.0.1"):
        self.data_dir = data_dir
        self.env = {**os.environ, "TEKTII_DATA_DIR": str(data_dir), **(env or {})}
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log_path = data_dir.parent / "platform.log"
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the server keeps its own descriptor
            self.proc = subprocess.Popen([TEKTII, "platform", "serve", "--host", self.host, "--port", str(self.port),
                                          "--data-dir", str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT, env=self.env)
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

    def new_user(self, name: str = "tester", *, admin: bool = False) -> str:
        """Create a user (an admin, who may write market data, if asked) through the platform's
        admin command; returns its API key."""
        done = subprocess.run([sys.executable, "-m", "tektii_platform", "user", "create", name, "--data-dir",
                               str(self.data_dir), *(["--admin"] if admin else [])],
                              capture_output=True, text=True, check=True, env=self.env)
        key = [w for w in done.stdout.split() if w.startswith("tk_")]
        assert key, done.stdout
        return key[0]

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


# --- the platform in-process (tests/platform, tests/data): see the `api` fixture in conftest.py -----

class Api:
    """The running server plus helpers to make users and call it as one of them."""

    def __init__(self, server: RunningServer, data_dir: Path):
        self.server = server
        self.data_dir = data_dir
        self.url = server.url
        self.db = server.app.db
        self.http = requests.Session()

    def new_user(self, name: str = "alice", *, admin: bool = False) -> str:
        from tektii_platform import accounts

        _user, key = accounts.create_user(self.db, name, admin=admin)
        return key

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = key
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def create(self, key: str, name: str) -> dict:
        response = self.call("POST", "/v1/strategies", key, json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["data"]


# --- scenarios against a platform process (tests/scenarios) ------------------------------------

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

    def __init__(self, data_dir: Path, env: dict[str, str], host: str = "127.0.0.1"):
        super().__init__(data_dir, env, start=False, host=host)
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


def served(tmp_path_factory: pytest.TempPathFactory, host: str = "127.0.0.1", **env: str) -> Iterator[ServedPlatform]:
    platform = ServedPlatform(tmp_path_factory.mktemp("platform") / "data", env, host)
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


# --- market data (tests/data): real files in tmp dirs, an independent oracle --------------------

def ts(text: str) -> int:
    """Unix seconds of a UTC ISO time, e.g. ts("2024-01-01T00:00")."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def candles(rows: Iterable[tuple]) -> Candles:
    """Candles from (time, open, high, low, close, volume) tuples; time may be ISO text."""
    import numpy as np

    from tektii_engine.data.candles import Candles
    rows = [(ts(r[0]) if isinstance(r[0], str) else r[0], *r[1:]) for r in rows]
    if not rows:
        return Candles.empty()
    return Candles(*(np.array(col) for col in zip(*rows, strict=True)))


def minute_bars(start: str, count: int, *, price: float = 100.0) -> Candles:
    """``count`` consecutive 1m bars with distinct, easy-to-follow values."""
    t0 = ts(start)
    rows = []
    for k in range(count):
        o = price + k
        rows.append((t0 + 60 * k, o, o + 1 + (k % 3), o - 0.25 - (k % 2), o + 0.75, 1.0 + k))
    return candles(rows)


def bucket_of(epoch: int, tf: str) -> int:
    """Calendar arithmetic with datetime, independent of timeframes.bucket_start."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if tf == "1w":
        day = moment.replace(hour=0, minute=0, second=0) - timedelta(days=moment.weekday())
        return int(day.timestamp())
    if tf == "1d":
        return int(moment.replace(hour=0, minute=0, second=0).timestamp())
    amount, unit = int(tf[:-1]), tf[-1]
    if unit == "h":
        moment = moment.replace(hour=moment.hour - moment.hour % amount, minute=0, second=0)
    else:
        moment = moment.replace(minute=moment.minute - moment.minute % amount, second=0)
    return int(moment.timestamp())


def reference_aggregate(base: Candles, tf: str) -> list[tuple]:
    """Row-by-row aggregation (a plain loop), the oracle the vectorised code must match."""
    out: list[list] = []
    for t, o, h, lo, c, v in base.rows():
        b = bucket_of(t, tf)
        if out and out[-1][0] == b:
            bar = out[-1]
            bar[2], bar[3], bar[4], bar[5] = (
                max(bar[2], h),
                min(bar[3], lo),
                c,
                bar[5] + v,
            )
        else:
            out.append([b, o, h, lo, c, v])
    return [tuple(bar) for bar in out]


def assert_rows_close(actual: Candles, expected: list[tuple]) -> None:
    import numpy as np

    got = actual.rows()
    assert [r[0] for r in got] == [r[0] for r in expected]
    np.testing.assert_allclose(np.array([r[1:] for r in got]), np.array([r[1:] for r in expected]), rtol=1e-12)


def shipped_file(distribution: str, path: str) -> Path:
    """A data file that an installed PyPI package ships (located without importing it)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"test dependency {distribution} is not installed")
    for file in dist.files or []:
        if str(file) == path:
            return Path(str(file.locate()))
    pytest.fail(f"{distribution} no longer ships {path}")


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path



def running_run(platform: Platform, key: str, strategy_id: str, config: dict,
                wall_clock_s: float = 3600.0) -> tuple[str, str]:
    """A scenario row made RUNNING at once (so the platform's own scheduler never claims it) and a
    run token for it: what an execution backend driven directly by a test hands its worker.
    Returns (scenario id, run token); the run's files appear in ``platform.data_dir/runs/<id>``."""
    from tektii_platform import run_tokens
    from tektii_platform.db import open_database
    from tektii_platform.store import scenarios
    from tektii_platform.store.tables import scenarios as table

    owner = requests.get(f"{platform.url}/v1/me", headers={"X-API-Key": key}, timeout=30).json()["data"]["id"]
    db = open_database(platform.data_dir)
    try:
        with db.transaction():
            row = scenarios.create(db, strategy_id, owner, config)
            db.execute(table.update().where(table.c.id == row["id"]).values(state="RUNNING", started_at=row["created_at"]))
        return row["id"], run_tokens.issue(db, row["id"], wall_clock_s)
    finally:
        db.close()


def run_desk(tmp_path_factory: pytest.TempPathFactory, data_start: str, data_end: str, host: str = "127.0.0.1",
             **env: str):
    """A served platform (on `host`) with C:BTCUSD candles from `data_start` to `data_end` and a
    template version, as (platform, key, strategy id, version id): the platform's end of the run
    contract for tests that drive a backend or a run's endpoints directly (with running_run)."""
    for platform in served(tmp_path_factory, host, **env):
        key = platform.new_user("owner", admin=True)
        platform.generate(key, "C:BTCUSD", data_start, data_end)
        strategy_id = platform.strategy(key, "run-desk")
        yield platform, key, strategy_id, platform.template_version(key, strategy_id)

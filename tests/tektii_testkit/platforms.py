"""A real platform server: as its own process (`Platform`, `ServedPlatform`, `served`) or in
this process (`Api`, behind the `api` fixture of tests/conftest.py), and the shapes its API answers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from .cli import CLI, TEKTII, base_env
from .components import free_port
from .databases import DATABASE_URL_ENV, drop_platform_database, new_platform_database

if TYPE_CHECKING:
    from tektii_platform.db import Database
    from tektii_platform.server import RunningServer


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


class Platform:
    """A real platform server (`tektii platform serve`) on 127.0.0.1 (or `host`, an address the
    test gave its own network) with its own data directory and database (SQLite in the data
    directory, or a fresh PostgreSQL database under TEKTII_TEST_DATABASE=postgres, unless `env`
    names one); it can be killed (SIGKILL) and started again on the same directory and port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, start: bool = True,
                 host: str = "127.0.0.1"):
        self.data_dir = data_dir
        # Not this process's TEKTII_DATABASE_URL (the `api` fixture sets it for its in-process server).
        inherited = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
        self.env = {**inherited, "TEKTII_DATA_DIR": str(data_dir), **(env or {})}
        self._own_database = None if self.env.get(DATABASE_URL_ENV) else new_platform_database()
        if self._own_database:
            self.env[DATABASE_URL_ENV] = self._own_database
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
        self.stop()  # a platform stuck on its way up would outlive the test otherwise
        raise RuntimeError(f"platform did not become healthy within 30 s: {self.log_path.read_text()[-3000:]}")

    def new_user(self, name: str = "tester", *, admin: bool = False) -> str:
        """Create a user (an admin, who may write market data, if asked) through the platform's
        admin command; returns its API key."""
        done = subprocess.run([sys.executable, "-m", "tektii_platform", "user", "create", name, "--data-dir",
                               str(self.data_dir), *(["--admin"] if admin else [])],
                              capture_output=True, text=True, check=True, env=self.env)
        key = [w for w in done.stdout.split() if w.startswith("tk_")]
        assert key, done.stdout
        return key[0]

    @property
    def database_url(self) -> str | None:
        """The platform's TEKTII_DATABASE_URL; None when it keeps SQLite in its data directory."""
        return self.env.get(DATABASE_URL_ENV) or None

    @contextlib.contextmanager
    def database(self) -> Iterator[Database]:
        """The platform's own database, opened from the test: SQLite in its data directory, or the
        PostgreSQL database of its TEKTII_DATABASE_URL. Query it with SQL text and :name parameters
        (``db.query``, ``db.query_one``, ``db.execute``), which both understand."""
        from tektii_platform.db import open_database

        db = open_database(self.data_dir, self.database_url)
        try:
            yield db
        finally:
            db.close()

    def scenario_row(self, scenario_id: str) -> dict:
        """The scenario's row in the platform's database (columns the API does not show)."""
        with self.database() as db:
            row = db.query_one("SELECT * FROM scenarios WHERE id = :id", {"id": scenario_id})
        assert row is not None, f"no scenario {scenario_id}"
        return row

    def database_text(self) -> str:
        """Every row of every table of the platform's database as text, to show that some secret
        is stored in none of them (on SQLite, tests can also read the files themselves)."""
        import sqlalchemy as sa

        with self.database() as db:
            tables = sa.inspect(db.engine).get_table_names()
            return "\n".join(repr(row) for table in tables for row in db.query(f'SELECT * FROM "{table}"'))

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

    def close(self) -> None:
        """Stop the platform for good: also drop the PostgreSQL database made for it."""
        self.stop()
        drop_platform_database(self._own_database)
        self._own_database = None


# --- the platform in-process: the `api` fixture of tests/conftest.py ------------------------------

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


# --- scenarios against a platform process ------------------------------------------------------

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
        platform.close()
        platform.http.close()


def upload_ma_crossover(platform: ServedPlatform, key: str, tmp_path_factory, name: str) -> tuple[CLI, str, str]:
    """The ma-crossover project written by `strategy init`'s template and uploaded as an image
    (a real build and push) to a new strategy `name`: (the owner's CLI, strategy id, version id)."""
    import re

    from tektii_engine.templates import write_project

    home = tmp_path_factory.mktemp("home")
    cli = CLI(home, {**base_env(home), "TEKTII_API_URL": platform.url, "TEKTII_API_KEY": key})
    strategy_id = platform.strategy(key, name)
    project = tmp_path_factory.mktemp("project")
    write_project("ma-crossover", project)
    upload = cli("version", "upload", strategy_id, "--git-sha", "abc1234", cwd=project)
    assert upload.code == 0, upload.out + upload.err
    return cli, strategy_id, re.search(r"^  Version ID: (ver_\w+)$", upload.out, re.M)[1]


def with_version(config: dict, version_id: str, **changes) -> dict:
    return {**config, "strategyVersionId": version_id, **changes}

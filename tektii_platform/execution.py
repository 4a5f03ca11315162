"""What a scenario run executes: the RunSpec an execution backend gets, built from the
scenario's row, its version and the platform's own resources (market data, registry).

Runtime choice (docs/scenarios.md): a version with an image runs in the ``docker`` runtime
(the image is pulled from the platform's registry with pull credentials issued here); a
template version runs in ``docker`` from the template's image when Docker is usable, else in
the ``process`` runtime. ``TEKTII_RUNTIME=process|docker`` forces one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tektii_core.contracts import RunSpec, TektiiError

from .db import Database
from .http import ApiError, AppContext
from .ids import now_db

RUNTIME_ENV = "TEKTII_RUNTIME"
PULL_CREDENTIAL_TTL = timedelta(hours=2)  # outlives a queued run's pull; only the hash is stored
_DOCKER_CHECK_TTL_S = 60.0


def market_data_dir(data_dir: Path) -> Path:
    """Where the platform keeps candles (the same store GET /v1/instruments reads)."""
    return Path(data_dir) / "market-data"


def run_dir(data_dir: Path, scenario_id: str) -> Path:
    """A run's files: strategy.log, result.json, the worker's spec and log."""
    return Path(data_dir) / "runs" / scenario_id


def read_result(directory: Path) -> dict[str, Any] | None:
    """The result a finished run left in its directory, or None."""
    try:
        return json.loads((Path(directory) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RuntimeChooser:
    """Picks the runtime for a version; remembers whether Docker is usable for a minute."""

    def __init__(self, runtimes: dict[str, Any]):
        self.runtimes = runtimes
        self._docker_ok: tuple[float, bool, str] | None = None

    def docker_usable(self) -> tuple[bool, str]:
        now = time.monotonic()
        if self._docker_ok is None or now - self._docker_ok[0] > _DOCKER_CHECK_TTL_S:
            docker = self.runtimes.get("docker")
            if docker is None:
                self._docker_ok = (now, False, "the docker runtime is not installed")
            else:
                available = docker.availability()
                self._docker_ok = (now, available.ok, available.reason)
        return self._docker_ok[1], self._docker_ok[2]

    def choose(self, version: sqlite3.Row) -> str:
        forced = os.environ.get(RUNTIME_ENV, "").strip()
        if forced:
            if forced not in self.runtimes:
                raise TektiiError(f"{RUNTIME_ENV}={forced!r} names no runtime; available: {', '.join(sorted(self.runtimes))}")
            return forced
        if version["template"] is None:
            return "docker"
        usable, _why = self.docker_usable()
        return "docker" if usable else "process"


def issue_pull_credentials(db: Database, user_id: str, repository: str) -> dict[str, str]:
    """Pull-only registry credentials for the platform's own pull of a run's image (the
    same table and token endpoint as the credentials `version upload` gets)."""
    username = f"pull-{secrets.token_hex(8)}"
    password = secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + PULL_CREDENTIAL_TTL).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with db.transaction() as conn:
        conn.execute("DELETE FROM registry_credentials WHERE expires_at < ?", (now_db(),))
        conn.execute(
            "INSERT INTO registry_credentials (username, secret_hash, user_id, repository, actions, expires_at)"
            " VALUES (?, ?, ?, ?, 'pull', ?)",
            (username, hashlib.sha256(password.encode()).hexdigest(), user_id, repository, expires),
        )
    return {"username": username, "password": password}


def build_run_spec(ctx: AppContext, scenario: sqlite3.Row, chooser: RuntimeChooser) -> RunSpec:
    """The RunSpec for a claimed scenario; TektiiError when it cannot run (the run FAILS)."""
    version = ctx.db.query_one(
        "SELECT id, template, repository, digest, state FROM versions WHERE id = ?", (scenario["version_id"],)
    )
    if version is None or version["state"] != "READY":
        raise TektiiError(f"Version {scenario['version_id']} is no longer READY")
    runtime = chooser.choose(version)
    config = json.loads(scenario["config"])
    directory = run_dir(ctx.data_dir, scenario["id"])
    directory.mkdir(parents=True, exist_ok=True)
    common = {
        "scenario_id": scenario["id"],
        "config": config,
        "run_dir": directory,
        "market_data_dir": market_data_dir(ctx.data_dir),
        "runtime": runtime,
    }
    if version["template"] is not None:
        return RunSpec(**common, template=version["template"])
    registry = _running_registry(ctx)
    image = f"{registry.address}/{version['repository']}@{version['digest']}"
    auth = issue_pull_credentials(ctx.db, scenario["owner_id"], version["repository"])
    return RunSpec(**common, image=image, pull_auth=auth)


def _running_registry(ctx: AppContext) -> Any:
    """The platform's registry (configured with the platform's own address)."""
    from .api.registry import registry

    try:
        return registry(ctx)
    except ApiError as exc:
        raise TektiiError(f"The image registry is unavailable: {exc.message}") from None

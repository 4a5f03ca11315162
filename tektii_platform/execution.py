"""What a scenario run executes: the RunSpec an execution backend gets, built from the
scenario's row, its version and the platform's own resources (market data, registry).

Runtime choice (docs/scenarios.md): a version with an image runs in the ``docker`` runtime
(the image is pulled from the platform's registry with pull credentials its registry service issues); a
template version runs in ``docker`` from the template's image when Docker is usable, else in
the ``process`` runtime, but only on a single-user platform bound to loopback unless an admin
sets ``TEKTII_PROCESS_FALLBACK=on``. ``TEKTII_RUNTIME=process|docker`` forces one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tektii_core.contracts import RunSpec, TektiiError
from tektii_engine.runlog import max_bytes_from_env

from .http import AppContext
from .registry.service import RegistryUnavailable
from .store import Row, versions

RUNTIME_ENV = "TEKTII_RUNTIME"
WALL_CLOCK_ENV = "TEKTII_RUN_WALL_CLOCK_S"
DEFAULT_WALL_CLOCK_S = 3600.0
PROCESS_FALLBACK_ENV = "TEKTII_PROCESS_FALLBACK"  # auto (default) | on | off
RUN_PLATFORM_URL_ENV = "TEKTII_RUN_PLATFORM_URL"  # the platform's address as runs' nodes reach it
_DOCKER_CHECK_TTL_S = 60.0


def market_data_dir(data_dir: Path) -> Path:
    """Where the platform keeps candles (the same store GET /v1/instruments reads)."""
    return Path(data_dir) / "market-data"


def run_dir(data_dir: Path, scenario_id: str) -> Path:
    """A run's files, as its worker posted them: strategy.log, result.json (0700, like runs/)."""
    return Path(data_dir) / "runs" / scenario_id


def make_run_dir(data_dir: Path, scenario_id: str) -> Path:
    directory = run_dir(data_dir, scenario_id)
    for path in (directory.parent, directory):
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
    return directory


def read_result(directory: Path) -> dict[str, Any] | None:
    """The result a finished run left in its directory, or None."""
    try:
        return json.loads((Path(directory) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def wall_clock_from_env() -> float:
    """How long a run may take in real time, in seconds (TEKTII_RUN_WALL_CLOCK_S, default 3600);
    a run past it ends FAILED "the run exceeded its wall-clock limit of N s"."""
    text = os.environ.get(WALL_CLOCK_ENV, "").strip()
    if not text:
        return DEFAULT_WALL_CLOCK_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise TektiiError(f"{WALL_CLOCK_ENV} must be a positive number of seconds, got {text!r}")
    return value


def process_fallback_refusal(ctx: AppContext) -> str | None:
    """Why a template may not fall back to the process runtime here, or None when it may.

    The process runtime is the embedded default's answer to a machine without Docker (one
    user, loopback). On a shared platform, other users' code would run on the host, so
    there it is off unless an admin turns it on."""
    from .accounts import active_user_count

    setting = os.environ.get(PROCESS_FALLBACK_ENV, "").strip().lower() or "auto"
    if setting not in ("auto", "on", "off"):
        raise TektiiError(f"{PROCESS_FALLBACK_ENV} must be auto, on or off, got {setting!r}")
    if setting == "on":
        return None
    if setting == "off":
        return f"{PROCESS_FALLBACK_ENV}=off"
    if ctx.address is None or not ctx.address.loopback_only:
        return "the platform serves an address other than loopback"
    if active_user_count(ctx.db) > 1:
        return "the platform has more than one user"
    return None


class RuntimeChooser:
    """Picks the runtime for a version; remembers whether Docker is usable for a minute."""

    def __init__(self, runtimes: dict[str, Any], ctx: AppContext | None = None):
        self.runtimes = runtimes
        self.ctx = ctx
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

    def choose(self, version: Row) -> str:
        forced = os.environ.get(RUNTIME_ENV, "").strip()
        if forced:
            if forced not in self.runtimes:
                raise TektiiError(f"{RUNTIME_ENV}={forced!r} names no runtime; available: {', '.join(sorted(self.runtimes))}")
            return forced
        if version["template"] is None:
            return "docker"
        usable, why = self.docker_usable()
        if usable:
            return "docker"
        refusal = process_fallback_refusal(self.ctx) if self.ctx is not None else None
        if refusal is not None:
            raise TektiiError(
                f"Docker is not usable here ({why}), and running the template in the process runtime instead is off"
                f" because {refusal}",
                hint=f"Make Docker usable, or an admin can allow the fallback with {PROCESS_FALLBACK_ENV}=on"
                " (docs/scenarios.md)",
            )
        return "process"


def platform_url_known(ctx: AppContext) -> bool:
    """Whether runs can be told where the platform is (its socket is bound, or the URL is set)."""
    return ctx.address is not None or bool(os.environ.get(RUN_PLATFORM_URL_ENV, "").strip())


def platform_url_for_runs(ctx: AppContext) -> str:
    """Where a run's worker reaches the platform: TEKTII_RUN_PLATFORM_URL (for nodes of a cluster,
    which may not reach the platform's loopback address), else the platform's own local URL."""
    configured = os.environ.get(RUN_PLATFORM_URL_ENV, "").strip().rstrip("/")
    if configured:
        return configured
    if ctx.address is None:
        raise TektiiError("The platform has no address yet: runs cannot reach it")
    return ctx.address.local_url


def build_run_spec(ctx: AppContext, scenario: Row, chooser: RuntimeChooser, attempt: int = 1) -> RunSpec:
    """The RunSpec for a claimed scenario, with a new run token; TektiiError when it cannot run
    (the run FAILS). `attempt` 2: the run starts again after its node was lost."""
    from . import run_tokens

    version = versions.get(ctx.db, scenario["version_id"])
    if version is None or version["state"] != "READY":
        raise TektiiError(f"Version {scenario['version_id']} is no longer READY")
    runtime = chooser.choose(version)
    config = json.loads(scenario["config"])
    make_run_dir(ctx.data_dir, scenario["id"])  # where the posted log and result go
    wall_clock_s = wall_clock_from_env()
    max_bytes_from_env()  # a bad cap on the stored log fails the run here, not in the log endpoint
    common = {
        "scenario_id": scenario["id"],
        "config": config,
        "platform_url": platform_url_for_runs(ctx),
        "runtime": runtime,
        "wall_clock_s": wall_clock_s,
        "attempt": attempt,
    }
    if version["template"] is not None:
        return RunSpec(**common, run_token=run_tokens.issue(ctx.db, scenario["id"], wall_clock_s),
                       template=version["template"])
    try:
        image, auth = ctx.registry.pull_image(scenario["owner_id"], version["repository"], version["digest"])
    except RegistryUnavailable as exc:
        raise TektiiError(f"The image registry is unavailable: {exc.message}") from None
    return RunSpec(**common, run_token=run_tokens.issue(ctx.db, scenario["id"], wall_clock_s), image=image,
                   pull_auth=auth)

"""Value types and protocols that plugins exchange with the core.

Kept free of heavy imports: plugins and the core import this at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from tektii_core.errors import TektiiError  # noqa: F401  (re-exported for plugins)

LogFn = Callable[[str], None]
"""Receives one line of progress or build output, without a trailing newline."""


@attrs.frozen
class Availability:
    """Whether a builder or runtime can be used on this machine, and why not."""

    ok: bool
    reason: str = ""
    # False when the tool is absent altogether (not merely stopped or misconfigured): only
    # then may `version upload` fall back from the default builder to the next one.
    installed: bool = True
    # How to fix it, when the plugin knows. A builder that gives one has its `reason` reported as
    # the error itself ("Error: Docker not running" / "Solution: Start Docker Desktop ...").
    hint: str = ""

    def describe(self) -> str:
        """The reason with its hint, as `tektii plugins` shows it."""
        return f"{self.reason} ({self.hint})" if self.hint else self.reason


@attrs.frozen
class BuiltImage:
    """An image a builder produced in its own local store."""

    reference: str  # the tag it was built as, e.g. 127.0.0.1:5000/strat_x:ver_y
    os: str  # as the image config says, e.g. "linux"
    architecture: str  # e.g. "amd64"
    size: int | None = None  # bytes, when the builder knows it
    image_id: str | None = None


@attrs.frozen
class PushCredentials:
    """Short-lived credentials the platform issued for one repository."""

    registry: str  # host:port, e.g. 127.0.0.1:5000
    repository: str  # e.g. strat_abc/ver_xyz
    username: str
    password: str


@runtime_checkable
class Builder(Protocol):
    """Builds an image from a Dockerfile and pushes it (see hookspecs.register_builders).

    Optional attributes, read with a default: ``tool``, the program as messages name it
    ("Connecting to Docker...", default the builder's name), and ``source``, what the builder
    makes a version from: ``"dockerfile"`` (the default: build and push an image) or
    ``"template"`` (a `TemplateBuilder`: the platform's template, no image built here).
    """

    name: str
    description: str

    def availability(self) -> Availability:
        """Cheap check whether this builder can run here (executable present, daemon up)."""

    def build(
        self, *, dockerfile: Path, context: Path, tag: str, platform: str, log: LogFn
    ) -> BuiltImage:
        """Build `tag` for `platform` (e.g. "linux/amd64"), streaming output lines to `log`."""

    def push(self, *, image: BuiltImage, credentials: PushCredentials, log: LogFn) -> str:
        """Push the image and return its manifest digest ("sha256:...")."""


@runtime_checkable
class TemplateBuilder(Protocol):
    """Creates versions from the platform's templates (``version upload --template NAME``)
    instead of building an image; registered through hookspecs.register_builders with
    ``source = "template"``. The version is READY once created: there is nothing to push."""

    name: str
    description: str
    source: str  # "template"

    def availability(self) -> Availability:
        """Whether versions can be made from templates here."""

    def check_template(self, client: Any, template: str) -> list[TektiiError]:
        """The problems with `template` (e.g. not one the platform at `client` offers), none when it is fine."""


@attrs.frozen
class Template:
    """A strategy project the platform can run without an uploaded image (see
    hookspecs.register_templates): the files of ``directory`` (a tektii SDK strategy and a
    linux/amd64 Dockerfile), and the settings it reads from its environment."""

    name: str
    directory: Path
    description: str = ""
    defaults: Mapping[str, str] = attrs.field(factory=dict)  # environment variable -> default ("" = unset)

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "defaults": dict(self.defaults)}


@attrs.frozen
class AuthResult:
    """What an auth provider found: the requests auth object and a human name of its source."""

    auth: Any  # requests.auth.AuthBase
    source: str  # e.g. "--api-key flag", "environment variable TEKTII_API_KEY"


class AuthProvider(Protocol):
    name: str
    priority: int  # lower is tried first: flag/env 10, config file 20, keyring 30, helper 40

    def get_auth(self, settings: Mapping[str, Any]) -> AuthResult | None:
        """Return credentials, None when this provider has none, or raise TektiiError when
        it recognises its credential but cannot use it."""


# --- Strategy runtimes (see hookspecs.register_runtimes and docs/engine.md) -------------------


@attrs.frozen
class RuntimeLimits:
    """Resource limits a runtime applies to a strategy (None = the runtime's default)."""

    memory_mb: int | None = 1024
    cpus: float | None = 1.0
    pids: int | None = 256
    wall_clock_s: float | None = None


@attrs.frozen
class StrategyLaunch:
    """Everything a runtime needs to start one strategy for one backtest run.

    The engine serves the gateway API both on ``gateway_url`` (TCP on 127.0.0.1, for local
    processes) and on the Unix socket ``gateway_socket`` (for runtimes that relay it into an
    isolated network namespace, which then expose it to the strategy as http://127.0.0.1:8080).
    ``serve_socket``, when the engine offers it, serves the same API on a listening socket the
    runtime hands over (e.g. one opened inside the strategy's network namespace, so that no
    relay copies bytes); it returns once the socket is served.
    """

    run_id: str
    gateway_url: str
    api_key: str
    log: LogFn
    gateway_socket: Path | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)
    image: str | None = None  # an image reference, for container runtimes
    path: Path | None = None  # a strategy file or directory, for the process runtime
    limits: RuntimeLimits = attrs.field(factory=RuntimeLimits)
    serve_socket: Callable[[Any], None] | None = None  # (socket.socket) -> None
    # Untrusted code on a shared machine (the platform's scenario runs): isolate it as far as the
    # runtime can. The docker runtime always does; the process runtime, started as root, then runs
    # the strategy as an unprivileged user with resource limits (docs/runtimes.md).
    isolate: bool = False


@runtime_checkable
class RunningStrategy(Protocol):
    """A started strategy; every method is safe to call repeatedly and after it ended."""

    def poll(self) -> int | None:
        """The exit code once the strategy has ended, else None."""

    def stop(self, timeout: float = 5.0) -> None:
        """End the strategy (politely, then forcibly after `timeout`) and release resources."""

    def log_tail(self, lines: int = 50) -> str:
        """The last `lines` lines the strategy wrote to stdout/stderr."""


@runtime_checkable
class Runtime(Protocol):
    """Starts strategy code for a backtest (see hookspecs.register_runtimes).

    Optional attribute, read with a default: ``image_builder``, the name of the builder plugin
    whose images this runtime starts (the run worker builds a template's image with it); None,
    the default, for a runtime that starts a template's directory itself and runs no images.
    """

    name: str
    description: str

    def availability(self) -> Availability:
        """Cheap check whether this runtime can run here."""

    def start(self, launch: StrategyLaunch) -> RunningStrategy:
        """Start the strategy; raise TektiiError when it cannot be started at all."""


# --- Execution backends (see hookspecs.register_execution_backends, docs/execution-backends.md) ---

DEFAULT_RUN_LOG_MAX_BYTES = 10 * 1024 * 1024


@attrs.frozen
class RunSpec:
    """One scenario run as the platform hands it to an execution backend: location-independent,
    sent as JSON (``tektii_core.models.run_spec_to_json``) to wherever the run executes.

    The worker (tektii_engine.worker) reaches the platform at ``platform_url`` with
    ``run_token``, a token good only for this run while it runs (docs/execution-backends.md):
    it fetches the window's candles there and posts progress, the strategy's log lines and the
    result back. No local path: a node needs no file system shared with the platform.
    """

    scenario_id: str
    config: Mapping[str, Any]  # the scenario config, defaults filled in (ScenarioConfig.to_api())
    platform_url: str  # e.g. http://127.0.0.1:8420, an address the run's node reaches
    run_token: str  # "tkr_...": the run's own credential on the platform's /v1/runs/{id}/... endpoints
    runtime: str  # the Runtime that starts the strategy: "docker", "process", or a plugin's
    image: str | None = None  # image reference the node can pull, for container runtimes
    template: str | None = None  # template name (Plugins.templates) when there is no image
    pull_auth: Mapping[str, str] | None = None  # {"username", "password"} for pulling `image`
    limits: RuntimeLimits = attrs.field(factory=RuntimeLimits)
    wall_clock_s: float | None = None  # the whole run's real-time limit (None: the engine's default, 3600 s)
    attempt: int = 1  # which start of this run: 2 when it was started again after its node was lost

    def __repr__(self) -> str:  # the token and the pull password stay out of logs and tracebacks
        return f"RunSpec(scenario_id={self.scenario_id!r}, runtime={self.runtime!r}, platform_url={self.platform_url!r})"


@attrs.frozen
class RunProgress:
    fraction: float  # share of the simulated window done, 0..1
    events_per_second: float
    equity: float
    simulated_time: str | None = None  # RFC 3339

    def to_api(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "eventsPerSecond": self.events_per_second,
            "equity": self.equity,
            "simulatedTime": self.simulated_time,
        }


@attrs.frozen
class RunStatus:
    """What a run is doing now: RUNNING (with progress), or how it ended."""

    state: str  # RUNNING, COMPLETE, FAILED or CANCELLED
    progress: RunProgress | None = None
    reason: str | None = None  # why it FAILED (or was CANCELLED)
    # FAILED through no fault of the run (its node was lost): the scheduler may start it again
    # when the scenario allows retries
    retryable: bool = False

    @property
    def finished(self) -> bool:
        return self.state != "RUNNING"


class RunRoom(Protocol):
    """A snapshot of a backend's free capacity (ExecutionBackend.room)."""

    def take(self, runtime: str, limits: RuntimeLimits) -> bool:
        """Whether a run of `runtime` with `limits` fits now; True also reserves its share in
        this snapshot, so that the next take() sees less. True as well for a run that fits
        nowhere ever: start() then fails it with the reason, instead of it blocking the queue."""


@runtime_checkable
class RunHandle(Protocol):
    """A started run; every method is cheap, non-blocking and safe after the run ended."""

    ident: str  # what the backend needs to find the run again, e.g. "pid:1234"

    def poll(self) -> RunStatus:
        """The run's state now; once finished, the worker has posted the result to the platform."""

    def cancel(self) -> None:
        """Ask the run to stop (the strategy is stopped and removed); poll() then reports
        CANCELLED within seconds."""


@runtime_checkable
class ExecutionBackend(Protocol):
    """Where scenario runs execute (see hookspecs.register_execution_backends).

    Optional capabilities, looked up with getattr (docs/execution-backends.md):

    * ``room() -> RunRoom``: the backend knows its own capacity (a cluster); the scheduler then
      starts a queued run only when ``room().take(runtime, limits)`` says it fits, instead of
      bounding runs by TEKTII_MAX_CONCURRENT_RUNS.
    * ``reattach(scenario_id, ident) -> RunHandle | None``: at platform start, the handle of a
      run that kept running while the platform was away (None: not found; it is then FAILED).
    * ``describe() -> dict``: what ``tektii platform status`` shows of the backend (e.g. nodes).
    """

    name: str
    description: str

    def availability(self) -> Availability:
        """Cheap check whether runs can start here."""

    def start(self, run: RunSpec) -> RunHandle:
        """Start the run and return at once; raise TektiiError when it cannot start at all."""

    def abandon(self, scenario_id: str, run_dir: Path, ident: str | None) -> None:
        """Release whatever a run left behind when the platform stopped during it
        (processes, containers); called at platform start for runs that were RUNNING."""

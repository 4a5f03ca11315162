"""One scenario run in its own process: ``python -m tektii_engine.worker RUN_SPEC_JSON_PATH``.

``python -m tektii_engine.worker --spare`` is a worker started ahead of its run (the local
backend keeps one ready): it imports what every run needs, then reads the spec's path as one
line from stdin and runs it like a worker started for it (stderr to ``<runDir>/worker.log``,
its pid in ``<runDir>/worker.pid``). End of input without a line ends it.

The platform's ``local`` execution backend (tektii_plugins.execution.local) starts one worker
per run. The worker prepares the strategy (pulls the version's image from the platform's
registry, or builds a template's image with the runtime's ``image_builder`` plugin, or points a
runtime without one, the process runtime, at the template's directory), runs ``run_backtest``
against the platform's market data and reports:

* stdout: one JSON object per line: ``{"type": "progress", "fraction", "eventsPerSecond",
  "equity", "simulatedTime"}`` about twice a second, ``{"type": "end", "state", "reason"}``
  last;
* ``<runDir>/strategy.log``: the strategy's stdout/stderr lines as they come (and the
  worker's own ``tektii: ...`` lines about preparing the run), at most ``logMaxBytes``
  (head and tail, tektii_engine.runlog);
* ``<runDir>/result.json``: ``BacktestResult.to_dict()`` without the log, plus ``metrics`` and
  ``reproducibility`` (tektii_engine.record: what exactly ran), written atomically once the
  run has ended (COMPLETE, FAILED or CANCELLED).

SIGTERM (or SIGINT) cancels: the engine stops the strategy (containers are removed) and the
run ends CANCELLED. The worker also cancels itself when its parent (the platform) dies, so
that a killed platform leaves no strategy running.

The spec file (JSON, written by the backend): ``scenarioId``, ``config`` (the scenario
config with defaults), ``runDir``, ``marketDataDir``, ``runtime``, ``image``, ``template``,
``pullAuth`` (``{"username", "password"}`` or null), ``limits`` (RuntimeLimits fields),
``logMaxBytes`` (the stored log's cap) and optionally ``wallClockS`` (the whole run's real-time limit: the
platform's ``TEKTII_RUN_WALL_CLOCK_S``; without it the engine's default, 3600 s).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from tektii_core.contracts import DEFAULT_RUN_LOG_MAX_BYTES, RuntimeLimits, TektiiError
from tektii_engine.runlog import RunLog

# Arrow's allocator (mimalloc) keeps the pages it freed for a while: reading a long window
# row group by row group, that is tens of MiB of RSS the run no longer uses. Give them back
# at once, so that memory stays flat with the window's length (read before pyarrow loads).
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

TEMPLATE_IMAGE_REPOSITORY = "tektii-template"
_PARENT_POLL_S = 0.5


class _Cancelled(Exception):
    """Raised in the main thread when a cancel arrives before the backtest started."""


class Worker:
    def __init__(self, spec: dict[str, Any], out: TextIO = sys.stdout):
        self.spec = spec
        self.out = out
        self.run_dir = Path(spec["runDir"])
        self.scenario_id = spec["scenarioId"]
        self.cancel = threading.Event()
        self.backtest_started = False
        self._out_lock = threading.Lock()
        self._log = RunLog(self.run_dir / "strategy.log", int(spec.get("logMaxBytes") or DEFAULT_RUN_LOG_MAX_BYTES))
        self._phases: list[tuple[str, float]] = [("", time.monotonic())]  # where a run's time goes

    def phase(self, name: str) -> None:
        """Mark the end of a phase of the run; their durations go to worker.log at the end."""
        self._phases.append((name, time.monotonic()))

    # -- reporting ------------------------------------------------------------------------
    def emit(self, **message: Any) -> None:
        """One line to the platform; never raises (it runs inside the engine's monitor)."""
        with self._out_lock:
            try:
                self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
                self.out.flush()
            except (OSError, ValueError):
                # the platform closed the pipe: it is gone, so nobody wants this run any more
                self.cancel.set()

    def log(self, line: str) -> None:
        """One line of the strategy log (flushed at once: `scenario logs --follow` reads it;
        capped, head and tail kept: tektii_engine.runlog)."""
        self._log.write(line)

    def on_progress(self, fraction: float, rate: float, equity: float) -> None:
        from tektii_engine.config import rfc3339, to_epoch

        config = self.spec["config"]
        start, end = to_epoch(config["startTime"]), to_epoch(config["endTime"])
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.emit(
            type="progress",
            fraction=fraction,
            eventsPerSecond=round(float(rate), 1),
            equity=float(equity),
            simulatedTime=rfc3339(start + fraction * (end - start)),
        )

    # -- cancellation -----------------------------------------------------------------------
    def on_signal(self, signum: int, _frame: Any) -> None:
        self.cancel.set()
        if not self.backtest_started:
            raise _Cancelled()  # interrupts an image pull or build in the main thread

    def watch_parent(self) -> None:
        parent = os.getppid()
        while not self.cancel.is_set():
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent:
                self.log("tektii: the platform stopped; stopping the run")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        threading.Thread(target=self.watch_parent, name="parent-watch", daemon=True).start()
        try:
            try:
                result = self.backtest()
            except TektiiError as exc:
                reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
                self.log(f"tektii: {reason}")
                result = {"state": "FAILED", "reason": reason}
            # From here on a signal only sets self.cancel: the result is written whatever comes.
            self.backtest_started = True
            self.finish(result)
            self.phase("result")
            spans = zip(self._phases, self._phases[1:])
            print("tektii worker: " + ", ".join(f"{b[0]} {b[1] - a[1]:.3f} s" for a, b in spans), file=sys.stderr)
            return 0
        except _Cancelled:
            self.backtest_started = True
            self.finish({"state": "CANCELLED", "reason": "cancelled"})
            return 0
        except Exception as exc:  # noqa: BLE001 - report a crash as the run's reason
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            traceback.print_exc(file=sys.stderr)
            self.emit(type="end", state="FAILED", reason=f"internal error in the run's worker: {detail}")
            return 1
        finally:
            self._log.close()

    def backtest(self) -> dict[str, Any]:
        from tektii_core.plugins import Plugins
        from tektii_engine.data.store import CandleStore
        from tektii_engine.gateway.session import StrategyLauncher
        from tektii_engine.record import ChecksummedFeed, build_record
        from tektii_engine.run import RunLimits, run_backtest

        spec = self.spec
        runtime = Plugins(hooks=["register_runtimes"]).runtime(spec["runtime"])
        available = runtime.availability()
        if not available.ok:
            raise TektiiError(f"The {runtime.name} runtime cannot run here: {available.reason}")
        path, image = self.prepare(runtime)
        self.phase("prepare")
        limits = RuntimeLimits(**(spec.get("limits") or {}))
        # A platform's run is untrusted code on a shared machine: isolated in every runtime.
        launcher = StrategyLauncher(_MarksStart(runtime, self.phase), path=path, image=image, limits=limits,
                                    run_id=self.scenario_id, log=self.log, isolate=True)
        feed = ChecksummedFeed(CandleStore(Path(spec["marketDataDir"])).read)
        run_limits = RunLimits(wall_clock_s=spec["wallClockS"]) if "wallClockS" in spec else RunLimits()
        self.backtest_started = True
        if self.cancel.is_set():
            raise _Cancelled()
        result = run_backtest(spec["config"], feed, launcher, on_progress=self.on_progress, cancel=self.cancel, limits=run_limits)
        self.phase("run")
        data = result.to_dict()
        data.pop("log", None)  # already in strategy.log, line by line
        if result.state == "COMPLETE":
            data["metrics"] = result.metrics(risk_free_rate=float(spec["config"].get("riskFreeRate") or 0.0))
        data["reproducibility"] = build_record(spec["config"], feed, image=spec.get("image"), template=spec.get("template"))
        return data

    def prepare(self, runtime: Any) -> tuple[Path | None, str | None]:
        """What the runtime starts: (template directory, None) or (None, image reference)."""
        from tektii_engine.templates import template_dir

        image, template = self.spec.get("image"), self.spec.get("template")
        builder_name = getattr(runtime, "image_builder", None)
        if builder_name is None:  # the runtime starts a directory, not an image
            if template is None:
                raise TektiiError(f"The {runtime.name} runtime can run template versions only; this version is an image")
            return template_dir(template), None
        if image is not None:
            pull_image(image, self.spec.get("pullAuth"), self.log)
            return None, image
        if template is None:
            raise TektiiError("The run names neither an image nor a template")
        from tektii_core.plugins import Plugins

        return None, build_template_image(template, Plugins(hooks=["register_builders"]).builder(builder_name), self.log)

    def finish(self, result: dict[str, Any]) -> None:
        """Write result.json (atomically), then the final stdout line."""
        target = self.run_dir / "result.json"
        tmp = target.with_suffix(".json.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
            out.write(json.dumps(result, separators=(",", ":")))
        os.replace(tmp, target)
        self.emit(type="end", state=result["state"], reason=result.get("reason"))


class _MarksStart:
    """The run's runtime, marking the end of the "start" phase when the strategy has started."""

    def __init__(self, runtime: Any, phase: Any):
        self._runtime, self._phase = runtime, phase
        self.name, self.description = runtime.name, runtime.description

    def availability(self) -> Any:
        return self._runtime.availability()

    def start(self, launch: Any) -> Any:
        running = self._runtime.start(launch)
        self._phase("start")
        return running


def pull_image(image: str, auth: dict[str, str] | None, log: Any) -> None:
    """Pull `image` from the platform's registry unless the Docker daemon has it already."""
    import docker.errors

    from tektii_engine.docker_client import docker_client

    client = docker_client()
    try:
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        log(f"tektii: pulling {image}")
        try:
            client.images.pull(image, auth_config=dict(auth) if auth else None)
        except docker.errors.APIError as err:
            raise TektiiError(f"Could not pull the version's image {image}: {err.explanation or err}") from None
    finally:
        client.close()


def build_template_image(name: str, builder: Any, log: Any) -> str:
    """The template's image, built by `builder` once per content hash (reused while the files are
    the same and the builder's store still has it)."""
    from tektii_core.upload import TARGET_PLATFORM
    from tektii_engine.templates import template_dir, template_hash

    tag = f"{TEMPLATE_IMAGE_REPOSITORY}/{name}:{template_hash(name)[:16]}"
    find = getattr(builder, "find", None)  # optional: without it, the builder's layer cache makes a rebuild cheap
    if find is not None and find(tag) is not None:
        return tag
    log(f"tektii: building the {name} template image {tag}")
    directory = template_dir(name)
    try:
        builder.build(dockerfile=directory / "Dockerfile", context=directory, tag=tag, platform=TARGET_PLATFORM,
                      log=lambda line: None)  # the build's output is not the strategy's log
    except TektiiError as err:
        raise TektiiError(f"Could not build the {name} template image: {err.message}", hint=err.hint) from None
    return tag


def preload() -> None:
    """Import what every run needs (a spare worker does this before its run arrives)."""
    import aiohttp.web  # noqa: F401
    import docker  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import tektii_engine.data.store  # noqa: F401
    import tektii_engine.gateway.server  # noqa: F401
    import tektii_engine.gateway.session  # noqa: F401
    import tektii_engine.metrics  # noqa: F401
    import tektii_engine.runtimes.sandbox  # noqa: F401
    import tektii_engine.templates  # noqa: F401
    from tektii_core.plugins import Plugins
    from tektii_engine.runtimes import namespace

    Plugins().runtimes  # noqa: B018 - loads the plugins (entry points) once
    try:
        namespace.warm_up()
    except Exception:  # noqa: BLE001 - only a head start: a docker run finds out and says so
        pass


def spare() -> int:
    """Wait, preloaded, for a run: its spec's path comes as one line on stdin."""
    preload()
    line = sys.stdin.readline().strip()
    if not line:
        return 0  # the backend (or the platform) went away before giving a run
    spec = json.loads(Path(line).read_text(encoding="utf-8"))
    run_dir = Path(spec["runDir"])
    # From here on exactly like a worker started for this run.
    fd = os.open(run_dir / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(run_dir)
    (run_dir / "worker.pid").write_text(str(os.getpid()), encoding="utf-8")
    return Worker(spec).run()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--spare"]:
        return spare()
    if len(args) != 1:
        print("usage: python -m tektii_engine.worker RUN_SPEC_JSON_PATH | --spare", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    return Worker(spec).run()


if __name__ == "__main__":
    code = main()
    # All the run leaves is written by now. The platform waits for this process to end, and
    # tearing down an interpreter with pyarrow, docker and aiohttp loaded takes ~0.2 s: run
    # the exit handlers (e.g. the sandbox's), flush, and end without that teardown.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

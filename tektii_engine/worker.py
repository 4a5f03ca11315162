"""One scenario run in its own process: ``python -m tektii_engine.worker -`` reads the run's
RunSpec as JSON (``tektii_core.models.run_spec_to_json``, one line) from stdin.

``python -m tektii_engine.worker --spare`` is a worker started ahead of its run (the local
backend keeps one ready): it imports what every run needs, then reads the spec line from stdin
and runs it like a worker started for it. End of input without a line ends it.

An execution backend (tektii_plugins.execution.local, .ray) starts one worker per run,
wherever it executes: the spec holds no local path, only the platform's URL and the run's
token (tektii_engine.platform_link). The worker prepares the strategy (pulls the version's image
with the spec's pull credentials, or builds a template's image with the runtime's
``image_builder`` plugin, or points a runtime without one, the process runtime, at the template's
directory), runs ``run_backtest`` on the window's candles fetched from the platform, and reports:

* to the platform: progress about twice a second, the strategy's stdout/stderr lines (and the
  worker's own ``tektii: ...`` lines about preparing the run) in batches as they come, and once
  the run has ended (COMPLETE, FAILED or CANCELLED) the result: ``BacktestResult.to_dict()``
  without the log, plus ``metrics`` and ``reproducibility`` (tektii_engine.record);
* stdout: one line ``{"type": "end", "state", "reason"}`` last, after the result was sent.

SIGTERM (or SIGINT) cancels: the engine stops the strategy (containers are removed) and the
run ends CANCELLED. The worker also cancels itself when its parent (the platform's backend)
dies, so that a killed platform leaves no strategy running. It runs in a private temporary
directory of its own, removed when it ends.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from tektii_core.contracts import RunSpec, TektiiError
from tektii_engine.platform_link import PlatformLink

# Arrow's allocator (mimalloc) keeps the pages it freed for a while: reading a long window
# row group by row group, that is tens of MiB of RSS the run no longer uses. Give them back
# at once, so that memory stays flat with the window's length (read before pyarrow loads).
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

TEMPLATE_IMAGE_REPOSITORY = "tektii-template"
_PARENT_POLL_S = 0.5


class _Cancelled(Exception):
    """Raised in the main thread when a cancel arrives before the backtest started."""


class Worker:
    def __init__(self, spec: RunSpec, out: TextIO = sys.stdout):
        self.spec = spec
        self.out = out
        self.scenario_id = spec.scenario_id
        self.config: Any = None  # the spec's ScenarioConfig, validated when the run starts
        self.cancel = threading.Event()
        self.backtest_started = False
        self._out_lock = threading.Lock()
        self.platform = PlatformLink(spec.platform_url, spec.run_token, spec.scenario_id)
        self._phases: list[tuple[str, float]] = [("", time.monotonic())]  # where a run's time goes

    def phase(self, name: str) -> None:
        """Mark the end of a phase of the run; their durations go to the worker's stderr at the end."""
        self._phases.append((name, time.monotonic()))

    # -- reporting ------------------------------------------------------------------------
    def emit(self, **message: Any) -> None:
        """One line to the backend; never raises."""
        with self._out_lock:
            try:
                self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
                self.out.flush()
            except (OSError, ValueError):
                # the backend closed the pipe: it is gone, so nobody wants this run any more
                self.cancel.set()

    def log(self, line: str) -> None:
        """One line of the strategy log, to the platform (which caps what it stores: tektii_engine.runlog)."""
        self.platform.log(line)

    def on_progress(self, fraction: float, rate: float, equity: float) -> None:
        from tektii_core.timeutil import format_time

        start, end = self.config.start, self.config.end
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.platform.progress({
            "fraction": fraction,
            "eventsPerSecond": round(float(rate), 1),
            "equity": float(equity),
            "simulatedTime": format_time(start + fraction * (end - start)),
        })

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
            self.platform.close()
            self.emit(type="end", state="FAILED", reason=f"internal error in the run's worker: {detail}")
            return 1

    def backtest(self) -> dict[str, Any]:
        from tektii_core.plugins import Plugins
        from tektii_core.scenario_config.validate import config_from_json
        from tektii_engine.gateway.session import StrategyLauncher
        from tektii_engine.record import ChecksummedFeed, build_record
        from tektii_engine.run import RunLimits, run_backtest

        spec = self.spec
        runtime = Plugins(hooks=["register_runtimes"]).runtime(spec.runtime)
        available = runtime.availability()
        if not available.ok:
            raise TektiiError(f"The {runtime.name} runtime cannot run here: {available.reason}")
        path, image = self.prepare(runtime)
        self.phase("prepare")
        # A platform's run is untrusted code on a shared machine: isolated in every runtime.
        launcher = StrategyLauncher(_MarksStart(runtime, self.phase), path=path, image=image, limits=spec.limits,
                                    run_id=self.scenario_id, log=self.log, isolate=True)
        feed = ChecksummedFeed(self.platform.candles)
        run_limits = RunLimits(wall_clock_s=spec.wall_clock_s) if spec.wall_clock_s is not None else RunLimits()
        self.config = config_from_json(spec.config)  # TektiiError: the run FAILS with every problem
        self.backtest_started = True
        if self.cancel.is_set():
            raise _Cancelled()
        result = run_backtest(self.config, feed, launcher, on_progress=self.on_progress, cancel=self.cancel,
                              limits=run_limits)
        self.phase("run")
        data = result.to_dict()
        data.pop("log", None)  # already sent, line by line
        if result.state == "COMPLETE":
            data["metrics"] = result.metrics(risk_free_rate=float(self.config.risk_free_rate))
        # the hash of the config as stored, so a rerun of the same row compares equal
        data["reproducibility"] = build_record(dict(spec.config), feed, image=spec.image, template=spec.template)
        return data

    def prepare(self, runtime: Any) -> tuple[Path | None, str | None]:
        """What the runtime starts: (template directory, None) or (None, image reference)."""
        from tektii_engine.templates import template_dir

        image, template = self.spec.image, self.spec.template
        builder_name = getattr(runtime, "image_builder", None)
        if builder_name is None:  # the runtime starts a directory, not an image
            if template is None:
                raise TektiiError(f"The {runtime.name} runtime can run template versions only; this version is an image")
            return template_dir(template), None
        if image is not None:
            pull_image(image, dict(self.spec.pull_auth) if self.spec.pull_auth else None, self.log)
            return None, image
        if template is None:
            raise TektiiError("The run names neither an image nor a template")
        from tektii_core.plugins import Plugins

        return None, build_template_image(template, Plugins(hooks=["register_builders"]).builder(builder_name), self.log)

    def finish(self, result: dict[str, Any]) -> None:
        """Send the result (after the last log lines), then the final stdout line."""
        try:
            self.platform.put_result(json.dumps(result, separators=(",", ":")).encode("utf-8"))
        except TektiiError as exc:
            print(f"tektii: {exc.message}", file=sys.stderr)
            self.emit(type="end", state="FAILED", reason=exc.message)
            return
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


def read_spec(stream: TextIO) -> RunSpec | None:
    """The RunSpec on one line of `stream`; None at end of input."""
    from tektii_core.models import run_spec_from_json

    line = stream.readline().strip()
    return run_spec_from_json(json.loads(line)) if line else None


def run(spec: RunSpec) -> int:
    """Run `spec` in a private working directory of its own."""
    work = tempfile.mkdtemp(prefix=f"tektii-{spec.scenario_id}-")
    os.chdir(work)
    try:
        return Worker(spec).run()
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--spare"]:
        preload()
    elif args != ["-"]:
        print("usage: python -m tektii_engine.worker - | --spare  (the run's spec as JSON on stdin)", file=sys.stderr)
        return 2
    spec = read_spec(sys.stdin)
    if spec is None:
        return 0  # the backend (or the platform) went away before giving a run
    return run(spec)


if __name__ == "__main__":
    code = main()
    # All the run leaves is written by now. The platform waits for this process to end, and
    # tearing down an interpreter with pyarrow, docker and aiohttp loaded takes ~0.2 s: run
    # the exit handlers (e.g. the sandbox's), flush, and end without that teardown.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

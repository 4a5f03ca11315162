"""The run scheduler: a persistent queue in the database and a bounded number of concurrent runs.

The queue is the ``scenarios`` table itself: PENDING rows start in created order as run
slots free up: ``TEKTII_MAX_CONCURRENT_RUNS`` (default 2), or, for a backend that knows its
capacity (``room()``, e.g. ``ray``), when the backend has room for the oldest. Each run goes to the execution
backend named by ``TEKTII_EXECUTION_BACKEND`` (default ``local``: a worker process per run);
one scheduler thread starts runs, polls their handles, writes progress and outcomes to the
database, and passes on cancel requests (the API sets ``cancel_requested``).

Restart safety: only one process schedules a data directory (an exclusive lock on
``runs/scheduler.lock``, released by the OS when the process dies, even on SIGKILL). The
process that takes the lock first marks every run still RUNNING as FAILED with the reason
``The platform stopped during the run`` (after asking the backend to release what it left),
then starts the PENDING ones; a backend that can (``reattach()``, e.g. ``ray``) finds such a
run again instead, and the scheduler supervises it as before. Nothing stays RUNNING forever.
A graceful stop ends the running runs the same way.

A run whose backend reports it FAILED ``retryable`` (its node was lost) starts again, with a new
run token, when the scenario's ``retries`` allows (docs/execution-backends.md).

Several API processes on one PostgreSQL database (each with its own data directory) each run a
scheduler: a claim takes the oldest PENDING row no other claim holds (FOR UPDATE SKIP LOCKED,
store.scenarios.claim_next), so each run starts exactly once; a run records its scheduler's id
(``runs/scheduler-id``, stable across restarts of that data directory), and recovery fails only
its own scheduler's leftovers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from tektii_core.contracts import RunHandle, RunStatus, RuntimeLimits, TektiiError

from . import run_tokens
from .execution import RuntimeChooser, build_run_spec, platform_url_known, read_result, run_dir, wall_clock_from_env
from .http import AppContext
from .ids import now_db
from .run_files import run_files
from .store import scenarios

log = logging.getLogger(__name__)

MAX_CONCURRENT_ENV = "TEKTII_MAX_CONCURRENT_RUNS"
BACKEND_ENV = "TEKTII_EXECUTION_BACKEND"
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_BACKEND = "local"
PLATFORM_STOPPED = "The platform stopped during the run"
NOT_FOUND_AGAIN = "; it was not found again on the execution backend"
ROOM_RECHECK_S = 0.5  # a backend without room is asked again this often (or when a run ends)
POLL_INTERVAL_S = 0.2
ACTIVE_POLL_INTERVAL_S = 0.05  # while runs go on: a finished run is recorded promptly
PROGRESS_WRITE_INTERVAL_S = 0.5
STOP_GRACE_S = 15.0


def max_concurrent_from_env() -> int:
    text = os.environ.get(MAX_CONCURRENT_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_CONCURRENT
    if not text.isdigit() or int(text) < 1:
        raise TektiiError(f"{MAX_CONCURRENT_ENV} must be a whole number of at least 1, got {text!r}")
    return int(text)


@attrs.define
class _Running:
    handle: RunHandle
    row: Any = None  # the scenario's row, for a start again
    attempt: int = 1
    cancel_sent: bool = False
    last_progress: Any = None
    progress_written_at: float = 0.0


class Scheduler:
    """Starts, supervises and finishes the scenario runs of one data directory."""

    def __init__(self, ctx: AppContext, backend: Any, runtimes: dict[str, Any], max_concurrent: int):
        self.ctx = ctx
        self.db = ctx.db
        self.backend = backend
        self.max_concurrent = max_concurrent
        self.chooser = RuntimeChooser(runtimes, ctx)
        self.running: dict[str, _Running] = {}
        self._wake = threading.Event()
        self._changes = threading.Condition()
        self._generation = 0  # counts recorded changes of scenarios (state, progress)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: Any = None
        self.scheduler_id = ""  # set with the data directory's lock
        self._room_full_at: float | None = None  # when the backend last had no room

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> bool:
        """Take the data directory's scheduler lock, recover, and start the thread.
        False (and nothing started) when another live process schedules this directory."""
        if not self._take_lock():
            log.warning("another platform process schedules runs in %s; this one only serves", self.ctx.data_dir)
            return False
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="tektii-scheduler", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the running runs (FAILED, "The platform stopped during the run") and the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_S + 10)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def capacity(self) -> int:
        """How many runs may go at once: the backend's own count (a cluster's), else
        TEKTII_MAX_CONCURRENT_RUNS."""
        counted = getattr(self.backend, "capacity", None)
        if counted is not None:
            try:
                return max(1, int(counted()))
            except Exception:  # noqa: BLE001 - a cluster that does not answer now: the setting
                log.warning("the %s backend could not say its capacity", self.backend.name, exc_info=True)
        return self.max_concurrent

    def wake(self) -> None:
        """Look at the queue now (a scenario was created or a cancel requested)."""
        self._wake.set()

    def changes(self) -> int:
        """A counter of the changes this scheduler recorded; see wait_for_change."""
        return self._generation

    def wait_for_change(self, seen: int, timeout: float) -> None:
        """Block until a change after `seen` (a changes() value) is recorded, or `timeout`."""
        with self._changes:
            self._changes.wait_for(lambda: self._generation != seen, timeout)

    def changed(self) -> None:
        with self._changes:
            self._generation += 1
            self._changes.notify_all()

    def _take_lock(self) -> bool:
        import fcntl

        path = Path(self.ctx.data_dir) / "runs" / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held for the life of the scheduler
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        self.scheduler_id = _scheduler_id(path.parent / "scheduler-id")
        return True

    # -- recovery --------------------------------------------------------------------------
    def recover(self) -> None:
        """Runs left RUNNING by a platform that died: found again (a backend that can reattach),
        else their leftovers released and the run marked FAILED."""
        reattach = getattr(self.backend, "reattach", None)
        for row in scenarios.left_running(self.db, self.scheduler_id):
            handle = None
            if reattach is not None and row["handle"]:
                try:
                    handle = reattach(row["id"], row["handle"])
                except Exception:  # noqa: BLE001 - not found again: it is failed below
                    log.exception("could not look for run %s on the backend", row["id"])
            if handle is not None:
                self.running[row["id"]] = _Running(handle, row, getattr(handle, "attempt", 1))
                log.info("run %s found again after the platform's restart (%s)", row["id"], handle.ident)
                continue
            try:
                self.backend.abandon(row["id"], run_dir(self.ctx.data_dir, row["id"]), row["handle"])
            except Exception:  # noqa: BLE001 - the row must not stay RUNNING whatever happens
                log.exception("could not release what run %s left behind", row["id"])
            reason = PLATFORM_STOPPED + (NOT_FOUND_AGAIN if reattach is not None else "")
            self._finish(row["id"], RunStatus("FAILED", None, reason))
            log.warning("run %s was RUNNING when the platform stopped: marked FAILED", row["id"])

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - keep scheduling; the error is in the log
                log.exception("scheduler tick failed")
            self._wake.wait(ACTIVE_POLL_INTERVAL_S if self.running else POLL_INTERVAL_S)
            self._wake.clear()
        self._shutdown()

    def _tick(self) -> None:
        self._supervise()
        if not platform_url_known(self.ctx):
            return  # the socket is not bound yet: a run could not reach the platform
        has_room = getattr(self.backend, "room", None)
        if has_room is None:
            while len(self.running) < self.max_concurrent and not self._stopping.is_set():
                row = self._claim()
                if row is None:
                    break
                self._launch(row)
            return
        # the backend's capacity, not TEKTII_MAX_CONCURRENT_RUNS: the oldest starts when it fits
        if self._room_full_at is not None and time.monotonic() - self._room_full_at < ROOM_RECHECK_S:
            return
        self._room_full_at = None
        room: list[Any] = []  # asked for once a tick, when a scenario is queued

        def fits(row: Any) -> bool:
            try:
                if not room:
                    room.append(has_room())
                if room[0].take(self._runtime_of(row), RuntimeLimits()):
                    return True
            except Exception:  # noqa: BLE001 - the cluster does not answer now: the queue waits
                log.warning("the %s backend could not say whether it has room", self.backend.name, exc_info=True)
            self._room_full_at = time.monotonic()
            return False

        while not self._stopping.is_set():
            row = self._claim(fits)
            if row is None:
                break
            self._launch(row)

    def _runtime_of(self, row: Any) -> str:
        """The runtime a queued run will use (what it asks of the backend)."""
        from .store import versions

        version = versions.get(self.db, row["version_id"])
        try:
            return self.chooser.choose(version) if version is not None else "process"
        except TektiiError:
            return "process"  # it cannot start: claimed, it fails with the reason

    def _claim(self, fits: Any = None) -> Any:
        """The oldest PENDING scenario, now RUNNING (atomically: a cancel cannot slip in)."""
        row = scenarios.claim_next(self.db, self.backend.name, now_db(), self.scheduler_id, fits)
        if row is None:
            return None
        self.changed()
        return row

    def _launch(self, row: Any) -> None:
        try:
            spec = build_run_spec(self.ctx, row, self.chooser)
            handle = self.backend.start(spec)
        except TektiiError as exc:
            reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
            self._finish(row["id"], RunStatus("FAILED", None, reason))
            return
        except Exception as exc:  # noqa: BLE001 - a run that cannot start fails, the queue goes on
            log.exception("could not start run %s", row["id"])
            self._finish(row["id"], RunStatus("FAILED", None, f"The run could not be started: {exc}"))
            return
        scenarios.set_started(self.db, row["id"], spec.runtime, handle.ident, now_db())
        self.running[row["id"]] = _Running(handle, row)
        log.info("run %s started (%s runtime, %s)", row["id"], spec.runtime, handle.ident)

    def _supervise(self) -> None:
        if not self.running:
            return
        wanted = scenarios.cancel_requested(self.db, list(self.running))
        for scenario_id, run in list(self.running.items()):
            if scenario_id in wanted and not run.cancel_sent:
                run.cancel_sent = True
                run.handle.cancel()
            status = run.handle.poll()
            if status.finished and status.retryable and not run.cancel_sent and self._retry(scenario_id, run, status):
                continue
            if status.finished:
                del self.running[scenario_id]
                self._room_full_at = None  # room again, maybe
                if run.cancel_sent and status.state == "FAILED":
                    status = RunStatus("CANCELLED", status.progress, "cancelled")
                self._finish(scenario_id, status, node=getattr(run.handle, "node", None))
            elif status.progress is not None and status.progress != run.last_progress:
                now = time.monotonic()
                if now - run.progress_written_at >= PROGRESS_WRITE_INTERVAL_S:
                    run.last_progress, run.progress_written_at = status.progress, now
                    scenarios.set_progress(self.db, scenario_id, status.progress.to_api(), now_db())
                    self.changed()

    def _retry(self, scenario_id: str, run: _Running, status: RunStatus) -> bool:
        """Start a run whose node was lost again, when its scenario allows: a new token (the old
        run's worker can post nothing more), its result so far dropped, a line in its log."""
        allowed = json.loads(run.row["config"]).get("retries", 0) if run.row is not None else 0
        if run.attempt > allowed or self._stopping.is_set():
            return False
        attempt = run.attempt + 1
        run_tokens.revoke(self.db, scenario_id)
        (run_dir(self.ctx.data_dir, scenario_id) / "result.json").unlink(missing_ok=True)
        run_files(self.ctx).append_log(
            scenario_id, [f"tektii: {status.reason}; starting the run again (attempt {attempt} of {allowed + 1})"])
        try:
            spec = build_run_spec(self.ctx, run.row, self.chooser, attempt)
            handle = self.backend.start(spec)
        except Exception as exc:  # noqa: BLE001 - it ends FAILED with the first reason
            log.warning("run %s could not start again: %s", scenario_id, exc)
            return False
        scenarios.set_started(self.db, scenario_id, spec.runtime, handle.ident, now_db())
        self.running[scenario_id] = _Running(handle, run.row, attempt)
        log.warning("run %s: %s; started again (%s)", scenario_id, status.reason, handle.ident)
        return True

    def _finish(self, scenario_id: str, status: RunStatus, node: str | None = None) -> None:
        """Record how a run ended; a COMPLETE run's metrics and counters come from its result.
        The run's token is worthless from here on (it is also bound to the RUNNING state)."""
        run_tokens.revoke(self.db, scenario_id)
        run_files(self.ctx).close_log(scenario_id)  # a worker that died posted no result
        state, reason = status.state, status.reason
        metrics = counters = record = None
        # Progress the worker posted (api/runs.py) is in the store; a backend may report its own.
        progress = status.progress.to_api() if status.progress is not None else scenarios.progress(self.db, scenario_id)
        if state == "COMPLETE":
            result = read_result(run_dir(self.ctx.data_dir, scenario_id))
            if result is None or result.get("state") != "COMPLETE":
                state, reason = "FAILED", "The run ended without a readable result"
            else:
                metrics = json.dumps(result.get("metrics") or {})
                counters = json.dumps(result.get("counters") or {})
                record = json.dumps(result["reproducibility"]) if result.get("reproducibility") else None
                progress = {
                    **(progress or {}),
                    "fraction": 1.0,
                    "equity": result.get("finalEquity"),
                    "simulatedTime": result.get("config", {}).get("endTime"),
                }
                progress.setdefault("eventsPerSecond", 0.0)
        if state == "CANCELLED":
            reason = None
        scenarios.finish(self.db, scenario_id, state, reason=reason, metrics=metrics, counters=counters,
                         progress=progress, reproducibility=record, node=node, now=now_db())
        self.changed()
        log.info("run %s ended %s%s", scenario_id, state, f": {reason.splitlines()[0]}" if reason else "")

    def _shutdown(self) -> None:
        """The platform is stopping: stop every run, record it as stopped by the platform."""
        for run in self.running.values():
            run.handle.cancel()
        deadline = time.monotonic() + STOP_GRACE_S
        while self.running and time.monotonic() < deadline:
            for scenario_id, run in list(self.running.items()):
                if run.handle.poll().finished:
                    del self.running[scenario_id]
                    self._finish(scenario_id, RunStatus("FAILED", None, PLATFORM_STOPPED))
            time.sleep(0.1)
        for scenario_id in list(self.running):
            # still going after the grace period: the next start releases it (recover())
            log.warning("run %s did not stop within %.0f s", scenario_id, STOP_GRACE_S)


def _scheduler_id(path: Path) -> str:
    """This data directory's scheduler id (made once; the caller holds the scheduler lock)."""
    from .ids import new_id

    try:
        return path.read_text().strip()
    except FileNotFoundError:
        ident = new_id("sched")
        path.write_text(ident + "\n")
        return ident


def wake_scheduler(ctx: AppContext) -> None:
    """Look at the run queue now (this process schedules runs when it has the scheduler)."""
    scheduler = ctx.extras.get("scheduler")
    if scheduler is not None:
        scheduler.wake()


def configured_backend(plugins: Any = None) -> Any:
    """The execution backend TEKTII_EXECUTION_BACKEND names (default local)."""
    from tektii_core.plugins import Plugins

    plugins = plugins or Plugins(hooks=["register_execution_backends"])
    return plugins.execution_backend(os.environ.get(BACKEND_ENV, "").strip() or DEFAULT_BACKEND)


def start_scheduler(ctx: AppContext) -> Scheduler | None:
    """The scheduler of this platform process, started; None when another process has it."""
    from tektii_core.plugins import Plugins

    plugins = Plugins(hooks=["register_execution_backends", "register_runtimes"])
    backend = configured_backend(plugins)
    available = backend.availability()
    if not available.ok:
        raise TektiiError(f"The execution backend {backend.name!r} cannot run here: {available.reason}")
    wall_clock_from_env()  # a bad setting stops the platform's start, not each run
    scheduler = Scheduler(ctx, backend, plugins.runtimes, max_concurrent_from_env())
    if not scheduler.start():
        return None
    return scheduler

"""The ``local`` execution backend: each run is a worker process on this machine.

``start()`` writes the run's spec to ``<run dir>/run.json`` (0600: it holds pull
credentials) and hands it to a worker process in a session of its own: the spare one kept
ready (``python -m tektii_engine.worker --spare``, its imports done; it gets the spec's path
on stdin), else a new ``python -m tektii_engine.worker <run dir>/run.json``. A new spare is
started after each run starts, so short runs do not pay the worker's start-up. A reader
thread turns the worker's JSON stdout lines into RunStatus; its stderr goes to
``<run dir>/worker.log``. How many run at once is the scheduler's business
(``TEKTII_MAX_CONCURRENT_RUNS``), not this module's.

Cancelling sends SIGTERM to the worker, which stops the strategy (removing its containers)
and writes a CANCELLED result; a worker that has not ended after CANCEL_GRACE_S is killed
with its process group, and containers labelled with the run id are removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from tektii_core import hookimpl
from tektii_core.contracts import Availability, RunProgress, RunSpec, RunStatus, TektiiError

CANCEL_GRACE_S = 20.0
ABANDON_GRACE_S = 10.0
WORKER_MODULE = "tektii_engine.worker"
_STDERR_TAIL_LINES = 15


def spec_json(run: RunSpec) -> dict[str, Any]:
    """The worker's spec file (see tektii_engine.worker)."""
    spec = {
        "scenarioId": run.scenario_id,
        "config": dict(run.config),
        "runDir": str(run.run_dir),
        "marketDataDir": str(run.market_data_dir),
        "runtime": run.runtime,
        "image": run.image,
        "template": run.template,
        "pullAuth": dict(run.pull_auth) if run.pull_auth else None,
        "limits": attrs.asdict(run.limits),
        "logMaxBytes": run.log_max_bytes,
    }
    if run.wall_clock_s is not None:
        spec["wallClockS"] = run.wall_clock_s
    return spec


def worker_messages(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The worker's JSON stdout lines (tektii_engine.worker), skipping anything else."""
    for raw in lines:
        try:
            message = json.loads(raw)
        except ValueError:
            continue  # not one of ours (a library printing to stdout)
        if isinstance(message, dict):
            yield message


def progress_of(message: dict[str, Any]) -> RunProgress:
    """A worker's {"type": "progress", ...} line as RunProgress."""
    return RunProgress(
        fraction=float(message.get("fraction") or 0.0),
        events_per_second=float(message.get("eventsPerSecond") or 0.0),
        equity=float(message.get("equity") or 0.0),
        simulated_time=message.get("simulatedTime"),
    )


class WorkerHandle:
    """A running worker process (RunHandle)."""

    def __init__(self, proc: subprocess.Popen, run_dir: Path):
        self._proc = proc
        self._run_dir = run_dir
        self.ident = f"pid:{proc.pid}"
        self._lock = threading.Lock()
        self._progress: RunProgress | None = None
        self._end: dict[str, Any] | None = None
        self._cancelled = False
        self._killer: threading.Timer | None = None
        self._reader = threading.Thread(target=self._read, name=f"worker-{proc.pid}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for message in worker_messages(self._proc.stdout):
            with self._lock:
                if message.get("type") == "progress":
                    self._progress = progress_of(message)
                elif message.get("type") == "end":
                    self._end = message
        self._proc.stdout.close()

    def poll(self) -> RunStatus:
        code = self._proc.poll()
        if code is None:
            with self._lock:
                return RunStatus("RUNNING", self._progress)
        self._reader.join(timeout=5)
        if self._killer is not None:
            self._killer.cancel()
        with self._lock:
            end, progress = self._end, self._progress
        if end is not None and end.get("state") in ("COMPLETE", "FAILED", "CANCELLED"):
            return RunStatus(end["state"], progress, end.get("reason"))
        if self._cancelled:
            return RunStatus("CANCELLED", progress, "cancelled")
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = log_tail(self._run_dir / "worker.log")
        return RunStatus("FAILED", progress, f"The run's worker process {how}" + (f":\n{tail}" if tail else ""))

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
        if self._proc.poll() is not None:
            return
        try:
            os.kill(self._proc.pid, signal.SIGTERM)  # the worker stops the strategy itself
        except ProcessLookupError:
            return
        self._killer = threading.Timer(CANCEL_GRACE_S, self._force_stop)
        self._killer.daemon = True
        self._killer.start()

    def _force_stop(self) -> None:
        if self._proc.poll() is None:
            kill_group(self._proc.pid)
            self._proc.wait()
        remove_containers(self._run_dir.name)


def log_tail(path: Path, lines: int = _STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def remove_containers(run_id: str) -> None:
    """Remove the docker runtime's containers of a run (nothing when Docker is absent)."""
    try:
        from tektii_engine.runtimes.sandbox import remove_run_containers

        remove_run_containers(run_id)
    except TektiiError:
        pass  # no Docker daemon: the run cannot have containers
    except Exception:  # noqa: BLE001 - cleanup is best effort; the caller goes on
        pass


def _is_our_worker(pid: int, scenario_id: str, run_dir: Path | None = None) -> bool:
    """Whether `pid` is still the worker of this run (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if WORKER_MODULE.encode() not in cmdline:
        return False
    if any(scenario_id.encode() in part for part in cmdline):
        return True
    # A spare worker names its run in <run dir>/worker.pid instead.
    try:
        return run_dir is not None and (run_dir / "worker.pid").read_text().strip() == str(pid)
    except OSError:
        return False


class LocalBackend:
    name = "local"
    description = "Runs each scenario in its own worker process on this machine"

    def __init__(self) -> None:
        self._spare: subprocess.Popen | None = None
        self._spare_lock = threading.Lock()

    def availability(self) -> Availability:
        return Availability(True)

    def start(self, run: RunSpec) -> WorkerHandle:
        run_dir = Path(run.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        spec_path = run_dir / "run.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(spec_json(run), out)
        proc = self._hand_to_spare(spec_path)
        if proc is None:
            with os.fdopen(os.open(run_dir / "worker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as stderr:
                proc = _spawn([str(spec_path)], stdin=subprocess.DEVNULL, stderr=stderr, cwd=run_dir)
        threading.Thread(target=self._refill, args=(run_dir.parent,), name="tektii-spare-worker", daemon=True).start()
        return WorkerHandle(proc, run_dir)

    def _hand_to_spare(self, spec_path: Path) -> subprocess.Popen | None:
        with self._spare_lock:
            proc, self._spare = self._spare, None
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return None
        try:
            proc.stdin.write(f"{spec_path}\n".encode())
            proc.stdin.close()
        except OSError:
            proc.kill()
            proc.wait()
            return None
        return proc

    def _refill(self, runs_dir: Path) -> None:
        with self._spare_lock:
            if self._spare is not None:
                return
            try:
                with open(runs_dir / "spare-worker.log", "ab") as stderr:
                    self._spare = _spawn(["--spare"], stdin=subprocess.PIPE, stderr=stderr, cwd=runs_dir)
            except TektiiError:
                pass  # the next run starts a worker of its own

    def abandon(self, scenario_id: str, run_dir: Path, ident: str | None) -> None:
        if ident and ident.startswith("pid:") and ident[4:].isdigit():
            pid = int(ident[4:])
            if _is_our_worker(pid, scenario_id, run_dir):
                # Politely first: the worker then stops its strategy and removes containers.
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + ABANDON_GRACE_S
                while _is_our_worker(pid, scenario_id, run_dir) and time.monotonic() < deadline:
                    time.sleep(0.1)
                kill_group(pid)
        remove_containers(scenario_id)


def _spawn(args: list[str], *, stdin: Any, stderr: Any, cwd: Path) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            start_new_session=True,  # its own process group: killed as a whole if need be
        )
    except OSError as exc:
        raise TektiiError(f"Could not start the run's worker process: {exc}") from exc


@hookimpl(trylast=True)
def register_execution_backends(register) -> None:
    register(LocalBackend())

"""The ``local`` execution backend: each run is a worker process on this machine.

``start()`` hands the run's spec (``tektii_core.models.run_spec_to_json``, one JSON line on
stdin: no file holds its token or pull credentials) to a worker process in a session of its
own: the spare one kept ready (``python -m tektii_engine.worker --spare``, its imports done),
else a new ``python -m tektii_engine.worker -``. A new spare is started after each run starts,
so short runs do not pay the worker's start-up. The worker talks to the platform over HTTP like
a worker on any node (tektii_engine.worker); its stdout's last line says how it ended, its
stderr goes to the platform's log (logger ``tektii.worker``) and its last lines into the reason
of a worker that died. How many run at once is the scheduler's business
(``TEKTII_MAX_CONCURRENT_RUNS``), not this module's.

Cancelling sends SIGTERM to the worker, which stops the strategy (removing its containers)
and sends a CANCELLED result; a worker that has not ended after CANCEL_GRACE_S is killed
with its process group, and containers labelled with the run id are removed.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tektii_core import hookimpl
from tektii_core.contracts import Availability, RunSpec, RunStatus, TektiiError

CANCEL_GRACE_S = 20.0
ABANDON_GRACE_S = 10.0
WORKER_MODULE = "tektii_engine.worker"
STDERR_TAIL_LINES = 15
worker_log = logging.getLogger("tektii.worker")


def spec_line(run: RunSpec) -> bytes:
    """The worker's stdin: the spec as one JSON line (see tektii_engine.worker)."""
    from tektii_core.models import run_spec_to_json

    return json.dumps(run_spec_to_json(run), separators=(",", ":")).encode() + b"\n"


def worker_messages(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The worker's JSON stdout lines (tektii_engine.worker), skipping anything else."""
    for raw in lines:
        try:
            message = json.loads(raw)
        except ValueError:
            continue  # not one of ours (a library printing to stdout)
        if isinstance(message, dict):
            yield message


class StderrTail:
    """A worker's stderr: each line to the platform's log, the last ones kept for a reason."""

    def __init__(self, stream: Any, pid: int, lines: int = STDERR_TAIL_LINES):
        self._stream = stream
        self._pid = pid
        self.run_id = ""  # which run the worker has (a spare gets one later)
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._read, name=f"worker-err-{pid}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._stream:
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            worker_log.info("%s (pid %d): %s", self.run_id or "spare worker", self._pid, line)
        self._stream.close()

    def text(self) -> str:
        self._thread.join(timeout=2)
        return "\n".join(self._lines).strip()


class WorkerHandle:
    """A running worker process (RunHandle)."""

    node = socket.gethostname()  # where the run executes: this machine

    def __init__(self, proc: subprocess.Popen, stderr: StderrTail, run_id: str):
        self._proc = proc
        self._stderr = stderr
        self._run_id = run_id
        stderr.run_id = run_id
        self.ident = f"pid:{proc.pid}:{_start_time(proc.pid)}"
        self._lock = threading.Lock()
        self._end: dict[str, Any] | None = None
        self._cancelled = False
        self._killer: threading.Timer | None = None
        self._reader = threading.Thread(target=self._read, name=f"worker-{proc.pid}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for message in worker_messages(self._proc.stdout):
            if message.get("type") == "end":
                with self._lock:
                    self._end = message
        self._proc.stdout.close()

    def poll(self) -> RunStatus:
        code = self._proc.poll()
        if code is None:
            return RunStatus("RUNNING")  # progress: the worker posts it to the platform
        self._reader.join(timeout=5)
        if self._killer is not None:
            self._killer.cancel()
        with self._lock:
            end = self._end
        if end is not None and end.get("state") in ("COMPLETE", "FAILED", "CANCELLED"):
            return RunStatus(end["state"], None, end.get("reason"))
        if self._cancelled:
            return RunStatus("CANCELLED", None, "cancelled")
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = self._stderr.text()
        return RunStatus("FAILED", None, f"The run's worker process {how}" + (f":\n{tail}" if tail else ""))

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
        remove_containers(self._run_id)


def _start_time(pid: int) -> str:
    """The process's start time (clock ticks since boot): with the pid, it names one process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


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


def _is_our_worker(ident: str) -> int | None:
    """The pid of the worker `ident` ("pid:PID:START") names while that very process lives
    (pids are reused: its start time must match too), else None."""
    _, pid_text, start = (ident.split(":") + ["", ""])[:3]
    if not pid_text.isdigit() or not start.isdigit():
        return None
    pid = int(pid_text)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if WORKER_MODULE.encode() in cmdline and _start_time(pid) == start else None


class LocalBackend:
    name = "local"
    description = "Runs each scenario in its own worker process on this machine"

    def __init__(self) -> None:
        self._spare: tuple[subprocess.Popen, StderrTail] | None = None
        self._spare_lock = threading.Lock()

    def availability(self) -> Availability:
        return Availability(True)

    def start(self, run: RunSpec) -> WorkerHandle:
        line = spec_line(run)
        spare = self._hand_to_spare(line)
        if spare is not None:
            proc, stderr = spare
        else:
            proc, stderr = _spawn(["-"])
            try:
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.close()
            except OSError as exc:
                kill_group(proc.pid)
                raise TektiiError(f"Could not hand the run to its worker process: {exc}") from None
        threading.Thread(target=self._refill, name="tektii-spare-worker", daemon=True).start()
        return WorkerHandle(proc, stderr, run.scenario_id)

    def _hand_to_spare(self, line: bytes) -> tuple[subprocess.Popen, StderrTail] | None:
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        proc = spare[0]
        if proc.stdin is None or proc.poll() is not None:
            return None
        try:
            proc.stdin.write(line)
            proc.stdin.close()
        except OSError:
            proc.kill()
            proc.wait()
            return None
        return spare

    def _refill(self) -> None:
        with self._spare_lock:
            if self._spare is not None:
                return
            try:
                self._spare = _spawn(["--spare"])
            except TektiiError:
                pass  # the next run starts a worker of its own

    def abandon(self, scenario_id: str, run_dir: Path, ident: str | None) -> None:
        pid = _is_our_worker(ident) if ident and ident.startswith("pid:") else None
        if pid is not None:
            # Politely first: the worker then stops its strategy and removes containers.
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + ABANDON_GRACE_S
            while _is_our_worker(ident) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            kill_group(pid)
        remove_containers(scenario_id)


def _spawn(args: list[str]) -> tuple[subprocess.Popen, StderrTail]:
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",
            start_new_session=True,  # its own process group: killed as a whole if need be
        )
    except OSError as exc:
        raise TektiiError(f"Could not start the run's worker process: {exc}") from exc
    assert proc.stderr is not None
    return proc, StderrTail(proc.stderr, proc.pid)


@hookimpl(trylast=True)
def register_execution_backends(register) -> None:
    register(LocalBackend())

"""What the ``ray`` execution backend runs on a node: one ``RunActor`` per run.

A run is a named *detached* actor (``tektii-run-<scenario id>-<attempt>`` in the namespace
``tektii``), not a plain task: a detached actor outlives the driver that made it, so a platform
that restarts finds its runs again by name (RayBackend.reattach) instead of losing them. The
actor is threaded: ``run`` runs the worker while ``result`` (a new driver's wait for the end)
and ``cancel`` are served beside it.

``run`` does on its node what the local backend does on the platform's machine: it runs
``python -m tektii_engine.worker -`` in a session of its own and hands it the RunSpec on stdin.
When its raylet dies, Ray SIGKILLs the actor's process and its children: a worker that is a
child would die before stopping its strategy. So the child is ``setsid --fork --wait``, which
starts the worker in a session of its own and waits for it; when the child is killed, the
worker sees its parent go and stops the run (tektii_engine.worker).

An actor holds its CPU, memory and ``docker`` for as long as it lives: the platform kills it as
soon as it has the end (RayRunHandle.poll). One whose platform never comes back for it exits by
itself UNCLAIMED_S after the run ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tektii_plugins.execution.local import (
    CANCEL_GRACE_S,
    STDERR_TAIL_LINES,
    WORKER_MODULE,
    kill_group,
    remove_containers,
    worker_messages,
)

UNCLAIMED_S = 600.0  # an ended run whose platform does not collect it in this time: the actor exits


class RunActor:
    """One run on this node (a Ray actor class: RayBackend makes it remote)."""

    def __init__(self) -> None:
        self._end: dict[str, Any] | None = None
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._collected = threading.Event()

    def node(self) -> dict[str, Any]:
        """Where the actor runs, and the resources it holds there."""
        import ray

        context = ray.get_runtime_context()
        return {"id": context.get_node_id(), "ip": ray.util.get_node_ip_address(),
                "resources": context.get_assigned_resources()}

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The whole run of `spec` (``run_spec_to_json``): its end message plus the node's address."""
        import ray

        try:
            end = _run_worker(spec, self._cancel)
        except BaseException as exc:  # noqa: BLE001 - the end must be known to result() whatever happens
            end = {"state": "FAILED", "reason": f"The run's actor failed: {type(exc).__name__}: {exc}"}
        end["node"] = ray.util.get_node_ip_address()
        self._end = end
        self._done.set()
        threading.Thread(target=self._exit_unclaimed, name="tektii-unclaimed", daemon=True).start()
        return end

    def result(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The run's end once it has one (blocks up to `timeout`; None: not yet)."""
        if not self._done.wait(timeout):
            return None
        self._collected.set()
        return self._end

    def cancel(self) -> None:
        self._cancel.set()

    def _exit_unclaimed(self) -> None:
        if not self._collected.wait(UNCLAIMED_S):
            os._exit(0)  # nobody came for the end: give the node's resources back


def _run_worker(spec: dict[str, Any], cancel: threading.Event) -> dict[str, Any]:
    with tempfile.TemporaryFile() as stderr:
        guard = subprocess.Popen(["setsid", "--fork", "--wait", sys.executable, "-m", WORKER_MODULE, "-"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd="/")
        assert guard.stdin is not None
        guard.stdin.write(json.dumps(spec, separators=(",", ":")).encode() + b"\n")
        guard.stdin.close()
        end: dict[str, Any] = {}
        reader = threading.Thread(target=_relay, args=(guard, end), name="tektii-worker-out", daemon=True)
        reader.start()
        worker = _child_of(guard)
        while guard.poll() is None:
            if cancel.wait(0.2):
                _stop(guard, worker, spec["scenarioId"])
                reader.join(timeout=5)
                return {"state": "CANCELLED", "reason": "cancelled"}
        reader.join(timeout=5)
        if end.get("state") in ("COMPLETE", "FAILED", "CANCELLED"):
            return {"state": end["state"], "reason": end.get("reason")}
        stderr.seek(0)
        tail = "\n".join(stderr.read().decode("utf-8", "replace").strip().splitlines()[-STDERR_TAIL_LINES:])
    # (setsid's status: the worker's exit code, or the signal number that killed it)
    reason = f"The run's worker process (pid {worker}) ended without a result (status {guard.returncode})"
    return {"state": "FAILED", "reason": reason + (f":\n{tail}" if tail else "")}


def _child_of(guard: subprocess.Popen, wait_s: float = 10.0) -> int | None:
    """The worker: the child `setsid --fork` made (it is its own session's leader)."""
    deadline = time.monotonic() + wait_s
    while True:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == guard.pid:
                    return int(entry.name)
        if guard.poll() is not None or time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _relay(proc: subprocess.Popen, end: dict[str, Any]) -> None:
    """The worker's stdout: its end line into `end`."""
    assert proc.stdout is not None
    for message in worker_messages(proc.stdout):
        if message.get("type") == "end":
            end.update(message)
    proc.stdout.close()


def _stop(guard: subprocess.Popen, worker: int | None, run_id: str) -> None:
    """SIGTERM to the worker (it stops the strategy and writes CANCELLED), then its process group."""
    if worker is not None:
        try:
            os.kill(worker, signal.SIGTERM)
            guard.wait(timeout=CANCEL_GRACE_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            kill_group(worker)  # its own session: its pid is its group's
    if guard.poll() is None:
        guard.kill()
    guard.wait()
    remove_containers(run_id)

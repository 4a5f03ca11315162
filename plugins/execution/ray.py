"""The ``ray`` execution backend: each run is a Ray task on a cluster (``TEKTII_EXECUTION_BACKEND=ray``,
``RAY_ADDRESS``, e.g. ``ray://head:10001`` for a platform off the cluster; docs/execution-backends.md).

The task (``run_on_node``) does on its node what the local backend does on this machine: it runs
``python -m tektii_engine.worker -`` as a child process in a session of its own and hands it the
RunSpec (JSON, the project's cattrs converter) on stdin. The spec holds no local path: the worker
fetches its candles from the platform and posts progress, log lines and the result there
(tektii_engine.platform_link), so a node needs no file system shared with the platform, only to
reach ``RunSpec.platform_url`` (``TEKTII_RUN_PLATFORM_URL``) and the registry in ``image``.
``poll()`` reports RUNNING until the task returns; the progress is in the platform's store, where
the worker posted it. The worker's stderr is a temporary file on the node, whose last lines go
into the reason of a worker that died.

Resources: ``num_cpus`` and ``memory`` from the scenario's limits (plus the worker's own
WORKER_MEMORY_MB), and the custom resource ``docker`` (1) for every runtime but ``process``, so
container runs go only to nodes that advertise a Docker engine. ``max_retries=0``: a run is
not silently started twice.

Cancel is ``ray.cancel``: Ray raises KeyboardInterrupt in the task, which sends the worker
SIGTERM (it stops the strategy, removing its containers, and writes a CANCELLED result), kills
its process group after CANCEL_GRACE_S and removes the run's containers on that node. A node
lost during a run (its raylet gone) ends the run FAILED "worker node lost"; the worker on that
node notices that its parent (the Ray worker) died and stops the strategy itself.

Ray is imported only when the backend is used: ``tektii --help`` must stay fast, and ``ray``
is an optional extra (``tektii-cli[ray]``).
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

from tektii_core import hookimpl
from tektii_core.contracts import Availability, RunSpec, RunStatus, TektiiError
from tektii_core.models import run_spec_to_json
from tektii_plugins.execution.local import (
    CANCEL_GRACE_S,
    STDERR_TAIL_LINES,
    WORKER_MODULE,
    kill_group,
    remove_containers,
    worker_messages,
)

ADDRESS_ENV = "RAY_ADDRESS"
NODE_LOST = "worker node lost"
WORKER_MEMORY_MB = 256  # the worker and engine beside the strategy's own limit
DOCKER_RESOURCE = "docker"
CONNECT_ATTEMPTS = 3


# --- on the node ------------------------------------------------------------------------------

def run_on_node(spec: dict[str, Any]) -> dict[str, Any]:
    """The Ray task: run the worker for `spec` (``run_spec_to_json``) on this node and return its
    end message plus the node's address."""
    import ray

    node = ray.util.get_node_ip_address()
    # When its raylet dies, Ray SIGKILLs the task's process and its children: a worker that is
    # a child would die before stopping its strategy. So the child is `setsid --fork --wait`,
    # which starts the worker in a session of its own and waits for it; when the child is
    # killed, the worker sees its parent go and stops the run (tektii_engine.worker).
    with tempfile.TemporaryFile() as stderr:
        guard = subprocess.Popen(["setsid", "--fork", "--wait", sys.executable, "-m", WORKER_MODULE, "-"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd="/")
        assert guard.stdin is not None
        guard.stdin.write(json.dumps(spec, separators=(",", ":")).encode() + b"\n")
        guard.stdin.close()
        end: dict[str, Any] = {}
        reader = threading.Thread(target=_relay, args=(guard, end), name="tektii-worker-out", daemon=True)
        reader.start()
        try:
            worker = _child_of(guard)
            # Waiting in short steps, not in a blocking read: Ray's cancel is an exception raised
            # in this thread, which only arrives between Python steps.
            while guard.poll() is None:
                time.sleep(0.2)
        except BaseException:  # ray.cancel (KeyboardInterrupt), or the Ray worker shutting down
            _stop(guard, _child_of(guard, wait_s=0), spec["scenarioId"])
            raise
        reader.join(timeout=5)
        if end.get("state") in ("COMPLETE", "FAILED", "CANCELLED"):
            return {"state": end["state"], "reason": end.get("reason"), "node": node}
        stderr.seek(0)
        tail = "\n".join(stderr.read().decode("utf-8", "replace").strip().splitlines()[-STDERR_TAIL_LINES:])
    # (setsid's status: the worker's exit code, or the signal number that killed it)
    reason = f"The run's worker process (pid {worker}) ended without a result (status {guard.returncode})"
    return {"state": "FAILED", "reason": reason + (f":\n{tail}" if tail else ""), "node": node}


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


# --- on the platform --------------------------------------------------------------------------

class RayRunHandle:
    """A run submitted as a Ray task (RunHandle)."""

    def __init__(self, ref: Any):
        self._ref = ref
        self.ident = f"ray:{ref.hex()}"
        self.node: str | None = None  # the node's address, once the run has ended
        self._end: RunStatus | None = None
        self._cancelled = False

    def poll(self) -> RunStatus:
        import ray

        if self._end is not None:
            return self._end
        ready, _ = ray.wait([self._ref], timeout=0)
        if not ready:
            return RunStatus("RUNNING")  # progress: the worker posts it to the platform's store
        self._end = self._outcome()
        return self._end

    def _outcome(self) -> RunStatus:
        import ray.exceptions as rex

        try:
            end = ray_get(self._ref)
        except rex.TaskCancelledError:
            return RunStatus("CANCELLED", None, "cancelled")
        except rex.NodeDiedError:
            return RunStatus("FAILED", None, NODE_LOST)
        except rex.RayTaskError as exc:  # the task itself raised: after a cancel, the cancel
            if self._cancelled:
                return RunStatus("CANCELLED", None, "cancelled")
            return RunStatus("FAILED", None, f"The run's Ray task failed: {_first_line(exc)}")
        except rex.RayError as exc:  # the worker process crashed, the object was lost, ...
            return RunStatus("FAILED", None, f"The run failed on the Ray cluster: {_first_line(exc)}")
        self.node = end.get("node")
        return RunStatus(end["state"], None, end.get("reason"))

    def cancel(self) -> None:
        import ray

        if self._cancelled or self._end is not None:
            return
        self._cancelled = True
        ray.cancel(self._ref)  # not force: the task stops its worker (see run_on_node)


def ray_get(ref: Any, timeout: float = 30.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def task_options(run: RunSpec) -> dict[str, Any]:
    """What the run's task asks of Ray: its limits' CPUs and memory, and `docker` for every
    runtime but `process`."""
    limits = run.limits
    options: dict[str, Any] = {
        "num_cpus": limits.cpus if limits.cpus is not None else 1.0,
        "memory": ((limits.memory_mb or 1024) + WORKER_MEMORY_MB) * 2**20,
        "max_retries": 0,
        "name": f"tektii-run-{run.scenario_id}",
    }
    if run.runtime != "process":
        options["resources"] = {DOCKER_RESOURCE: 1}
    return options


def _init(address: str, attempts: int = CONNECT_ATTEMPTS) -> None:
    """ray.init as a driver of the cluster at `address`, tried again on a failed connection: a
    Ray Client server now and then loses the per-driver server it starts ("Initialization
    failure from server"), and the next attempt gets a new one."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            return
        except ConnectionAbortedError as exc:  # the server side failed; a wrong address is not retried
            ray.shutdown()
            if attempt == attempts - 1:
                raise TektiiError(f"Could not connect to the Ray cluster at {address}: {_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a bad address, a version mismatch, ...: ray raises many kinds
            raise TektiiError(f"Could not connect to the Ray cluster at {address}: {_first_line(exc)}") from None


class RayBackend:
    name = "ray"
    description = "Runs each scenario as a Ray task on a Ray cluster (RAY_ADDRESS)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._task: Any = None

    def availability(self) -> Availability:
        try:
            import ray  # noqa: F401
        except ImportError:
            return Availability(False, "the ray package is not installed (pip install 'tektii-cli[ray]')", installed=False)
        if not os.environ.get(ADDRESS_ENV, "").strip():
            return Availability(False, f"{ADDRESS_ENV} is not set (the Ray cluster's address, e.g. ray://head:10001)")
        try:
            self._connect()
        except TektiiError as exc:
            return Availability(False, exc.message)
        return Availability(True)

    def _connect(self) -> Any:
        """The remote function, once this process is a driver of the cluster at RAY_ADDRESS."""
        import ray

        with self._lock:
            if self._task is None:
                if not ray.is_initialized():
                    _init(os.environ.get(ADDRESS_ENV, "").strip())
                self._task = ray.remote(run_on_node)
            return self._task

    def start(self, run: RunSpec) -> RayRunHandle:
        task = self._connect()
        ref = task.options(**task_options(run)).remote(run_spec_to_json(run))
        return RayRunHandle(ref)

    def abandon(self, scenario_id: str, run_dir: Path, ident: str | None) -> None:
        """Nothing to reach: a task cannot be found again from a new driver, and Ray ends the
        tasks of a driver that went away; each task's worker then sees its parent die and stops
        the strategy (removing its containers). The scheduler marks the run FAILED."""


@hookimpl
def register_execution_backends(register) -> None:
    register(RayBackend())

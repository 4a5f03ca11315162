"""The ``ray`` execution backend: each run is a Ray actor on a cluster (``TEKTII_EXECUTION_BACKEND=ray``,
``RAY_ADDRESS``, e.g. ``ray://head:10001`` for a platform off the cluster; docs/execution-backends.md).

The actor (tektii_plugins.execution.ray_node.RunActor, named ``tektii-run-<scenario id>-<attempt>``,
detached) runs the worker on its node with the RunSpec on stdin. The spec holds no local path:
the worker fetches its candles from the platform and posts progress, log lines and the result
there (tektii_engine.platform_link), so a node needs no file system shared with the platform,
only to reach ``RunSpec.platform_url`` (``TEKTII_RUN_PLATFORM_URL``) and the registry in ``image``.

Resources: ``num_cpus`` and ``memory`` from the run's limits (plus the worker's own
WORKER_MEMORY_MB), and the custom resource ``docker`` (1) for every runtime but ``process``, so
container runs go only to nodes that advertise a Docker engine. Ray never restarts or retries a
run by itself (``max_restarts=0``): the scheduler decides, from the scenario's ``retries``.

Capabilities the scheduler uses (tektii_core.contracts.ExecutionBackend): ``room()`` (the
cluster's free capacity, so that runs wait in the platform's queue, not Ray's), ``reattach()``
(a restarted platform finds its runs' actors by name), ``describe()`` (the nodes, for
``tektii platform status``). A node lost during a run (its raylet gone) ends it FAILED "worker
node lost", marked retryable.

Ray is imported only when the backend is used: ``tektii --help`` must stay fast, and ``ray``
is an optional extra (``tektii-cli[ray]``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from tektii_core import hookimpl
from tektii_core.contracts import Availability, RunSpec, RunStatus, RuntimeLimits, TektiiError
from tektii_core.models import run_spec_to_json
from tektii_plugins.execution.local import CANCEL_GRACE_S

ADDRESS_ENV = "RAY_ADDRESS"
NAMESPACE = "tektii"
NODE_LOST = "worker node lost"
WORKER_MEMORY_MB = 256  # the worker and engine beside the strategy's own limit
DOCKER_RESOURCE = "docker"
CONNECT_ATTEMPTS = 3
ACTOR_CONCURRENCY = 4  # run, and beside it result (a restarted platform's wait) and cancel
UNAVAILABLE_S = 60.0  # an actor that does not answer this long, on a node still alive, has failed
_EPSILON = 1e-6  # Ray keeps resources in fixed point (1e-4)
_NAME_RE = re.compile(r"ray:(tektii-run-(scen_[A-Za-z0-9]+)-(\d+))")


def actor_name(scenario_id: str, attempt: int) -> str:
    return f"tektii-run-{scenario_id}-{attempt}"


def demand(runtime: str, limits: RuntimeLimits) -> dict[str, float]:
    """What a run asks of Ray, as Ray names resources: its limits' CPUs and memory, and
    `docker` for every runtime but `process`."""
    wanted = {"CPU": limits.cpus if limits.cpus is not None else 1.0,
              "memory": float(((limits.memory_mb or 1024) + WORKER_MEMORY_MB) * 2**20)}
    if runtime != "process":
        wanted[DOCKER_RESOURCE] = 1.0
    return wanted


def actor_options(run: RunSpec) -> dict[str, Any]:
    """The run's actor: its resources, a name a restarted platform finds it by, no restarts."""
    wanted = demand(run.runtime, run.limits)
    options: dict[str, Any] = {
        "num_cpus": wanted.pop("CPU"),
        "memory": wanted.pop("memory"),
        "name": actor_name(run.scenario_id, run.attempt),
        "namespace": NAMESPACE,
        "lifetime": "detached",  # outlives this driver: see reattach()
        "max_restarts": 0,
        "max_task_retries": 0,
        "max_concurrency": ACTOR_CONCURRENCY,
    }
    if wanted:
        options["resources"] = wanted
    return options


def _fits(wanted: dict[str, float], have: dict[str, float]) -> bool:
    return all(have.get(k, 0.0) + _EPSILON >= v for k, v in wanted.items())


class RayRoom:
    """The cluster's free capacity now (RunRoom): what Ray reports free, but never more than the
    alive nodes' totals less what this platform's own runs hold (Ray's view lags behind a run
    that was just started)."""

    def __init__(self, free: dict[str, float], node_totals: list[dict[str, float]]):
        self.free = free
        self.node_totals = node_totals

    def take(self, runtime: str, limits: RuntimeLimits) -> bool:
        wanted = demand(runtime, limits)
        if not any(_fits(wanted, total) for total in self.node_totals):
            return True  # fits no node: start() fails it with the reason
        if not _fits(wanted, self.free):
            return False
        for k, v in wanted.items():
            self.free[k] = self.free.get(k, 0.0) - v
        return True


class RayRunHandle:
    """A run's actor (RunHandle); `ref` resolves to the run's end message."""

    def __init__(self, backend: RayBackend, actor: Any, ref: Any, name: str, attempt: int, wanted: dict[str, float]):
        self._backend = backend
        self._actor = actor
        self._ref = ref
        self._where = actor.node.remote()  # the node it was placed on, to tell a lost node from other deaths
        self.ident = f"ray:{name}"
        self.attempt = attempt
        self.wanted = wanted
        self.node: str | None = None  # the node's address, once known
        self._end: RunStatus | None = None
        self._cancelled_at: float | None = None
        self._unavailable_since: float | None = None  # the actor did not answer (its node going?)
        self._ask_again_at = 0.0

    def poll(self) -> RunStatus:
        import ray

        if self._end is not None:
            return self._end
        now = time.monotonic()
        if self._cancelled_at is not None and now - self._cancelled_at > CANCEL_GRACE_S + 10:
            return self._ended(RunStatus("CANCELLED", None, "cancelled"))  # e.g. still waiting for a node
        if self._ref is None:  # asking the actor again after it was unavailable
            if now < self._ask_again_at:
                return RunStatus("RUNNING")
            self._ref = self._actor.result.remote(None)
        ready, _ = ray.wait([self._ref], timeout=0)
        if not ready:
            return RunStatus("RUNNING")  # progress: the worker posts it to the platform's store
        outcome = self._outcome()
        return RunStatus("RUNNING") if outcome is None else self._ended(outcome)

    def _ended(self, status: RunStatus) -> RunStatus:
        import ray

        self._end = status
        self._backend.forget(self)
        try:
            ray.kill(self._actor)  # an actor holds its node's resources until it is gone
        except Exception:  # noqa: BLE001 - gone already (its node died, it exited)
            pass
        return status

    def _outcome(self) -> RunStatus | None:
        """How the run ended, or None when that is not known yet (ask again)."""
        import ray.exceptions as rex

        try:
            end = ray_get(self._ref)
        except rex.ActorUnavailableError as exc:
            # Right after a raylet dies its actors are "temporarily unavailable"; Ray reports
            # them dead once it has noticed the node's loss (seconds). Ask again until then.
            now = time.monotonic()
            self._unavailable_since = self._unavailable_since or now
            if now - self._unavailable_since < UNAVAILABLE_S:
                self._ref, self._ask_again_at = None, now + 1.0
                return None
            if self._node_lost(exc):
                return RunStatus("FAILED", None, NODE_LOST, retryable=True)
            return RunStatus("FAILED", None, f"The run's Ray actor stopped answering: {_first_line(exc)}")
        except rex.RayActorError as exc:  # ActorDiedError
            if self._cancelled_at is not None:
                return RunStatus("CANCELLED", None, "cancelled")
            if self._node_lost(exc):
                return RunStatus("FAILED", None, NODE_LOST, retryable=True)
            return RunStatus("FAILED", None, f"The run's Ray actor died: {_first_line(exc)}")
        except rex.NodeDiedError:
            return RunStatus("FAILED", None, NODE_LOST, retryable=True)
        except rex.RayError as exc:  # the object was lost, ...
            return RunStatus("FAILED", None, f"The run failed on the Ray cluster: {_first_line(exc)}")
        if end is None:
            return RunStatus("FAILED", None, "The run's Ray actor returned no end")
        self.node = end.get("node")
        return RunStatus(end["state"], None, end.get("reason"))

    def _node_lost(self, exc: BaseException) -> bool:
        """Whether the actor died with its node (not by itself)."""
        import ray

        try:
            where = ray_get(self._where, timeout=1)
        except Exception:  # noqa: BLE001 - died before it said where: judge by the message
            return "node" in str(exc).lower() and "died" in str(exc).lower()
        self.node = where["ip"]
        return not any(n["NodeID"] == where["id"] and n["Alive"] for n in ray.nodes())

    def cancel(self) -> None:
        if self._cancelled_at is not None or self._end is not None:
            return
        self._cancelled_at = time.monotonic()
        self._actor.cancel.remote()  # the actor stops its worker (see ray_node)


def ray_get(ref: Any, timeout: float = 30.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _init(address: str, attempts: int = CONNECT_ATTEMPTS) -> None:
    """ray.init as a driver of the cluster at `address`, tried again on a failed connection: a
    Ray Client server now and then loses the per-driver server it starts ("Initialization
    failure from server"), and the next attempt gets a new one."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(address=address, namespace=NAMESPACE, logging_level="WARNING", log_to_driver=False)
            return
        except ConnectionAbortedError as exc:  # the server side failed; a wrong address is not retried
            ray.shutdown()
            if attempt == attempts - 1:
                raise TektiiError(f"Could not connect to the Ray cluster at {address}: {_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a bad address, a version mismatch, ...: ray raises many kinds
            raise TektiiError(f"Could not connect to the Ray cluster at {address}: {_first_line(exc)}") from None


def _free_per_node() -> dict[str, dict[str, float]]:
    """On the cluster (a zero-CPU task): every node's free resources, by node id."""
    from ray._private.state import available_resources_per_node

    return available_resources_per_node()


class RayBackend:
    name = "ray"
    description = "Runs each scenario as a Ray actor on a Ray cluster (RAY_ADDRESS)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actor_class: Any = None
        self._active: dict[int, RayRunHandle] = {}  # this platform's unfinished runs

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
        """The actor class, once this process is a driver of the cluster at RAY_ADDRESS."""
        import ray

        from tektii_plugins.execution.ray_node import RunActor

        with self._lock:
            if self._actor_class is None:
                if not ray.is_initialized():
                    _init(os.environ.get(ADDRESS_ENV, "").strip())
                self._actor_class = ray.remote(RunActor)
            return self._actor_class

    def _alive_totals(self) -> list[dict[str, float]]:
        import ray

        return [dict(n["Resources"]) for n in ray.nodes() if n["Alive"]]

    def start(self, run: RunSpec) -> RayRunHandle:
        actor_class = self._connect()
        wanted = demand(run.runtime, run.limits)
        if not any(_fits(wanted, total) for total in self._alive_totals()):
            asks = ", ".join(f"{k} {_amount(k, v)}" for k, v in wanted.items())
            raise TektiiError(f"No node of the Ray cluster can run it: it needs {asks}",
                              hint="add a node with those resources (a Docker engine advertises `docker`)")
        options = actor_options(run)
        actor = actor_class.options(**options).remote()
        ref = actor.run.remote(run_spec_to_json(run))
        return self._track(RayRunHandle(self, actor, ref, options["name"], run.attempt, wanted))

    def _track(self, handle: RayRunHandle) -> RayRunHandle:
        with self._lock:
            self._active[id(handle)] = handle
        return handle

    def forget(self, handle: RayRunHandle) -> None:
        with self._lock:
            self._active.pop(id(handle), None)

    def room(self) -> RayRoom:
        import ray

        self._connect()
        totals = self._alive_totals()
        capacity: dict[str, float] = {}
        for total in totals:
            for k, v in total.items():
                capacity[k] = capacity.get(k, 0.0) + v
        with self._lock:
            for handle in self._active.values():
                for k, v in handle.wanted.items():
                    capacity[k] = capacity.get(k, 0.0) - v
        available = ray.available_resources()
        free = {k: min(v, available.get(k, 0.0)) for k, v in capacity.items()}
        return RayRoom(free, totals)

    def capacity(self) -> int:
        """How many runs of the default size (a process run) the alive nodes hold at once."""
        self._connect()
        wanted = demand("process", RuntimeLimits())
        return sum(int(min(total.get(k, 0.0) / v for k, v in wanted.items()) + _EPSILON)
                   for total in self._alive_totals())

    def reattach(self, scenario_id: str, ident: str) -> RayRunHandle | None:
        """The run's actor, found again by its name (a platform that restarted), or None."""
        import ray

        match = _NAME_RE.fullmatch(ident or "")
        if match is None or match[2] != scenario_id:
            return None
        self._connect()
        try:
            actor = ray.get_actor(match[1], namespace=NAMESPACE)
        except ValueError:  # no live actor of that name
            return None
        try:
            held = ray_get(actor.node.remote())["resources"]  # what it holds, for room()
        except ray.exceptions.RayError:  # it died just now (its node went, it exited)
            return None
        wanted = {k: float(v) for k, v in held.items() if k in ("CPU", "memory", DOCKER_RESOURCE)}
        handle = RayRunHandle(self, actor, actor.result.remote(None), match[1], int(match[3]), wanted)
        return self._track(handle)

    def abandon(self, scenario_id: str, run_dir: Path, ident: str | None) -> None:
        """A run that could not be reattached: end its actor if one is left (its worker then stops
        the strategy, removing its containers). The scheduler marks the run FAILED."""
        import ray

        match = _NAME_RE.fullmatch(ident or "")
        if match is None:
            return
        try:
            ray.kill(ray.get_actor(match[1], namespace=NAMESPACE))
        except ValueError:
            pass

    def describe(self) -> dict[str, Any]:
        """The cluster's nodes with their total and free CPU, memory and `docker` (platform status)."""
        import ray

        self._connect()
        free = ray.get(ray.remote(_free_per_node).options(num_cpus=0).remote(), timeout=60)
        nodes = []
        for node in ray.nodes():
            total, left = node["Resources"], free.get(node["NodeID"], {})
            nodes.append({
                "nodeId": node["NodeID"], "address": node["NodeManagerAddress"], "alive": bool(node["Alive"]),
                "cpu": {"total": total.get("CPU", 0.0), "free": left.get("CPU", 0.0) if node["Alive"] else 0.0},
                "docker": {"total": total.get(DOCKER_RESOURCE, 0.0),
                           "free": left.get(DOCKER_RESOURCE, 0.0) if node["Alive"] else 0.0},
                "memoryMb": {"total": round(total.get("memory", 0.0) / 2**20),
                             "free": round(left.get("memory", 0.0) / 2**20) if node["Alive"] else 0},
            })
        nodes.sort(key=lambda n: (not n["alive"], n["address"]))
        return {"address": _without_credentials(os.environ.get(ADDRESS_ENV, "")), "nodes": nodes}


def _amount(resource: str, value: float) -> str:
    if resource == "memory":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:g}"


def _without_credentials(address: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", address.strip())


@hookimpl
def register_execution_backends(register) -> None:
    register(RayBackend())

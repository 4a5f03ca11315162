"""Backtests as Ray tasks on a real three-node cluster (the `ray_cluster` fixture: a head and two
1-CPU worker nodes in network namespaces, this process a Ray Client driver; docs/testing.md).

What the Ray execution backend (issue 12) relies on: a template strategy run in the process
runtime on any node gives the local result bit for bit, tasks spread over both worker nodes, and
a node whose raylet dies fails its task with `ray.exceptions.NodeDiedError` within seconds
while the other nodes' tasks complete. Then the backend itself (plugins/execution/ray.py),
driven like the scheduler drives it: results equal the local backend's, cancel, node loss.
One module, so that all of it shares one cluster (~20 s to start)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tektii_clusters import WORKERS, import_required
from tektii_testkit import ServedPlatform, require, run_desk, wait_end

ray = import_required("ray", "the ray extra is not installed (scripts/setup)")

from ray import cloudpickle  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

# The tasks below run this module's functions on the nodes, where tests/ is not importable.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

HOURLY = {
    "strategyVersionId": "ver_ray",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1h", "order_update"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-01-15T00:00:00Z",
    "initialCapital": 100000,
}
MINUTES = {**HOURLY, "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m", "order_update"]}]}
# Six scenarios: two templates, different windows, walks and parameters.
SCENARIOS = [
    ("ma-crossover", HOURLY, 7),
    ("ma-crossover", {**HOURLY, "endTime": "2024-01-22T00:00:00Z"}, 8),
    ("ma-crossover", {**HOURLY, "environment": {"FAST_PERIOD": "5", "SLOW_PERIOD": "15"}}, 9),
    ("rsi-momentum", HOURLY, 7),
    ("rsi-momentum", {**HOURLY, "initialCapital": 25000}, 7),
    ("ma-crossover", {**HOURLY, "environment": {"STOP_LOSS_PCT": "3"}}, 11),
]
NODE_LOSS_DETECTED_S = 30.0


def walk(symbol: str, tf: str, start: int, end: int, *, seed: int):
    """A seeded random walk with 1% moves, one chunk (the engine's CandleFeed)."""
    from tektii_core.timeutil import TIMEFRAME_SECONDS as TIMEFRAMES
    from tektii_engine.data.candles import Candles

    step = TIMEFRAMES[tf]
    times = np.arange(-(-start // step) * step, end, step, dtype=np.int64)
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, len(times))))
    opens = np.concatenate(([100.0], closes[:-1]))
    yield Candles(times, opens, np.maximum(opens, closes) * 1.001, np.minimum(opens, closes) * 0.999, closes,
                  np.ones(len(times)))


def backtest(template: str, config: dict, seed: int, progress_file: str | None = None) -> dict:
    """The template in the process runtime (tektii_engine.run.local_run), as result JSON."""
    from tektii_engine.run import local_run
    from tektii_engine.templates import template_dir

    def on_progress(fraction: float, _rate: float, _equity: float) -> None:
        Path(progress_file).write_text(str(fraction))  # type: ignore[arg-type]

    result = local_run(template_dir(template), config, feed=functools.partial(walk, seed=seed),
                       on_progress=on_progress if progress_file else None)
    return result.to_dict()


@ray.remote(num_cpus=1, max_retries=0)
def backtest_task(template: str, config: dict, seed: int, progress_file: str | None = None) -> tuple[str, dict]:
    return ray.get_runtime_context().get_node_id(), backtest(template, config, seed, progress_file)


def same(a: dict, b: dict) -> bool:
    """Bit for bit: JSON with repr floats (round-trip exact), keys in order."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_backtests_on_both_worker_nodes_equal_local_runs(ray_cluster):
    refs = [backtest_task.options(scheduling_strategy="SPREAD").remote(t, c, s) for t, c, s in SCENARIOS]
    done = ray.get(refs, timeout=150)
    local = [backtest(t, c, s) for t, c, s in SCENARIOS]

    names = ray_cluster.node_names()
    ran_on = [names[node] for node, _ in done]
    assert {"w1", "w2"} <= set(ran_on), ran_on
    for (_, remote), expected, scenario in zip(done, local, SCENARIOS, strict=True):
        assert remote["state"] == "COMPLETE", (scenario, remote["reason"])
        assert remote["trades"] and remote["equityCurve"], scenario
        assert same(remote, expected), scenario
    # the scenarios differ, so equal results are not one result repeated
    assert len({json.dumps(r["trades"]) for _, r in done}) == len(SCENARIOS)


def test_docker_tasks_go_only_to_the_worker_nodes_that_advertise_it(ray_cluster):
    require(ray_cluster.docker, "no Docker engine running (the worker nodes advertise none)")
    assert ray.cluster_resources().get("docker") == 2.0

    @ray.remote(num_cpus=0, resources={"docker": 1})
    def where() -> str:
        return ray.get_runtime_context().get_node_id()

    names = ray_cluster.node_names()
    ran_on = {names[node] for node in ray.get([where.remote() for _ in range(6)], timeout=60)}
    assert ran_on and ran_on <= {"w1", "w2"}, ran_on


def test_a_killed_raylet_fails_its_task_and_the_other_node_completes(ray_cluster, tmp_path):
    names = {name: node for node, name in ray_cluster.node_names().items()}
    pinned = {name: NodeAffinitySchedulingStrategy(names[name], soft=False) for name in ("w1", "w2")}
    # w2's run is long (a week of minutes) so it is mid-run when its raylet dies; w1's is
    # shorter but still running then.
    doomed_file, survivor_file = tmp_path / "doomed.progress", tmp_path / "survivor.progress"
    doomed = backtest_task.options(scheduling_strategy=pinned["w2"]).remote(
        "ma-crossover", {**MINUTES, "endTime": "2024-01-08T00:00:00Z"}, 3, str(doomed_file))
    survivor_config = {**MINUTES, "endTime": "2024-01-04T00:00:00Z"}
    survivor = backtest_task.options(scheduling_strategy=pinned["w1"]).remote(
        "ma-crossover", survivor_config, 4, str(survivor_file))
    try:
        deadline = time.monotonic() + 90
        while not (doomed_file.exists() and survivor_file.exists()):
            assert time.monotonic() < deadline, "the tasks did not report progress within 90 s"
            time.sleep(0.2)
        assert float(survivor_file.read_text() or 0) < 1.0

        ray_cluster.kill_raylet("w2")
        killed = time.monotonic()
        with pytest.raises(ray.exceptions.NodeDiedError) as failure:
            ray.get(doomed, timeout=NODE_LOSS_DETECTED_S)
        detected = time.monotonic() - killed
        assert detected < NODE_LOSS_DETECTED_S
        assert ray_cluster.nodes["w2"].ip in str(failure.value)
        print(f"node loss: {type(failure.value).__name__} {detected:.1f} s after the raylet's SIGKILL")
        # the run's Ray worker and its strategy process end with the raylet (process runtime)
        wait_until_no_run_processes(ray_cluster, ["w2"])

        node, result = ray.get(survivor, timeout=120)
        assert names["w1"] == node
        assert result["state"] == "COMPLETE" and result["trades"]
        assert same(result, backtest("ma-crossover", survivor_config, 4))
    finally:
        # the session's cluster stays whole for the tests after this one
        ray_cluster.restart_node("w2")
        ray_cluster.wait_for_nodes(3)


# --- the ray execution backend ------------------------------------------------------------------

@pytest.fixture(scope="module")
def desk(ray_cluster, tmp_path_factory):
    """The platform's end of the run contract (tektii_testkit.RunDesk), bound to the host's
    address on the cluster's bridge (which the fixture assigned; as its bind address it is one of
    the platform's Host names), where the nodes reach it: their runs fetch candles and post
    progress, logs and results there."""
    yield from run_desk(tmp_path_factory, "2024-01-01T00:00:00Z", "2024-02-10T00:00:00Z", ray_cluster.host_ip)


@pytest.fixture
def backends(ray_cluster, monkeypatch):
    from tektii_core.plugins import Plugins

    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.client_address)
    plugins = Plugins(hooks=["register_execution_backends"])
    ray_backend = plugins.execution_backend("ray")
    assert ray_backend.availability().ok
    return plugins.execution_backend("local"), ray_backend


def test_the_ray_backend_asks_for_the_limits_and_docker_for_images():
    from tektii_core.contracts import RunSpec, RuntimeLimits
    from tektii_plugins.execution.ray import task_options

    base = {"scenario_id": "scen_x", "config": {}, "platform_url": "http://10.0.0.1:8420", "run_token": "tkr_x"}
    process = task_options(RunSpec(**base, runtime="process", template="ma-crossover",
                                   limits=RuntimeLimits(memory_mb=512, cpus=0.5)))
    assert process == {"num_cpus": 0.5, "memory": (512 + 256) * 2**20, "max_retries": 0, "name": "tektii-run-scen_x"}
    image = task_options(RunSpec(**base, runtime="docker", image="127.0.0.1:5000/s:v"))
    assert image["resources"] == {"docker": 1} and image["num_cpus"] == 1.0


def test_the_ray_backend_needs_a_cluster_address(monkeypatch):
    from tektii_plugins.execution.ray import RayBackend

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    available = RayBackend().availability()
    assert not available.ok and available.installed
    assert available.reason == "RAY_ADDRESS is not set (the Ray cluster's address, e.g. ray://head:10001)"


def test_ray_backend_runs_equal_the_local_backends(backends, desk, ray_cluster):
    local, remote = backends
    days = (1, 2)
    specs = [desk.spec(days=k) for k in days]
    handles = [remote.start(spec) for spec in specs]
    assert all(h.ident.startswith("ray:") for h in handles)
    statuses = [wait_end(h) for h in handles]
    for status, spec, k in zip(statuses, specs, days, strict=True):
        assert status.state == "COMPLETE", status.reason
        # the same config as a run of its own on the platform, through the local backend
        twin = desk.spec(days=k)
        assert twin.config == spec.config
        expected = wait_end(local.start(twin))
        assert expected.state == "COMPLETE", expected.reason
        ray_result = (desk.files(spec) / "result.json").read_text()
        assert ray_result == (desk.files(twin) / "result.json").read_text()
        assert json.loads(ray_result)["trades"]
        assert desk.progress(spec)["fraction"] > 0
    assert {h.node for h in handles} <= {n.ip for n in ray_cluster.nodes.values()}


def test_cancelling_a_ray_run_stops_its_worker_and_strategy(backends, desk, ray_cluster):
    _, remote = backends
    spec = desk.spec(days=14)
    handle = remote.start(spec)
    desk.wait_progress(spec, handle)
    handle.cancel()
    cancelled_at = time.monotonic()
    status = wait_end(handle, 30)
    assert status.state == "CANCELLED", status.reason
    assert time.monotonic() - cancelled_at < 15  # the API waits 15 s for a cancel
    # the worker stopped the strategy and posted its CANCELLED result before the task ended
    assert json.loads((desk.files(spec) / "result.json").read_text())["state"] == "CANCELLED"
    wait_until_no_run_processes(ray_cluster, list(ray_cluster.nodes), timeout=10)


# A platform process: starts a run (its RunSpec JSON on stdin) on the cluster through the backend,
# says so, then waits to be killed (the run posts its progress to the desk's platform).
PLATFORM_DRIVER = """
import json, sys, time
from tektii_core.models import run_spec_from_json
from tektii_plugins.execution.ray import RayBackend
backend = RayBackend()
available = backend.availability()
assert available.ok, available.reason
handle = backend.start(run_spec_from_json(json.load(sys.stdin)))
print(handle.ident, flush=True)
time.sleep(600)
"""


def test_a_killed_platform_leaves_no_run_on_the_cluster(ray_cluster, desk, tmp_path):
    """Why RayBackend.abandon() has nothing to do: Ray ends a vanished driver's tasks once its
    Ray Client reconnect grace is over (30 s by default; 3 s here), and the worker, seeing its
    parent go, stops the strategy and posts CANCELLED."""
    from tektii_core.models import run_spec_to_json

    spec = desk.spec(days=40)  # ~50 s of run
    env = {**ray_cluster.env, "RAY_ADDRESS": ray_cluster.client_address, "RAY_CLIENT_RECONNECT_GRACE_PERIOD": "3"}
    with open(tmp_path / "platform.log", "wb") as log:
        platform = subprocess.Popen([sys.executable, "-c", PLATFORM_DRIVER], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        platform.stdin.write(json.dumps(run_spec_to_json(spec)))
        platform.stdin.close()
        assert platform.stdout.readline().startswith("ray:"), ((tmp_path / "platform.log").read_text()[-3000:]
                                                              + ray_cluster.logs("ray_client_server*"))
        deadline = time.monotonic() + 90
        while not (desk.progress(spec) or {}).get("fraction"):
            assert time.monotonic() < deadline and platform.poll() is None, (tmp_path / "platform.log").read_text()
            time.sleep(0.2)
        assert any(run_process(pid) for name in ray_cluster.nodes for pid in ray_cluster.pids(name))
    finally:
        platform.kill()
        platform.wait(timeout=30)
    wait_until_no_run_processes(ray_cluster, list(ray_cluster.nodes), timeout=60)
    assert json.loads((desk.files(spec) / "result.json").read_text())["state"] == "CANCELLED"


def test_a_ray_run_whose_node_is_lost_fails_with_the_reason(backends, desk, ray_cluster):
    _, remote = backends
    names = {name: node for node, name in ray_cluster.node_names().items()}

    @ray.remote(num_cpus=1)
    def hold(seconds: float) -> None:
        time.sleep(seconds)

    # keep the head's CPU busy, so that the run goes to a worker node (killing the head's
    # raylet would take the whole cluster along)
    blocker = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(names["head"], soft=False)).remote(300)
    spec = desk.spec(days=14)
    try:
        handle = remote.start(spec)
        desk.wait_progress(spec, handle)
        node = next(name for name in WORKERS if any(run_process(pid) for pid in ray_cluster.pids(name)))
        ray_cluster.kill_raylet(node)
        status = wait_end(handle, NODE_LOSS_DETECTED_S)
        assert (status.state, status.reason) == ("FAILED", "worker node lost")
        assert desk.progress(spec)["fraction"] > 0  # what it had reached is kept
        # the worker stopped the strategy itself and posted its own end, CANCELLED (it got SIGTERM
        # from the task's process going down, or saw that process gone: either happens)
        wait_until_no_run_processes(ray_cluster, [node])
        assert json.loads((desk.files(spec) / "result.json").read_text())["state"] == "CANCELLED"
    finally:
        ray.cancel(blocker, force=True)
        for name in WORKERS:
            if not [pid for pid in ray_cluster.pids(name) if b"raylet/raylet" in cmdline(pid)]:
                ray_cluster.restart_node(name)
        ray_cluster.wait_for_nodes(3)


def test_a_scenario_created_through_the_api_runs_on_the_cluster(ray_cluster, tmp_path_factory):
    """The whole hand-off: the platform's scheduler claims the scenario and gives the ray
    backend a RunSpec whose URL is TEKTII_RUN_PLATFORM_URL (here the platform's own address on
    the bridge, the one the nodes reach), and the run's worker on a node posts the result back."""
    platform = ServedPlatform(tmp_path_factory.mktemp("platform") / "data", {
        "TEKTII_EXECUTION_BACKEND": "ray", "RAY_ADDRESS": ray_cluster.client_address, "TEKTII_RUNTIME": "process",
        "RAY_USAGE_STATS_ENABLED": "0"}, ray_cluster.host_ip)
    platform.env["TEKTII_RUN_PLATFORM_URL"] = platform.url
    platform.start()
    try:
        key = platform.new_user("owner", admin=True)
        platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z")
        strategy_id = platform.strategy(key, "on-the-cluster")
        config = {**HOURLY, "strategyVersionId": platform.template_version(key, strategy_id),
                  "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
                  "endTime": "2024-01-02T00:00:00Z"}
        scenario_id = platform.create(key, strategy_id, config)["scenarioId"]
        scenario = platform.wait(key, strategy_id, scenario_id, timeout=180)
        assert scenario["state"] == "COMPLETE", scenario
        assert scenario["execution"]["backend"] == "ray"
        assert scenario["execution"]["node"] in {n.ip for n in ray_cluster.nodes.values()}
        result = json.loads((platform.data_dir / "runs" / scenario_id / "result.json").read_text())
        assert result["state"] == "COMPLETE" and result["equityCurve"]
    finally:
        platform.stop()
        platform.http.close()


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# (the strategy: the template's main.py; the raylet's own command line names agent/main.py)
RUN_PROCESSES = (b"ray::backtest_task", b"ray::tektii-run-", b"tektii_engine.worker", b"ma-crossover/main.py")


def run_process(pid: int) -> bool:
    """A process of a run (one runs at a time here): its Ray task, its worker, its strategy."""
    return any(part in cmdline(pid) for part in RUN_PROCESSES)


def wait_until_no_run_processes(cluster, nodes: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while left := {name: [cmdline(p)[:120] for p in pids]
                   for name in nodes if (pids := [p for p in cluster.pids(name) if run_process(p)])}:
        assert time.monotonic() < deadline, f"run processes still there after {timeout} s: {left}"
        time.sleep(0.2)

"""Backtests as Ray tasks on a real three-node cluster (the `ray_cluster` fixture: a head and two
1-CPU worker nodes in network namespaces, this process a Ray Client driver; docs/testing.md).

What the Ray execution backend (issue 12) relies on: a template strategy run in the process
runtime on any node gives the local result bit for bit, tasks spread over both worker nodes, and
a node whose raylet dies fails its task with `ray.exceptions.NodeDiedError` within seconds
while the other nodes' tasks complete. Then the backend itself (plugins/execution/ray.py),
driven like the scheduler drives it: results equal the local backend's, cancel, node loss. Then
a platform with the ray backend: status shows the nodes, concurrency is the cluster's capacity,
a lost node's run starts again when retries allow, a restarted platform reattaches its runs.
One module, so that all of it shares one cluster (~20 s to start)."""

from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
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
    from tektii_plugins.execution.ray import RayRoom, actor_options

    base = {"scenario_id": "scen_x", "config": {}, "platform_url": "http://10.0.0.1:8420", "run_token": "tkr_x"}
    process = actor_options(RunSpec(**base, runtime="process", template="ma-crossover",
                                    limits=RuntimeLimits(memory_mb=512, cpus=0.5)))
    assert process == {"num_cpus": 0.5, "memory": (512 + 256) * 2**20, "name": "tektii-run-scen_x-1",
                       "namespace": "tektii", "lifetime": "detached", "max_restarts": 0, "max_task_retries": 0,
                       "max_concurrency": 4}
    image = actor_options(RunSpec(**base, runtime="docker", image="127.0.0.1:5000/s:v", attempt=2))
    assert image["resources"] == {"docker": 1} and image["num_cpus"] == 1.0
    assert image["name"] == "tektii-run-scen_x-2"
    # the room: what is free, each run taking its share; a run no node can hold is let through
    # (start() fails it with the reason) instead of blocking the queue
    gib = 2.0**30
    room = RayRoom({"CPU": 2.0, "memory": 3 * gib, "docker": 1.0},
                   [{"CPU": 1.0, "memory": 3 * gib}, {"CPU": 1.0, "memory": 3 * gib, "docker": 1.0}])
    assert room.take("docker", RuntimeLimits()) and not room.take("docker", RuntimeLimits())
    assert room.take("process", RuntimeLimits()) and not room.take("process", RuntimeLimits())
    assert room.take("process", RuntimeLimits(cpus=4))


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
        ray_cluster.restore_nodes(WORKERS)


# --- the platform's scheduler on the cluster ------------------------------------------------------

@pytest.fixture(scope="module")
def ray_platform(ray_cluster, tmp_path_factory):
    """A platform with the ray backend, bound to the host's bridge address (the one the nodes reach,
    also its TEKTII_RUN_PLATFORM_URL): its scheduler claims the scenarios created through its API
    and hands each to the backend. TEKTII_MAX_CONCURRENT_RUNS=1, which the ray backend's capacity
    overrides."""
    platform = ServedPlatform(tmp_path_factory.mktemp("platform") / "data", {
        "TEKTII_EXECUTION_BACKEND": "ray", "RAY_ADDRESS": ray_cluster.client_address, "TEKTII_RUNTIME": "process",
        "RAY_USAGE_STATS_ENABLED": "0", "TEKTII_MAX_CONCURRENT_RUNS": "1"}, ray_cluster.host_ip)
    platform.env["TEKTII_RUN_PLATFORM_URL"] = platform.url
    platform.start()
    try:
        key = platform.new_user("owner", admin=True)
        platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-01-20T00:00:00Z")
        strategy_id = platform.strategy(key, "on-the-cluster")
        yield platform, key, strategy_id, platform.template_version(key, strategy_id)
    finally:
        platform.stop()
        platform.http.close()


def minutes_config(version_id: str, days: int, **changes) -> dict:
    end = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**HOURLY, "strategyVersionId": version_id, "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
            "endTime": end, **changes}


def test_platform_status_shows_the_backend_and_the_nodes(ray_platform, ray_cluster, tmp_path):
    platform, key, _, _ = ray_platform
    execution = platform.ok("GET", "/v1/platform/execution", key)
    assert (execution["backend"], execution["maxConcurrentRuns"], execution["scheduling"]) == ("ray", None, True)
    assert execution["cluster"]["address"] == ray_cluster.client_address
    # (a node restarted by an earlier test is listed once more, dead, under its old id)
    nodes = {n["address"]: n for n in execution["cluster"]["nodes"] if n["alive"]}
    assert set(nodes) == {n.ip for n in ray_cluster.nodes.values()}
    for name, node in ray_cluster.nodes.items():
        shown = nodes[node.ip]
        assert shown["alive"] and shown["cpu"]["total"] == 1.0 and 0 <= shown["cpu"]["free"] <= 1.0
        assert shown["docker"]["total"] == (1.0 if ray_cluster.docker and name != "head" else 0.0)
    user = platform.new_user("someone")
    assert platform.call("GET", "/v1/platform/execution", user).status_code == 403

    from tektii_testkit import TEKTII

    env = {**platform.env, "TEKTII_API_KEY": key, "TEKTII_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("TEKTII_API_URL", None)
    done = subprocess.run([TEKTII, "--output", "json", "platform", "status"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)["data"]
    assert status["running"] and status["backend"] == "ray" and status["execution"]["backend"] == "ray"
    assert {n["address"] for n in status["execution"]["cluster"]["nodes"] if n["alive"]} == set(nodes)
    table = subprocess.run([TEKTII, "platform", "status"], capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "Backend" in table.stdout and "the cluster's capacity" in table.stdout and "Nodes:" in table.stdout
    assert all(ip in table.stdout for ip in nodes)


def test_queued_scenarios_start_as_the_cluster_has_room(ray_platform, ray_cluster):
    """More scenarios than the cluster has CPUs: they wait in the platform's queue (PENDING), never
    more RUNNING than the capacity, start in created order, and all complete."""
    platform, key, strategy_id, version_id = ray_platform
    capacity = int(ray.cluster_resources()["CPU"])  # a run asks for 1 CPU
    ids = [platform.create(key, strategy_id, minutes_config(version_id, days=3))["scenarioId"]
           for _ in range(capacity + 3)]
    most = 0
    deadline = time.monotonic() + 300
    while True:
        states = [platform.get(key, strategy_id, i)["state"] for i in ids]
        most = max(most, states.count("RUNNING"))
        assert states.count("RUNNING") <= capacity, states
        if all(state in ("COMPLETE", "FAILED", "CANCELLED") for state in states):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    done = [platform.get(key, strategy_id, i) for i in ids]
    assert [d["state"] for d in done] == ["COMPLETE"] * len(ids), [d["failureReason"] for d in done]
    # what the store recorded: how many ran at once, at most
    events = sorted([(d["startedAt"], 1) for d in done] + [(d["finishedAt"], -1) for d in done],
                    key=lambda e: (e[0], e[1]))
    at_once = max(itertools.accumulate(change for _, change in events))
    assert 1 < at_once <= capacity, (at_once, done)  # more than TEKTII_MAX_CONCURRENT_RUNS=1: it does not apply
    started = [d["startedAt"] for d in done]
    assert started == sorted(started)
    assert {d["execution"]["backend"] for d in done} == {"ray"}
    assert {d["execution"]["node"] for d in done} <= {n.ip for n in ray_cluster.nodes.values()}


def test_a_run_whose_node_is_lost_starts_again_on_another_node(ray_platform, ray_cluster):
    platform, key, strategy_id, version_id = ray_platform
    names = {name: node for node, name in ray_cluster.node_names().items()}

    @ray.remote(num_cpus=1)
    def hold(seconds: float) -> None:
        time.sleep(seconds)

    # the head's CPU busy: the run goes to a worker node, and its second start to the other one
    blocker = hold.options(scheduling_strategy=NodeAffinitySchedulingStrategy(names["head"], soft=False)).remote(300)
    try:
        scenario_id = platform.create(key, strategy_id, minutes_config(version_id, days=12, retries=1))["scenarioId"]
        deadline = time.monotonic() + 120
        while not ((platform.get(key, strategy_id, scenario_id).get("progress") or {}).get("fraction")):
            assert time.monotonic() < deadline, platform.get(key, strategy_id, scenario_id)
            time.sleep(0.2)
        node = next(name for name in WORKERS if any(run_process(pid) for pid in ray_cluster.pids(name)))
        ray_cluster.kill_raylet(node)
        scenario = platform.wait(key, strategy_id, scenario_id, timeout=240)
        assert scenario["state"] == "COMPLETE", scenario
        other = next(name for name in WORKERS if name != node)
        assert scenario["execution"]["node"] == ray_cluster.nodes[other].ip
        run = platform.data_dir / "runs" / scenario_id
        assert "tektii: worker node lost; starting the run again (attempt 2 of 2)" in (run / "strategy.log").read_text()
        assert json.loads((run / "result.json").read_text())["state"] == "COMPLETE"
    finally:
        ray.cancel(blocker, force=True)
        ray_cluster.restore_nodes(WORKERS)


def test_a_restarted_platform_finds_its_runs_again_or_fails_them_with_the_reason(ray_platform, ray_cluster):
    """SIGKILL the platform mid-run: its runs' actors (detached) go on. Started again on the same
    data directory, it reattaches the run whose actor is still there, which completes; the one whose
    actor was killed meanwhile ends FAILED with the reason. Nothing stays RUNNING."""
    platform, key, strategy_id, version_id = ray_platform
    kept, lost = (platform.create(key, strategy_id, minutes_config(version_id, days=days))["scenarioId"]
                  for days in (16, 12))
    for scenario_id in (kept, lost):
        deadline = time.monotonic() + 120
        while not ((platform.get(key, strategy_id, scenario_id).get("progress") or {}).get("fraction")):
            assert time.monotonic() < deadline, platform.get(key, strategy_id, scenario_id)
            time.sleep(0.2)
    platform.kill()
    ray.kill(ray.get_actor(f"tektii-run-{lost}-1", namespace="tektii"))
    platform.start()
    scenario = platform.wait(key, strategy_id, kept, timeout=240)
    assert scenario["state"] == "COMPLETE", scenario
    assert json.loads((platform.data_dir / "runs" / kept / "result.json").read_text())["state"] == "COMPLETE"
    failed = platform.wait(key, strategy_id, lost, timeout=60)
    assert (failed["state"], failed["failureReason"]) == (
        "FAILED", "The platform stopped during the run; it was not found again on the execution backend")
    wait_until_no_run_processes(ray_cluster, list(ray_cluster.nodes), timeout=60)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# (the strategy: the template's main.py; the raylet's own command line names agent/main.py)
RUN_PROCESSES = (b"ray::backtest_task", b"ray::RunActor", b"tektii_engine.worker", b"ma-crossover/main.py")


def run_process(pid: int) -> bool:
    """A process of a run (one runs at a time here): its Ray task, its worker, its strategy."""
    return any(part in cmdline(pid) for part in RUN_PROCESSES)


def wait_until_no_run_processes(cluster, nodes: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while left := {name: [cmdline(p)[:120] for p in pids]
                   for name in nodes if (pids := [p for p in cluster.pids(name) if run_process(p)])}:
        assert time.monotonic() < deadline, f"run processes still there after {timeout} s: {left}"
        time.sleep(0.2)

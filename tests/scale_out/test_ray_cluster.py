"""Backtests as Ray tasks on a real three-node cluster (the `ray_cluster` fixture: a head and two
1-CPU worker nodes in network namespaces, this process a Ray Client driver; docs/testing.md).

What the Ray execution backend (issue 12) relies on: a template strategy run in the process
runtime on any node gives the local result bit for bit, tasks spread over both worker nodes, and
a node whose raylet dies fails its task with `ray.exceptions.NodeDiedError` within seconds
while the other nodes' tasks complete."""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (scripts/setup)")

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
    from tektii_engine.config import TIMEFRAMES
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


def task_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"ray::backtest_task" in cmdline or b"ma-crossover/main.py" in cmdline


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
        deadline = time.monotonic() + 30
        while any(task_process(pid) for pid in ray_cluster.pids("w2")):
            assert time.monotonic() < deadline, "the dead node's task or strategy process still runs after 30 s"
            time.sleep(0.2)

        node, result = ray.get(survivor, timeout=120)
        assert names["w1"] == node
        assert result["state"] == "COMPLETE" and result["trades"]
        assert same(result, backtest("ma-crossover", survivor_config, 4))
    finally:
        # the session's cluster stays whole for the tests after this one
        ray_cluster.restart_node("w2")
        ray_cluster.wait_for_nodes(3)

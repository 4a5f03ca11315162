"""Scale-out on a real Ray cluster, in one run: the wall time of N short scenarios on one worker
node vs two (ratio one / two), and the per-run overhead of the ray backend against the local
backend (one short scenario at a time, create to COMPLETE).

The cluster is the test suite's (tests/tektii_clusters.py: network namespaces of this process's
own on a bridge, so it needs root): a head with no CPU, so that runs go to the worker nodes
only, and two worker nodes with 1 CPU each. A platform with ``TEKTII_EXECUTION_BACKEND=ray`` on
the bridge's host address (which the nodes reach) runs the scenarios through its API; its
scheduler starts them as the cluster has room. The one-node phase stops the second worker
node's processes and waits until the platform sees it gone. The reference for the overhead is
a platform with the local backend on loopback, same data, same scenario.

    sudo .venv/bin/python benchmarks/bench_scale_out.py [--scenarios 8] [--days 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from tektii_clusters import RayCluster  # noqa: E402
from tektii_testkit import ServedPlatform  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)


def config(version_id: str, days: int) -> dict:
    return {"strategyVersionId": version_id, "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
            "startTime": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endTime": (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"), "initialCapital": 100000}


class Desk:
    """A platform process with an admin, the candles and a template version."""

    def __init__(self, root: Path, env: dict[str, str], host: str, days: int):
        self.platform = ServedPlatform(root / "data", {"TEKTII_RUNTIME": "process", "RAY_USAGE_STATS_ENABLED": "0",
                                                       **env}, host)
        self.platform.env["TEKTII_RUN_PLATFORM_URL"] = self.platform.url
        self.platform.start()
        self.key = self.platform.new_user("bench", admin=True)
        end = (START + timedelta(days=days + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.platform.generate(self.key, "C:BTCUSD", "2024-01-01T00:00:00Z", end)
        self.strategy = self.platform.strategy(self.key, "bench")
        self.version = self.platform.template_version(self.key, self.strategy)

    def batch(self, count: int, days: int) -> float:
        """Seconds from the first create until all `count` scenarios are COMPLETE."""
        started = time.perf_counter()
        ids = [self.platform.create(self.key, self.strategy, config(self.version, days))["scenarioId"]
               for _ in range(count)]
        for scenario_id in ids:
            done = self.platform.wait(self.key, self.strategy, scenario_id, timeout=900)
            if done["state"] != "COMPLETE":
                raise SystemExit(f"scenario {scenario_id} ended {done['state']}: {done['failureReason']}")
        return time.perf_counter() - started

    def alive_nodes(self) -> int:
        execution = self.platform.ok("GET", "/v1/platform/execution", self.key)
        return sum(n["alive"] and n["cpu"]["total"] > 0 for n in execution["cluster"]["nodes"])

    def close(self) -> None:
        self.platform.stop()
        self.platform.http.close()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=8, help="scenarios per batch")
    parser.add_argument("--days", type=int, default=2, help="each scenario's window (1m candles)")
    parser.add_argument("--repeat", type=int, default=3, help="single runs per backend for the overhead (median)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_scale_out needs root (the Ray cluster's network namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tektii-bench-scale-") as tmp, RayCluster(head_cpus=0) as cluster:
        root = Path(tmp)
        ray_desk = Desk(root / "ray", {"TEKTII_EXECUTION_BACKEND": "ray", "RAY_ADDRESS": cluster.client_address},
                        cluster.host_ip, args.days)
        local_desk = Desk(root / "local", {"TEKTII_EXECUTION_BACKEND": "local", "TEKTII_MAX_CONCURRENT_RUNS": "1"},
                          "127.0.0.1", args.days)
        try:
            wait_for(lambda: ray_desk.alive_nodes() == 2, 120, "two worker nodes")
            ray_desk.batch(1, 1)  # warm-up: the nodes' first imports, the platforms' first runs
            local_desk.batch(1, 1)
            local_runs, ray_runs = [], []
            for _ in range(args.repeat):  # alternating, so that load changes hit both alike
                local_runs.append(local_desk.batch(1, args.days))
                ray_runs.append(ray_desk.batch(1, args.days))
            two = ray_desk.batch(args.scenarios, args.days)
            cluster.stop_node("w2")
            wait_for(lambda: ray_desk.alive_nodes() == 1, 180, "the second worker node gone")
            one = ray_desk.batch(args.scenarios, args.days)
        finally:
            ray_desk.close()
            local_desk.close()
    local, remote = statistics.median(local_runs), statistics.median(ray_runs)
    print(f"{args.scenarios} scenarios of {args.days} days (1m candles, ma-crossover, process runtime), "
          f"1-CPU worker nodes")
    print(f"  one worker node    {one:7.2f} s")
    print(f"  two worker nodes   {two:7.2f} s   ratio one / two: {one / two:5.2f}x")
    print(f"one scenario at a time, create to COMPLETE, median of {args.repeat}")
    print(f"  local backend (reference) {local:6.2f} s")
    print(f"  ray backend               {remote:6.2f} s   overhead per run {remote - local:+6.2f} s"
          f"   ratio ray / local: {remote / local:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

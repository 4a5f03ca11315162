"""The fixed cost of a short run: wall time of `tektii scenario create ... --wait` for a
1-day scenario in the docker runtime, as a ratio to `docker run --rm python:3.11-slim true`
(the least a container run can cost here), both timed in this run.

A real platform (`tektii platform serve`) in a temporary data directory, with one day of
generated 1m candles and the ma-crossover template as the version (its image is built once
and kept by content hash); the CLI waits as a user's would. Runs alternate with the
reference; medians are printed, with the worker's own phases from each run's worker.log
(the rest of the wait is the CLI's start, the request, the hand-over to the spare worker
and the result's way back).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_short_scenario.py [--runs N]

Needs a running Docker engine and the provisioned python:3.11-slim.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tektii_platform import daemon

CONFIG = {
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-01-02T00:00:00Z",
    "initialCapital": 100000,
    "positionMode": "netting",
}


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tektii = shutil.which("tektii", path=str(Path(sys.executable).parent)) or "tektii"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        info = daemon.start_background(data_dir, port=0)
        try:
            _user, key = daemon.bootstrap_local_user(data_dir)
            auth = {"X-API-Key": key}
            api = f"{info.url}/v1"
            strategy = requests.post(f"{api}/strategies", json={"name": "short"}, headers=auth, timeout=30)
            sid = strategy.json()["data"]["id"]
            version = requests.post(f"{api}/strategies/{sid}/versions", headers=auth, timeout=30,
                                    json={"gitSha": "abc1234", "template": "ma-crossover"})
            config = Path(tmp) / "config.json"
            config.write_text(json.dumps({**CONFIG, "strategyVersionId": version.json()["data"]["id"]}))
            requests.post(f"{api}/instruments/C:BTCUSD/generate", headers=auth, timeout=300,
                          json={"start": "2023-12-31T00:00:00Z", "end": "2024-01-02T00:00:00Z", "seed": 1})
            env = {**os.environ, "TEKTII_API_URL": info.url, "TEKTII_API_KEY": key,
                   "TEKTII_CONFIG_DIR": f"{tmp}/config", "XDG_CACHE_HOME": f"{tmp}/cache"}
            scenario = [tektii, "--output", "json", "scenario", "create", sid, "--config", str(config), "--wait"]
            reference = ["docker", "run", "--rm", "python:3.11-slim", "true"]
            timed(scenario, env)  # warm-up: builds the template image, fills caches
            timed(reference, env)
            ours, refs = [], []
            for _ in range(args.runs):
                ours.append(timed(scenario, env))
                refs.append(timed(reference, env))
            phases = worker_phases(data_dir / "runs")
        finally:
            daemon.stop(data_dir)
    ratio = statistics.median(o / r for o, r in zip(ours, refs, strict=True))
    print(f"1-day docker scenario, create -> --wait returns: {statistics.median(ours):6.2f} s  (median of {args.runs})")
    print(f"docker run --rm python:3.11-slim true:           {statistics.median(refs):6.2f} s")
    print(f"ratio scenario / docker run: {ratio:.2f}x")
    if phases:
        print("in the worker (median): " + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in phases.items()))
    return 0


def worker_phases(runs_dir: Path) -> dict[str, list[float]]:
    """The worker's own phases of every run, from the line it ends worker.log with."""
    phases: dict[str, list[float]] = {}
    for log in runs_dir.glob("*/worker.log"):
        for name, seconds in re.findall(r"(\w+) ([0-9.]+) s", log.read_text().partition("tektii worker: ")[2]):
            phases.setdefault(name, []).append(float(seconds))
    return phases


if __name__ == "__main__":
    sys.exit(main())

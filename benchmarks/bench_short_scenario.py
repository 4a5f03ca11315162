"""The fixed cost of a short run: wall time of `tektii scenario create ... --wait` for a
1-day scenario in the docker runtime, as a ratio to `docker run --rm python:3.11-slim true`
(the least a container run can cost here), both timed in this run. A 2-day scenario is
timed too: the difference is one day's replay, so 1-day minus it is the fixed cost.

A real platform (`tektii platform serve`) in a temporary data directory, with one day of
generated 1m candles and the ma-crossover template as the version (its image is built once
and kept by content hash); the CLI waits as a user's would. Runs alternate with the
reference; medians are printed, with the worker's own phases from the platform's log (each worker's last stderr line)
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


def timed(command: list[str], env: dict[str, str], ids: list[str] | None = None) -> float:
    """Seconds `command` took; the scenario id it printed goes to `ids`."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    if ids is not None:
        ids.append(json.loads(done.stdout)["data"]["scenarioId"])
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # As installed: with bytecode caches (where writing them is off, every CLI start would
    # compile tektii's modules again, ~0.1-0.2 s that an installed package does not pay).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
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
            version_id = version.json()["data"]["id"]
            config, two_days = Path(tmp) / "config.json", Path(tmp) / "two-days.json"
            config.write_text(json.dumps({**CONFIG, "strategyVersionId": version_id}))
            two_days.write_text(json.dumps({**CONFIG, "endTime": "2024-01-03T00:00:00Z", "strategyVersionId": version_id}))
            requests.post(f"{api}/instruments/C:BTCUSD/generate", headers=auth, timeout=300,
                          json={"start": "2023-12-31T00:00:00Z", "end": "2024-01-03T00:00:00Z", "seed": 1})
            env = {**os.environ, "TEKTII_API_URL": info.url, "TEKTII_API_KEY": key,
                   "TEKTII_CONFIG_DIR": f"{tmp}/config", "XDG_CACHE_HOME": f"{tmp}/cache"}
            scenario = [tektii, "--output", "json", "scenario", "create", sid, "--config", str(config), "--wait"]
            reference = ["docker", "run", "--rm", "python:3.11-slim", "true"]
            timed(scenario, env)  # warm-up: builds the template image, fills caches
            timed(reference, env)
            ours, longer, refs, one_day_ids = [], [], [], []
            for _ in range(args.runs):
                ours.append(timed(scenario, env, one_day_ids))
                refs.append(timed(reference, env))
                longer.append(timed([*scenario[:-3], "--config", str(two_days), "--wait"], env))
            phases = worker_phases(data_dir / daemon.LOG_FILE, one_day_ids)
        finally:
            daemon.stop(data_dir)
    ratio = statistics.median(o / r for o, r in zip(ours, refs, strict=True))
    print(f"1-day docker scenario, create -> --wait returns: {statistics.median(ours):6.2f} s  (median of {args.runs})")
    print(f"docker run --rm python:3.11-slim true:           {statistics.median(refs):6.2f} s")
    print(f"ratio scenario / docker run: {ratio:.2f}x")
    # One more day of replay costs (2-day - 1-day); what a 1-day run pays besides its replay:
    fixed = 2 * statistics.median(ours) - statistics.median(longer)
    print(f"2-day scenario: {statistics.median(longer):6.2f} s; the 1-day run's fixed cost (1-day minus one day's"
          f" replay): {fixed:.2f} s, {fixed / statistics.median(refs):.2f}x docker run")
    if phases:
        print("1-day, in the worker (median): " + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in phases.items()))
    return 0


def worker_phases(platform_log: Path, ids: list[str]) -> dict[str, list[float]]:
    """The worker's own phases of these runs, from the line each ends with (its stderr is in
    the platform's log, as `<run id> (pid N): tektii worker: prepare 0.08 s, ...`)."""
    phases: dict[str, list[float]] = {}
    lines = platform_log.read_text(errors="replace").splitlines()
    for run_id in ids:
        ends = [line for line in lines if line.find(f"{run_id} (pid ") >= 0 and "tektii worker: " in line]
        for name, seconds in re.findall(r"(\w+) ([0-9.]+) s", ends[-1].partition("tektii worker: ")[2] if ends else ""):
            phases.setdefault(name, []).append(float(seconds))
    return phases


if __name__ == "__main__":
    sys.exit(main())

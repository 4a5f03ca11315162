"""Sweep overhead: the wall time of an N-trial grid sweep (default 12) against the same N
scenarios created one after another by a script, measured in the same run on a real platform
process (process runtime, real hourly EUR/USD from gym-anytrading, the ma-crossover template).

Both finish when the last scenario is COMPLETE, polled every 0.1 s; the ratio sweep / script
is the sweep's own cost (driver, trial bookkeeping) on top of the scenarios, ~1.00 when none.
With --repeat N the two alternate in order (script first, then sweep first, ...) and the
medians are compared: on a shared machine one pair is noisy.

On a loaded machine the runs themselves slow down unevenly, so it also prints, per side, the
time outside the runs: wall time minus the runs' own time (each run's started_at..finished_at
in the platform's database) spread over the parallel slots. That is the queueing and
bookkeeping the sweep could add, and it hardly moves with the load.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sweep.py [--trials 12] [--days 14] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from tektii_platform import daemon

START = datetime(2017, 2, 1, tzinfo=UTC)
FINISHED = ("COMPLETE", "FAILED", "CANCELLED")


def eurusd_csv() -> bytes:
    for file in importlib.metadata.distribution("gym-anytrading").files or []:
        if str(file) == "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv":
            return Path(str(file.locate())).read_bytes()
    raise SystemExit("gym-anytrading's EUR/USD file is needed (scripts/setup installs it)")


def wait_all(session: requests.Session, url: str, strategy: str, ids: set[str]) -> None:
    """Until every scenario of `ids` is COMPLETE: one list request per poll, as the sweep's
    single GET per poll (polling each scenario would load the machine the runs share)."""
    pending = set(ids)
    while pending:
        page = session.get(f"{url}/v1/strategies/{strategy}/scenarios", params={"limit": 100}, timeout=30).json()["data"]
        for data in page["scenarios"]:
            if data["scenarioId"] in pending and data["state"] in FINISHED:
                if data["state"] != "COMPLETE":
                    raise SystemExit(f"{data['scenarioId']} ended {data['state']}: {data.get('failureReason')}")
                pending.discard(data["scenarioId"])
        time.sleep(0.1)


def run_seconds(data_dir: Path, ids: set[str]) -> float:
    """The runs' own time: the sum of started_at..finished_at (stored to the microsecond)."""
    def at(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")

    conn = sqlite3.connect(data_dir / "tektii.db")
    try:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT started_at, finished_at FROM scenarios WHERE id IN ({marks})", list(ids)).fetchall()
    finally:
        conn.close()
    return sum((at(end) - at(start)).total_seconds() for start, end in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12, help="trials of the sweep (and scenarios of the script)")
    parser.add_argument("--days", type=int, default=14, help="length of each scenario's window")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of measurements (medians are compared)")
    args = parser.parse_args()
    os.environ.setdefault("TEKTII_RUNTIME", "process")  # the platform process inherits it
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        info = daemon.start_background(data_dir, port=0)
        try:
            _user, key = daemon.bootstrap_local_user(data_dir)
            url = info.url
            with requests.Session() as session:
                session.headers["X-API-Key"] = key
                session.post(f"{url}/v1/instruments/F:EURUSD/import", data=eurusd_csv(), timeout=120).raise_for_status()
                strategy = session.post(f"{url}/v1/strategies", json={"name": "bench"}, timeout=30).json()["data"]["id"]
                version = session.post(f"{url}/v1/strategies/{strategy}/versions", timeout=30,
                                       json={"gitSha": "bench01", "template": "ma-crossover"}).json()["data"]["id"]
                base = {"strategyVersionId": version, "subscriptions": [{"instrument": "F:EURUSD", "events": ["candle_1h"]}],
                        "startTime": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "endTime": (START + timedelta(days=args.days)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                fasts = [str(3 + k) for k in range(args.trials)]
                scenarios = f"{url}/v1/strategies/{strategy}/scenarios"

                def script(values: list[str]) -> tuple[float, set[str]]:
                    started = time.perf_counter()
                    ids = set()
                    for fast in values:
                        config = {**base, "environment": {"FAST_PERIOD": fast, "SLOW_PERIOD": "40"}}
                        ids.add(session.post(scenarios, json=config, timeout=30).json()["data"]["scenarioId"])
                    wait_all(session, url, strategy, ids)
                    return time.perf_counter() - started, ids

                def sweep_run() -> tuple[float, dict]:
                    started = time.perf_counter()
                    body = {"config": base, "parameters": {"FAST_PERIOD": fasts, "SLOW_PERIOD": ["40"]}}
                    sweep = session.post(f"{url}/v1/strategies/{strategy}/sweeps", json=body, timeout=30).json()["data"]
                    while sweep["state"] == "RUNNING":
                        time.sleep(0.1)
                        sweep = session.get(f"{url}/v1/sweeps/{sweep['sweepId']}", timeout=30).json()["data"]
                    if sweep["state"] != "COMPLETE" or sweep["counts"]["COMPLETE"] != args.trials:
                        raise SystemExit(f"the sweep ended {sweep['state']}: {sweep['counts']}")
                    return time.perf_counter() - started, sweep

                script(fasts[:1])  # warm-up: first imports, page cache of the data
                references, sweeps, outside_ref, outside_sweep = [], [], [], []

                def measure_script() -> None:
                    took, ids = script(fasts)
                    references.append(took)
                    outside_ref.append(took - run_seconds(data_dir, ids) / parallel)

                def measure_sweep() -> dict:
                    took, sweep = sweep_run()
                    sweeps.append(took)
                    ids = {t["scenarioId"] for t in sweep["trials"]}
                    outside_sweep.append(took - run_seconds(data_dir, ids) / parallel)
                    return sweep

                parallel = min(args.trials, int(os.environ.get("TEKTII_MAX_CONCURRENT_RUNS") or 2))
                for r in range(args.repeat):
                    if r % 2 == 0:
                        measure_script()
                        sweep = measure_sweep()
                    else:
                        sweep = measure_sweep()
                        measure_script()
                reference, swept = statistics.median(references), statistics.median(sweeps)
            print(f"{args.trials} scenarios, {args.days}-day windows, {sweep['parallelism']} at a time, median of {args.repeat}, "
                  f"server pid {info.pid}")
            runs = f"reference {' '.join(f'{t:.2f}' for t in references)}; sweep {' '.join(f'{t:.2f}' for t in sweeps)}"
            print(f"  each run (s): {runs}")
            print(f"  {args.trials} scenarios created one after another (reference) {reference:7.2f} s")
            print(f"  sweep of {args.trials} trials {' ' * 30}{swept:7.2f} s   ratio sweep / reference {swept / reference:5.2f}")
            print(f"  outside the runs (s): reference {' '.join(f'{t:.2f}' for t in outside_ref)}; "
                  f"sweep {' '.join(f'{t:.2f}' for t in outside_sweep)}; "
                  f"medians {statistics.median(outside_ref):.2f} / {statistics.median(outside_sweep):.2f}")
        finally:
            daemon.stop(data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

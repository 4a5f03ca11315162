"""The per-run cost of the location-independent run contract: a worker reading its window's
candles from the platform (``GET /v1/runs/{id}/candles``, an Arrow IPC stream over HTTP on
loopback, tektii_engine.platform_link) and sending its result (``PUT /v1/runs/{id}/result``),
as a ratio to reading the same candles straight from the platform's candle store on disk (what
the worker did before it could run anywhere) and writing the result file, both timed in this run.

A real platform (background ``tektii platform serve``) in a temporary data directory with
generated 1m candles; a RUNNING scenario row and its run token stand in for a scheduled run.
Medians of --repeat rounds after one warm-up (imports); the HTTP path alternates with the direct one.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_run_contract.py [--days N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from tektii_core.timeutil import format_time, to_epoch
from tektii_engine.data.store import CandleStore
from tektii_engine.platform_link import PlatformLink
from tektii_platform import daemon, run_tokens
from tektii_platform.db import open_database
from tektii_platform.store import scenarios
from tektii_platform.store.tables import scenarios as table

START = "2024-01-01T00:00:00Z"


def running_scenario(data_dir: Path, url: str, key: str, config: dict) -> tuple[str, str]:
    auth = {"X-API-Key": key}
    sid = requests.post(f"{url}/v1/strategies", json={"name": f"bench-{time.monotonic_ns()}"}, headers=auth,
                        timeout=30).json()["data"]["id"]
    version = requests.post(f"{url}/v1/strategies/{sid}/versions", headers=auth, timeout=30,
                            json={"gitSha": "abc1234", "template": "ma-crossover"}).json()["data"]["id"]
    owner = requests.get(f"{url}/v1/me", headers=auth, timeout=30).json()["data"]["id"]
    db = open_database(data_dir)
    try:
        with db.transaction():
            row = scenarios.create(db, sid, owner, {**config, "strategyVersionId": version})
            db.execute(table.update().where(table.c.id == row["id"]).values(state="RUNNING"))
        return row["id"], run_tokens.issue(db, row["id"], 3600)
    finally:
        db.close()


def read_all(feed, start: int, end: int) -> int:
    return sum(len(chunk) for chunk in feed("C:BTCUSD", "1m", start, end))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="the window's length")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start, end = to_epoch(START), to_epoch(START) + args.days * 86400
    config = {"subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}], "startTime": START,
              "endTime": format_time(end), "initialCapital": 100000, "positionMode": "netting"}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        info = daemon.start_background(data_dir, port=0)
        try:
            _user, key = daemon.bootstrap_local_user(data_dir)
            requests.post(f"{info.url}/v1/instruments/C:BTCUSD/generate", headers={"X-API-Key": key}, timeout=600,
                          json={"start": START, "end": format_time(end), "seed": 1}).raise_for_status()
            scenario_id, token = running_scenario(data_dir, info.url, key, config)
            link = PlatformLink(info.url, token, scenario_id)
            store = CandleStore(data_dir / "market-data")
            result = json.dumps({"state": "COMPLETE", "equityCurve": [[start + i * 60, 1e5 + i] for i in range(20_000)]},
                                separators=(",", ":")).encode()
            read_all(link.candles, start, end)  # warm-up: the platform's first request imports pyarrow.ipc
            http, fetched, direct, candles = [], [], [], 0
            for _ in range(args.repeat):
                began = time.perf_counter()
                candles = read_all(link.candles, start, end)
                fetched.append(time.perf_counter() - began)
                link.session.put(f"{link.base}/result", data=result, timeout=60,
                                 headers={"Content-Type": "application/json"}).raise_for_status()
                http.append(time.perf_counter() - began)
                began = time.perf_counter()
                assert read_all(store.read, start, end) == candles
                target = Path(tmp) / "result.json"
                target.write_bytes(result)
                os.replace(target, Path(tmp) / "result-final.json")
                direct.append(time.perf_counter() - began)
            link.close()
        finally:
            daemon.stop(data_dir)
    ours, ref = statistics.median(http), statistics.median(direct)
    print(f"{args.days} days, {candles:,} candles, a {len(result) / 2**20:.1f} MiB result, median of {args.repeat}")
    print(f"over HTTP (candles stream + result upload) {ours * 1000:8.1f} ms"
          f"  (candles {statistics.median(fetched) * 1000:.1f} ms)")
    print(f"from disk (candle store + result file)     {ref * 1000:8.1f} ms")
    print(f"per-run overhead {(ours - ref) * 1000:.1f} ms; ratio http / disk: {ours / ref:.2f}x")


if __name__ == "__main__":
    main()

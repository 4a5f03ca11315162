"""Worker peak RSS for a long window as a ratio to a short one (aim: <= 1.2), in one run.

The real worker (`python -m tektii_engine.worker run.json`, as the local backend starts it)
runs the ma-crossover template in the process runtime over generated 1m candles, once for
a short window (default 31 days) and once for a long one (default 366 days). Its peak
resident set (VmHWM, of the worker process alone: the strategy is another process) is
sampled from /proc until it exits. Memory that grows with the window shows as a ratio
above 1; streaming the window keeps it near 1.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_worker_memory.py [--short DAYS] [--long DAYS]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tektii_engine.config import rfc3339, to_epoch
from tektii_engine.data.generate import write_generated
from tektii_engine.data.store import CandleStore

START = "2024-01-01T00:00:00Z"


def peak_rss_mib(pid: int, proc: subprocess.Popen) -> float:
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.05)
    return peak / 1024


def run_worker(tmp: Path, market: Path, days: int) -> tuple[float, float, int]:
    run_dir = tmp / f"run-{days}"
    run_dir.mkdir()
    end = rfc3339(to_epoch(START) + days * 86400)
    config = {"strategyVersionId": "ver_bench", "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
              "startTime": START, "endTime": end, "initialCapital": 100000, "positionMode": "netting",
              "commissionBps": 0, "slippageBps": 0, "forexLeverage": 30, "riskFreeRate": 0, "environment": {}}
    spec = {"scenarioId": f"scen_mem{days}", "config": config, "runDir": str(run_dir), "marketDataDir": str(market),
            "runtime": "process", "image": None, "template": "ma-crossover", "pullAuth": None, "limits": {}}
    (run_dir / "run.json").write_text(json.dumps(spec))
    started = time.perf_counter()
    with open(run_dir / "worker.log", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "tektii_engine.worker", str(run_dir / "run.json")],
                                stdout=subprocess.DEVNULL, stderr=stderr, cwd=run_dir)
        peak = peak_rss_mib(proc.pid, proc)
        proc.wait()
    result = json.loads((run_dir / "result.json").read_text())
    if result["state"] != "COMPLETE":
        raise SystemExit(f"{days}-day run {result['state']}: {result.get('reason')}")
    return peak, time.perf_counter() - started, result["counters"]["candles"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=31, help="days")
    parser.add_argument("--long", type=int, default=366, help="days")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        market = Path(tmp) / "market-data"
        write_generated(CandleStore(market), "C:BTCUSD", START, rfc3339(to_epoch(START) + args.long * 86400))
        short = run_worker(Path(tmp), market, args.short)
        long = run_worker(Path(tmp), market, args.long)
    for days, (peak, wall, candles) in ((args.short, short), (args.long, long)):
        print(f"{days:4} days: {candles:8,} candles  worker peak RSS {peak:6.1f} MiB  ({wall:.1f} s)")
    print(f"ratio worker peak RSS {args.long} / {args.short} days: {long[0] / short[0]:.2f}  (aim <= 1.2)")


if __name__ == "__main__":
    main()

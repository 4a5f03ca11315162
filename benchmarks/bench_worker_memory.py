"""Worker peak RSS for a long window as a ratio to a short one (aim: <= 1.2), in one run.

The real worker (`python -m tektii_engine.worker -`, the RunSpec on stdin, as the local backend
starts it) runs the ma-crossover template in the process runtime over generated 1m candles it
streams from a real platform (background `tektii platform serve`), once for
a short window (default 31 days) and once for a long one (default 366 days). Its peak
resident set (VmHWM, of the worker process alone: the strategy is another process) is
sampled from /proc until it exits. Memory that grows with the window shows as a ratio
above 1; streaming the window keeps it near 1.

By default the template's periods are set so that it never trades: what is measured is the
window, not the trades. With --trading it trades with its defaults (about 13 000 round trips
a year on 1m candles): the broker keeps every order and fill for the API and the results
(about 1.7 KB each), so memory then grows with the number of trades.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_worker_memory.py [--short DAYS] [--long DAYS] [--trading]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tektii_core.timeutil import format_time, to_epoch
from tektii_engine.data.generate import write_generated
from tektii_engine.data.store import CandleStore
from tektii_platform import daemon

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


NO_TRADES = {"FAST_PERIOD": "999999", "SLOW_PERIOD": "1000000"}  # its SMAs never fill


def run_worker(platform: tuple[Path, str, str], days: int, environment: dict[str, str]) -> tuple[float, float, int]:
    from bench_run_contract import running_scenario  # noqa: I001 - a sibling script

    from tektii_core.contracts import RunSpec
    from tektii_core.models import run_spec_to_json

    data_dir, url, key = platform
    end = format_time(to_epoch(START) + days * 86400)
    config = {"strategyVersionId": "ver_bench", "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
              "startTime": START, "endTime": end, "initialCapital": 100000, "positionMode": "netting",
              "commissionBps": 0, "slippageBps": 0, "forexLeverage": 30, "riskFreeRate": 0, "environment": environment}
    scenario_id, token = running_scenario(data_dir, url, key, config)
    spec = RunSpec(scenario_id=scenario_id, config=config, platform_url=url, run_token=token, runtime="process",
                   template="ma-crossover")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tektii_engine.worker", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(run_spec_to_json(spec)).encode() + b"\n")
    proc.stdin.close()
    peak = peak_rss_mib(proc.pid, proc)
    proc.wait()
    result = json.loads((data_dir / "runs" / scenario_id / "result.json").read_text())
    if result["state"] != "COMPLETE":
        raise SystemExit(f"{days}-day run {result['state']}: {result.get('reason')}")
    return peak, time.perf_counter() - started, result["counters"]["candles"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=31, help="days")
    parser.add_argument("--long", type=int, default=366, help="days")
    parser.add_argument("--trading", action="store_true", help="let the template trade (see above)")
    args = parser.parse_args()
    environment = {} if args.trading else NO_TRADES
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        info = daemon.start_background(data_dir, port=0)
        try:
            _user, key = daemon.bootstrap_local_user(data_dir)
            write_generated(CandleStore(data_dir / "market-data"), "C:BTCUSD", START,
                            format_time(to_epoch(START) + args.long * 86400))
            short = run_worker((data_dir, info.url, key), args.short, environment)
            long = run_worker((data_dir, info.url, key), args.long, environment)
        finally:
            daemon.stop(data_dir)
    print("ma-crossover " + ("trading" if args.trading else "not trading (window only)"))
    for days, (peak, wall, candles) in ((args.short, short), (args.long, long)):
        print(f"{days:4} days: {candles:8,} candles  worker peak RSS {peak:6.1f} MiB  ({wall:.1f} s)")
    print(f"ratio worker peak RSS {args.long} / {args.short} days: {long[0] / short[0]:.2f}  (aim <= 1.2)")


if __name__ == "__main__":
    main()

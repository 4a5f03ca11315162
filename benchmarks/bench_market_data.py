"""Market-data read + aggregate throughput and peak memory, for the engine's budget.

Writes one year of generated 1m candles (525,600 rows) to a CandleStore, then, each in a
fresh subprocess so that peak RSS is its own, reads the whole year aggregated to 5m, 1h and
1d through ``CandleStore.read`` (row-group chunks, carried partial bucket) and reports
rows/s and peak memory (tracemalloc, which sees numpy's buffers, plus the peak of Arrow's
memory pool; the process's max RSS is printed too). The reference, measured in the
same run, is the simplest correct alternative: ``pyarrow.parquet.read_table`` of the whole
file plus one vectorised numpy aggregation over the full arrays. Ratios > 1 mean faster
(throughput) or more memory (memory) than the reference.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_market_data.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "C:BTCUSD"
START, END = "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"  # 365 days = 525,600 minutes
TIMEFRAMES = ("5m", "1h", "1d")


def _child(kind: str, root: str, tf: str, repeat: int) -> None:
    """Run one measurement and print it as JSON (runs in its own process)."""
    import tracemalloc

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tektii_engine.data.aggregate import aggregate
    from tektii_engine.data.candles import COLUMNS, Candles
    from tektii_engine.data.store import CandleStore

    store = CandleStore(root)

    def run() -> int:
        if kind == "store":
            return sum(len(chunk) for chunk in store.read(SYMBOL, tf, START, END))
        table = pq.read_table(store.data_path(SYMBOL), columns=list(COLUMNS))
        return len(aggregate(Candles.from_arrow(table), "1m", tf))

    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        bars = run()
        best = min(best, time.perf_counter() - started)
    # Peak memory of one more run: numpy and Python allocations (tracemalloc sees numpy's)
    # plus the peak of Arrow's own pool, which tracemalloc cannot see.
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    run()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrow_peak = pa.default_memory_pool().max_memory() or 0
    print(
        json.dumps(
            {
                "seconds": best,
                "rows": store.info(SYMBOL).rows,
                "bars": bars,
                "peak_mib": (traced_peak + arrow_peak) / 2**20,
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_before_mib": rss_before / 1024,
            }
        )
    )


def _measure(kind: str, root: str, tf: str, repeat: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, root, tf, str(repeat)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="best of N reads per process")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root, tf, repeat = args.child
        _child(kind, root, tf, int(repeat))
        return 0

    sys.path.insert(0, str(ROOT))
    from tektii_engine.data.generate import generate
    from tektii_engine.data.store import CandleStore

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        candles = generate(SYMBOL, START, END, timeframe="1m", seed=0)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        CandleStore(tmp).write(SYMBOL, candles, base_timeframe="1m", source="synthetic")
        written = time.perf_counter() - started
        n = len(candles)
        print(f"{n:,} 1m candles: generated in {generated:.2f} s, written in {written:.2f} s "
              f"({n / written:,.0f} rows/s)")  # fmt: skip
        print()
        print(f"{'read + aggregate':<18}{'bars':>8}{'rows/s':>14}{'peak MiB':>10}"
              f"{'ref rows/s':>14}{'ref MiB':>9}{'speed':>8}{'memory':>8}")  # fmt: skip
        rss = []
        for tf in TIMEFRAMES:
            ours = _measure("store", tmp, tf, args.repeat)
            ref = _measure("reference", tmp, tf, args.repeat)
            ours_rate, ref_rate = ours["rows"] / ours["seconds"], ref["rows"] / ref["seconds"]
            memory_ratio = ours["peak_mib"] / ref["peak_mib"] if ref["peak_mib"] > 0 else float("nan")
            print(f"1m -> {tf:<12}{ours['bars']:>8,}{ours_rate:>14,.0f}{ours['peak_mib']:>10.1f}"
                  f"{ref_rate:>14,.0f}{ref['peak_mib']:>9.1f}{ours_rate / ref_rate:>7.2f}x"
                  f"{memory_ratio:>7.2f}x")  # fmt: skip
            assert ours["bars"] == ref["bars"], (tf, ours["bars"], ref["bars"])
            rss.append((tf, ours["maxrss_mib"], ref["maxrss_mib"]))
    print()
    print("peak MiB = tracemalloc peak (numpy, Python) + Arrow memory-pool peak, in one read.")
    print("process max RSS, MiB (store / reference): "
          + ", ".join(f"{tf} {a:.0f} / {b:.0f}" for tf, a, b in rss))  # fmt: skip
    print("speed = store rows/s / reference rows/s (chunked read costs some throughput);")
    print("memory = store peak / reference peak (the store's must not grow with the window).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

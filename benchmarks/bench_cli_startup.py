"""`tektii --help` wall time as a ratio to `python -c pass`, both measured in this run.

Usage: python benchmarks/bench_cli_startup.py [--runs N]
Aim: at most 5x (for comparison, `lean --help` measured 13x on our machines).
Also reports the first (cold cache) run and a full command that loads every plugin.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tektii = shutil.which("tektii", path=str(Path(sys.executable).parent)) or "tektii"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": tmp, "TEKTII_CONFIG_DIR": tmp}
        cold_start = time.perf_counter()
        subprocess.run([tektii, "--help"], env=env, stdout=subprocess.DEVNULL, check=True)
        cold = time.perf_counter() - cold_start
        reference = timed([sys.executable, "-c", "pass"], env, args.runs)
        help_time = timed([tektii, "--help"], env, args.runs)
        full = timed([tektii, "config", "list"], env, max(3, args.runs // 4))
    print(f"python -c pass          {reference * 1000:7.1f} ms  (reference)")
    print(f"tektii --help           {help_time * 1000:7.1f} ms  ratio {help_time / reference:5.2f}x  (aim <= 5x)")
    print(f"tektii --help (cold)    {cold * 1000:7.1f} ms  ratio {cold / reference:5.2f}x  (first run: builds the cache)")
    print(f"tektii config list      {full * 1000:7.1f} ms  ratio {full / reference:5.2f}x  (loads every plugin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Each benchmark script runs to completion (with small sizes) and prints its ratio line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_startup_benchmark_runs():
    out = run("bench_cli_startup.py", "--runs", "3")
    assert "tektii --help" in out and "ratio" in out

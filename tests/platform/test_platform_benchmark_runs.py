"""benchmarks/bench_platform_requests.py runs to completion with tiny durations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_platform_benchmark_runs():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_platform_requests.py"), "--seconds", "0.2", "--clients", "1"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if "ratio to /healthz" in ln]
    assert len(lines) == 6, done.stdout
    assert "GET /healthz (reference)" in lines[0] and lines[0].rstrip().endswith("1.00")
    assert all(re.search(r"\d+ req/s", ln) for ln in lines)

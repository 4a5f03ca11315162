"""Every benchmark script runs to completion (with small sizes) and prints its ratio against the
reference it measures in the same run. Speed itself is never asserted here."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from tektii_testkit import require

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_cli_startup_benchmark_runs():
    out = run("bench_cli_startup.py", "--runs", "3")
    assert re.search(r"tektii --help .* ratio +\d+\.\d+x", out), out


def test_market_data_benchmark_runs():
    out = run("bench_market_data.py", "--repeat", "1")
    for target in ("5m", "1h", "1d"):  # speed and memory ratios against the reference read
        assert re.search(rf"1m -> {target} .* \d+\.\d+x +\d+\.\d+x$", out, re.M), out


def test_engine_core_benchmark_runs():
    out = run("bench_engine_core.py")
    assert re.search(r"[\d,]+ candles/s", out), out


def test_engine_lockstep_benchmark_runs():
    out = run("bench_engine_lockstep.py", "300", "--pairs", "1")
    for client in ("async", "sync"):
        assert re.search(rf"{client} +client +ratio engine / reference: +\d+\.\d+", out), out


def test_gateway_rest_benchmark_runs():
    out = run("bench_gateway_rest.py", "20", "--pairs", "1")
    for call in ("get_account", "list_positions", "get_quote", "submit_order"):
        assert re.search(rf"{call} +canned +\d+ us +engine +\d+ us +ours +[-+]\d+ us +ratio +\d+\.\d+", out), out


def test_templates_benchmark_runs():
    out = run("bench_templates.py", "4000", "--pairs", "1")  # long enough for progress reports
    assert re.search(r"ratio ma-crossover / do-nothing: +\d+\.\d+", out), out


def test_worker_memory_benchmark_runs():
    out = run("bench_worker_memory.py", "--short", "1", "--long", "2")
    assert re.search(r"ratio worker peak RSS 2 / 1 days: +\d+\.\d+", out), out


def test_docker_runtime_benchmark_runs(base_image):
    out = run("bench_docker_runtime.py", "300", "--pairs", "1")
    assert re.search(r"ratio docker / process: +\d+\.\d+", out), out


def test_short_scenario_benchmark_runs(base_image):
    out = run("bench_short_scenario.py", "--runs", "1")
    assert re.search(r"ratio scenario / docker run: +\d+\.\d+x", out), out


def test_platform_benchmark_runs():
    out = run("bench_platform_requests.py", "--seconds", "0.2", "--clients", "1")
    lines = [ln for ln in out.splitlines() if "ratio to /healthz" in ln]
    assert len(lines) == 6, out
    assert "GET /healthz (reference)" in lines[0] and lines[0].rstrip().endswith("1.00")
    assert all(re.search(r"\d+ req/s", ln) for ln in lines)


def test_version_upload_benchmark_runs(base_image, registry_binary):
    out = run("bench_version_upload.py", "--runs", "1")
    assert re.search(r"tektii version upload \(unchanged\) +\d+\.\d+ s +ratio +\d+\.\d+x", out), out
    assert re.search(r"tektii version upload \(changed +\) +\d+\.\d+ s +ratio +\d+\.\d+x", out), out


def test_sweep_benchmark_runs():
    out = run("bench_sweep.py", "--trials", "4", "--days", "5")
    assert re.search(r"4 scenarios created one after another \(reference\) +\d+\.\d+ s", out), out
    assert re.search(r"sweep of 4 trials +\d+\.\d+ s +ratio sweep / reference +\d+\.\d+$", out, re.M), out


def test_scale_out_benchmark_runs():
    """A real three-node Ray cluster (tests/tektii_clusters.py): root and the ray extra."""
    require(os.geteuid() == 0, "the Ray cluster needs root (network namespaces)")
    require(importlib.util.find_spec("ray") is not None, "the ray extra is not installed (scripts/setup)")
    out = run("bench_scale_out.py", "--scenarios", "2", "--days", "1", "--repeat", "1")
    assert re.search(r"two worker nodes +\d+\.\d+ s +ratio one / two: +\d+\.\d+x", out), out
    assert re.search(r"ray backend +\d+\.\d+ s +overhead per run +[-+]\d+\.\d+ s +ratio ray / local: +\d+\.\d+x", out), out

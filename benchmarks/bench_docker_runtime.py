"""The docker runtime's lockstep throughput as a ratio to the process runtime, in one run.

The same do-nothing async `tektii` SDK strategy (bench_engine_lockstep's) runs through the
engine twice per pair: as a local process (process runtime) and as an image in the docker
runtime's sandbox. The strategy measures its own events/s from its first event to
`backtest_complete`, so container start-up is excluded; the ratio printed is the median of
interleaved pairs. Also printed: each runtime's wall time from launch to result, whose
difference is the docker path's fixed cost per run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_docker_runtime.py [events] [--pairs N]

Needs a running Docker engine and the provisioned python:3.11-slim; the strategy image is
built once (pip install tektii sniffio) and kept, tagged by the hash of its files.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine_lockstep import ASYNC_STRATEGY, T0, feed, rate_of  # noqa: E402

from tektii_core.scenario_config.validate import build_config  # noqa: E402
from tektii_engine.gateway.session import StrategyLauncher  # noqa: E402
from tektii_engine.run import RunLimits, run_backtest  # noqa: E402
from tektii_plugins.runtimes.docker import DockerRuntime  # noqa: E402
from tektii_plugins.runtimes.process import ProcessRuntime  # noqa: E402

DOCKERFILE = (
    "FROM python:3.11-slim\n"
    'RUN pip install --no-cache-dir "tektii>=1.9,<2" "sniffio>=1.3"\n'
    "COPY main.py /app/main.py\n"
    'CMD ["python", "/app/main.py"]\n'
)


def nop_image() -> str:
    from tektii_engine.runtimes.relay_image import docker_client

    digest = hashlib.sha256((DOCKERFILE + ASYNC_STRATEGY).encode()).hexdigest()[:16]
    tag = f"tektii-bench/nop:{digest}"
    client = docker_client(timeout=600)
    try:
        if not client.images.list(name=tag):
            with tempfile.TemporaryDirectory() as context:
                Path(context, "Dockerfile").write_text(DOCKERFILE)
                Path(context, "main.py").write_text(ASYNC_STRATEGY)
                client.images.build(path=context, tag=tag, pull=False, rm=True, forcerm=True)
    finally:
        client.close()
    return tag


def run(launcher: StrategyLauncher, lines: list[str], events: int) -> tuple[float, float]:
    """(events/s the strategy measured, wall seconds of the whole run)."""
    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 60 * events)
    started = time.perf_counter()
    result = run_backtest(config, feed, launcher, limits=RunLimits(ack_timeout_s=30))
    wall = time.perf_counter() - started
    if result.state != "COMPLETE":
        raise SystemExit(f"run {result.state}: {result.reason}\n" + "\n".join(lines[-20:]))
    return rate_of("\n".join(lines)), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    image = nop_image()
    DockerRuntime().ensure_ready()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "main.py"
        path.write_text(ASYNC_STRATEGY)
        procs, dockers = [], []
        for i in range(args.pairs):
            pair = []
            for kind in ("process", "docker") if i % 2 == 0 else ("docker", "process"):
                lines: list[str] = []
                if kind == "process":
                    launcher = StrategyLauncher(ProcessRuntime(), path=path, log=lines.append)
                else:
                    launcher = StrategyLauncher(DockerRuntime(), image=image, log=lines.append)
                pair.append((kind, run(launcher, lines, args.events)))
            got = dict(pair)
            procs.append(got["process"])
            dockers.append(got["docker"])
    ratio = statistics.median(d[0] / p[0] for d, p in zip(dockers, procs, strict=True))
    print(f"events per run: {args.events:,}, interleaved pairs: {args.pairs}")
    for label, runs in (("process", procs), ("docker", dockers)):
        rate = statistics.median(r for r, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"{label:8} runtime {rate:8,.0f} events/s   run wall {wall:6.2f} s")
    print(f"ratio docker / process: {ratio:.2f}  (median of pairs; aim >= 0.9)")


if __name__ == "__main__":
    main()

"""Lockstep throughput through the real SDK: engine versus a minimal reference server.

A do-nothing `tektii` SDK strategy runs as a subprocess, driven either by the engine
(gateway + broker + replay, process runtime) or by a minimal `websockets` server in this
file that only sends candle frames and waits for each ack, without compression (the
protocol's own cost, nothing more). The strategy measures its own events/s from its first
event to `backtest_complete`, so process start-up is excluded from both.

Both clients are measured: the async client (`AsyncTradingGateway`, what the templates use)
is the headline; the sync client (`TradingGateway`, a background thread) is reported too.
Engine and reference run in interleaved pairs; the ratio printed is the median of the
pairs' ratios, so slow drift of the machine cancels out.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_engine_lockstep.py [events] [--pairs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tektii_core.scenario_config.validate import build_config
from tektii_core.timeutil import format_time
from tektii_engine.data.candles import Candles
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_plugins.runtimes.process import ProcessRuntime

T0 = 1_704_067_200
ASYNC_STRATEGY = """
import asyncio, time
from tektii import AsyncTradingGateway

async def main():
    n, t0 = 0, None
    def done(event):
        print(f"RATE {(n - 1) / (time.perf_counter() - t0):.1f} {n}", flush=True)
    async with AsyncTradingGateway() as gw:
        async with gw.stream(on_backtest_complete=done) as events:
            async for event in events:
                if t0 is None:
                    t0 = time.perf_counter()
                n += 1

asyncio.run(main())
"""
SYNC_STRATEGY = """
import time
from tektii import TradingGateway

n, t0 = 0, None
with TradingGateway() as gw:
    def done(event):
        print(f"RATE {(n - 1) / (time.perf_counter() - t0):.1f} {n}", flush=True)

    with gw.stream(on_backtest_complete=done) as events:
        for event in events:
            if t0 is None:
                t0 = time.perf_counter()
            n += 1
"""


def feed(symbol, tf, start, end):
    import numpy as np

    times = np.arange(start, end, 60, dtype=np.int64)
    closes = 100 + np.sin(np.arange(len(times)) / 50.0)
    yield Candles(times, closes, closes + 0.1, closes - 0.1, closes, np.ones(len(times)))


def rate_of(text: str) -> float:
    match = re.search(r"RATE ([0-9.]+) (\d+)", text)
    if not match:
        raise SystemExit(f"strategy printed no rate:\n{text}")
    return float(match.group(1))


def engine_rate(path: Path, events: int) -> float:
    lines: list[str] = []
    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 60 * events)
    result = run_backtest(
        config,
        feed,
        StrategyLauncher(ProcessRuntime(), path=path, log=lines.append),
        limits=RunLimits(ack_timeout_s=30),
    )
    if result.state != "COMPLETE":
        raise SystemExit(f"engine run {result.state}: {result.reason}")
    return rate_of("\n".join(lines))


async def _reference(path: Path, events: int) -> float:
    """A minimal server: one frame, then wait for its ack; no compression."""
    from websockets.asyncio.server import serve

    async def handler(ws):
        for i in range(events + 1):
            t = T0 + 60 * i
            if i < events:
                frame = {
                    "type": "candle",
                    "event_id": f"evt_{i}",
                    "timestamp": format_time(t + 60),
                    "bar": {
                        "symbol": "C:BTCUSD",
                        "provider": "ref",
                        "timeframe": "1m",
                        "timestamp": format_time(t),
                        "open": "100",
                        "high": "100.1",
                        "low": "99.9",
                        "close": "100",
                        "volume": "1",
                    },
                }
            else:
                frame = {
                    "type": "backtest_complete",
                    "event_id": f"evt_{i}",
                    "timestamp": format_time(t),
                }
            await ws.send(json.dumps(frame))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("type") == "event_ack" and frame["event_id"] in reply.get(
                    "events_processed", []
                ):
                    break

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        env = {
            **os.environ,
            "TEKTII_TRADING_GATEWAY_URL": f"http://127.0.0.1:{port}",
            "TEKTII_TRADING_GATEWAY_API_KEY": "reference",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    return rate_of(out.decode())


def measure(path: Path, events: int, pairs: int) -> tuple[list[float], list[float]]:
    """Interleaved (reference, engine) pairs; the order alternates so neither always goes first."""
    refs, engs = [], []
    for i in range(pairs):
        if i % 2:
            engs.append(engine_rate(path, events))
            refs.append(asyncio.run(_reference(path, events)))
        else:
            refs.append(asyncio.run(_reference(path, events)))
            engs.append(engine_rate(path, events))
    return refs, engs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    print(f"events per run: {args.events:,}, interleaved pairs: {args.pairs}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, source in (("async", ASYNC_STRATEGY), ("sync", SYNC_STRATEGY)):
            path = Path(tmp) / f"do_nothing_{label}.py"
            path.write_text(source)
            refs, engs = measure(path, args.events, args.pairs)
            ratio = statistics.median(e / r for e, r in zip(engs, refs, strict=True))
            print(
                f"{label:5} client  reference server {statistics.median(refs):8,.0f} events/s"
                f"  engine {statistics.median(engs):8,.0f} events/s"
            )
            print(f"{label:5} client  ratio engine / reference: {ratio:.2f}  (median of pairs)")


if __name__ == "__main__":
    main()

"""Lockstep throughput through the real SDK: engine versus a minimal reference server.

The same do-nothing `tektii` SDK strategy (sync client, `gw.stream()`) runs twice as a
subprocess: once driven by the engine (gateway + broker + replay, process runtime), once by a
minimal `websockets` server in this file that only sends candle frames and waits for each
ack. The strategy measures its own events/s from its first event to `backtest_complete`, so
process start-up is excluded from both. Prints both rates and their ratio (aim: >= 0.8).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_engine_lockstep.py [events]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tektii_engine.config import BacktestConfig, rfc3339
from tektii_engine.data.candles import Candles
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_plugins.runtimes.process import ProcessRuntime

T0 = 1_704_067_200
STRATEGY = """
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
    config = BacktestConfig([("C:BTCUSD", ["candle_1m"])], T0, T0 + 60 * events)
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
    from websockets.asyncio.server import serve

    async def handler(ws):
        for i in range(events + 1):
            t = T0 + 60 * i
            if i < events:
                frame = {
                    "type": "candle",
                    "event_id": f"evt_{i}",
                    "timestamp": rfc3339(t + 60),
                    "bar": {
                        "symbol": "C:BTCUSD",
                        "provider": "ref",
                        "timeframe": "1m",
                        "timestamp": rfc3339(t),
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
                    "timestamp": rfc3339(t),
                }
            await ws.send(json.dumps(frame))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("type") == "event_ack" and frame["event_id"] in reply.get(
                    "events_processed", []
                ):
                    break

    async with serve(handler, "127.0.0.1", 0) as server:
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


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "do_nothing.py"
        path.write_text(STRATEGY)
        ref = asyncio.run(_reference(path, events))
        eng = engine_rate(path, events)
        ref2 = asyncio.run(_reference(path, events))  # again: machine noise shows as a spread
    ref_best = max(ref, ref2)
    print(f"events per run:            {events:,}")
    print(f"reference websockets server: {ref:9,.0f} / {ref2:,.0f} events/s")
    print(f"engine (gateway lockstep):   {eng:9,.0f} events/s")
    print(f"ratio engine / reference:    {eng / ref_best:.2f}  (aim >= 0.8)")


if __name__ == "__main__":
    main()

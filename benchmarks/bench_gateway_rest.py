"""The gateway's share of a REST call: the engine's gateway versus a canned-answer server.

The same async `tektii` SDK strategy times N calls of each method, at its first candle
event, against (a) the engine (gateway + broker, process runtime) and (b) a minimal aiohttp
server in this file that answers every call with a fixed body of the same shape, at once.
(b) is what the SDK, httpx and the loopback cost anyway; the difference is ours. Runs
alternate; medians of the per-call means are printed, with the ratio and our share in us,
and the server's own CPU per call (from runs of N and 2N calls), which a busy machine
disturbs far less than the wall-clock means.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_gateway_rest.py [calls] [--pairs N]
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine_lockstep import T0, feed  # noqa: E402

from tektii_core.scenario_config.validate import build_config  # noqa: E402
from tektii_engine.gateway.session import StrategyLauncher  # noqa: E402
from tektii_engine.run import RunLimits, run_backtest  # noqa: E402
from tektii_plugins.runtimes.process import ProcessRuntime  # noqa: E402

CALLS = ("get_account", "list_positions", "get_quote", "submit_order")
STRATEGY = """
import asyncio, os, time
from tektii import AsyncTradingGateway, CandleEvent

N = int(os.environ["BENCH_CALLS"])

async def timed(name, call):
    await call()  # warm: connection, caches
    t = time.perf_counter()
    for _ in range(N):
        await call()
    print(f"CALL {name} {(time.perf_counter() - t) / N * 1e6:.1f}", flush=True)

async def main():
    async with AsyncTradingGateway() as gw, gw.stream() as events:
        done = False
        async for event in events:
            if done or not isinstance(event, CandleEvent):
                continue
            done = True
            await timed("get_account", gw.get_account)
            await timed("list_positions", gw.list_positions)
            await timed("get_quote", lambda: gw.get_quote("C:BTCUSD"))
            await timed("submit_order", lambda: gw.submit_order("C:BTCUSD", "buy", "0.001", "market"))

asyncio.run(main())
"""
# Bodies as the engine answers them (same fields, same sizes, give or take a digit).
CANNED = {
    "/v1/account": {"balance": "100000", "currency": "USD", "equity": "100000", "margin_available": "100000",
                    "margin_used": "0", "unrealized_pnl": "0"},
    "/v1/positions": [],
    "/v1/quotes/C:BTCUSD": {"symbol": "C:BTCUSD", "provider": "tektii", "bid": "100.0199986667", "ask": "100.0199986667",
                            "last": "100.0199986667", "bid_size": None, "ask_size": None, "volume": None,
                            "timestamp": "2024-01-01T00:02:00Z"},
    "/v1/orders": {"id": "ord_1", "client_order_id": None, "correlation_id": None, "status": "PENDING"},
}


def means(text: str) -> dict[str, float]:
    found = dict(re.findall(r"CALL (\w+) ([0-9.]+)", text))
    if set(found) != set(CALLS):
        raise SystemExit(f"strategy printed no timings:\n{text[-3000:]}")
    return {k: float(v) for k, v in found.items()}


def engine(path: Path, calls: int) -> dict[str, float]:
    lines: list[str] = []
    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 60 * 5, environment={"BENCH_CALLS": str(calls)})
    result = run_backtest(config, feed, StrategyLauncher(ProcessRuntime(), path=path, log=lines.append),
                          limits=RunLimits(ack_timeout_s=120))
    if result.state != "COMPLETE":
        raise SystemExit(f"engine run {result.state}: {result.reason}\n" + "\n".join(lines[-20:]))
    return means("\n".join(lines))


async def _reference(path: Path, calls: int) -> dict[str, float]:
    from aiohttp import web

    bodies = {p: json.dumps(b).encode() for p, b in CANNED.items()}

    def canned(status: int = 200):
        async def handler(request: web.Request) -> web.Response:
            if request.method == "POST":
                await request.read()
            return web.Response(body=bodies[request.path], status=status, content_type="application/json")

        return handler

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        bar = {"symbol": "C:BTCUSD", "provider": "ref", "timeframe": "1m", "timestamp": "2024-01-01T00:00:00Z",
               "open": "100", "high": "100.1", "low": "99.9", "close": "100", "volume": "1"}
        frames = [{"type": "candle", "event_id": "evt_1", "timestamp": "2024-01-01T00:01:00Z", "bar": bar},
                  {"type": "backtest_complete", "event_id": "evt_2", "timestamp": "2024-01-01T00:01:00Z"}]
        for frame in frames:
            await socket.send_str(json.dumps(frame))
            await socket.receive()  # its ack
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_get("/v1/account", canned())
    app.router.add_get("/v1/positions", canned())
    app.router.add_get("/v1/quotes/{symbol}", canned())
    app.router.add_post("/v1/orders", canned(201))
    app.router.add_get("/v1/ws", ws)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = {**os.environ, "TEKTII_TRADING_GATEWAY_URL": f"http://127.0.0.1:{port}",
           "TEKTII_TRADING_GATEWAY_API_KEY": "reference", "BENCH_CALLS": str(calls)}
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, str(path), env=env, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    finally:
        await runner.cleanup()
    return means(out.decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calls", nargs="?", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rest_calls.py"
        path.write_text(STRATEGY)
        refs, engs = [], []
        cpu: dict[str, list[float]] = {"canned": [], "engine": []}
        for i in range(args.pairs):
            runs = [("canned", lambda n: asyncio.run(_reference(path, n))), ("engine", lambda n: engine(path, n))]
            for label, run in runs[::-1] if i % 2 else runs:
                (engs if label == "engine" else refs).append(run(args.calls))
                cpu[label].append(server_cpu_per_call(run, args.calls))
    print(f"{args.calls} calls of each, interleaved pairs: {args.pairs}; mean us per call (median of pairs)")
    for name in CALLS:
        ref = statistics.median(r[name] for r in refs)
        eng = statistics.median(e[name] for e in engs)
        ratio = statistics.median(e[name] / r[name] for e, r in zip(engs, refs, strict=True))
        print(f"{name:15} canned {ref:7.0f} us  engine {eng:7.0f} us  ours {eng - ref:+6.0f} us  ratio {ratio:.2f}")
    canned, ours = statistics.median(cpu["canned"]), statistics.median(cpu["engine"])
    print(f"server CPU per call (the four methods' mean): canned {canned:.0f} us  engine {ours:.0f} us"
          f"  ours {ours - canned:+.0f} us")


def server_cpu_per_call(run, calls: int) -> float:
    """This process's CPU (the server's: the strategy is a child) per call, from runs of
    `calls` and 2 x `calls` calls of each method: start-up and shutdown cancel out. Less
    disturbed by a loaded machine than the strategy's wall-clock means."""
    spent = []
    for n in (calls, 2 * calls):
        started = time.process_time()
        run(n)
        spent.append(time.process_time() - started)
    return (spent[1] - spent[0]) / (len(CALLS) * calls) * 1e6


if __name__ == "__main__":
    main()

"""Lockstep: the engine drives a real strategy over the gateway API, one acked step at a time.

Every frame the engine sends carries an `event_id`; the next simulated instant starts only when
`event_ack` frames have released every id sent. Lifecycle events produced by the strategy's own
REST calls while it handles a step (ORDER_CREATED, ...) are sent, and acked, before the clock
moves on. A monitor task turns a crash, an early exit, a missing connection, an unacknowledged
event, the wall-clock limit or a cancel request into the end of the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from tektii_core import strict_json
from tektii_core.contracts import (
    LogFn,
    RunningStrategy,
    Runtime,
    RuntimeLimits,
    StrategyLaunch,
    TektiiError,
)
from tektii_engine.config import TIMEFRAMES, BacktestConfig, rfc3339
from tektii_engine.engine import CandleFeed, Engine
from tektii_engine.gateway import wire
from tektii_engine.result import CANCELLED, COMPLETE, FAILED, BacktestResult, build_result

LIFECYCLE_KINDS = {
    "order_update": "order",
    "position_update": "position",
    "account_update": "account",
    "trade_update": "trade",
}
LOG_LINES = 10_000
TAIL_LINES = 10
MAX_ROUNDS_PER_STEP = 1_000  # flushes of strategy-caused events before the clock must move


class RunStopped(Exception):
    """The run ends early; `state` and `reason` say how."""

    def __init__(self, state: str, reason: str):
        super().__init__(reason)
        self.state, self.reason = state, reason


@attrs.frozen
class StrategyLauncher:
    """What to run and with which runtime; the engine supplies the gateway address and key."""

    runtime: Runtime
    path: Path | None = None
    image: str | None = None
    limits: RuntimeLimits = attrs.field(factory=RuntimeLimits)
    env: Mapping[str, str] = attrs.field(factory=dict)
    run_id: str | None = None
    log: LogFn | None = None

    def launch(self, launch: StrategyLaunch) -> RunningStrategy:
        return self.runtime.start(
            attrs.evolve(
                launch,
                path=self.path,
                image=self.image,
                limits=self.limits,
                env={**launch.env, **self.env},
                run_id=self.run_id or launch.run_id,
            )
        )


class Session:
    """One run's gateway state: the engine, the strategy's WebSocket and unacked events."""

    def __init__(self, engine: Engine, feed: CandleFeed, api_key: str):
        self.engine = engine
        self.broker = engine.broker
        self.feed = feed
        self.api_key = api_key
        self.lifecycle = {LIFECYCLE_KINDS[e] for e in engine.config.lifecycle()}
        self.outbox: list[dict[str, Any]] = []
        self.outstanding: dict[str, str] = {}
        self.ws: Any = None
        self.connections = 0
        self.connected = asyncio.Event()
        self.waiter: asyncio.Future | None = None
        self.sent_at = 0.0
        self.events = 0
        self.stopped: RunStopped | None = None
        self.final_sent = False
        self.broker.sink = self.emit

    # -- events out -----------------------------------------------------------------------
    def emit(self, kind: str, event: str, obj: Any, parent: str | None) -> None:
        """Broker sink: snapshot the change now, as the frame the strategy subscribed to."""
        if kind not in self.lifecycle:
            return
        if kind == "order":
            frame = {"type": "order", "event": event, "order": wire.order(obj)}
            if parent:
                frame["parent_order_id"] = parent
        elif kind == "position":
            frame = {"type": "position", "event": event, "position": wire.position(obj)}
        elif kind == "trade":
            frame = {"type": "trade", "event": event, "trade": wire.trade(obj)}
        else:
            frame = {
                "type": "account",
                "event": event,
                "account": wire.account(self.broker.account()),
            }
        self.outbox.append(frame)

    def take_outbox(self) -> list[dict[str, Any]]:
        frames, self.outbox = self.outbox, []
        return frames

    async def exchange(self, frames: list[dict[str, Any]]) -> None:
        """Send the frames (each with its own event_id) and wait until all are acked."""
        if self.stopped:
            raise self.stopped
        stamp = rfc3339(self.engine.now)
        ws = self.ws
        for frame in frames:
            self.events += 1
            event_id = f"evt_{self.events}"
            frame["event_id"] = event_id
            frame["timestamp"] = stamp
            text = json.dumps(frame, separators=(",", ":"))
            self.outstanding[event_id] = text
            if ws is not None:
                try:
                    await ws.send_str(text)
                except ConnectionError:
                    ws = None  # resent when the strategy reconnects
        self.sent_at = time.monotonic()
        if self.outstanding:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        if self.stopped:
            raise self.stopped

    # -- events in ------------------------------------------------------------------------
    async def attach(self, ws: Any) -> None:
        old, self.ws = self.ws, ws
        self.connections += 1
        if old is not None:
            await old.close()  # the newest connection wins (the SDK reconnected)
        for text in list(self.outstanding.values()):
            await ws.send_str(text)
        self.connected.set()

    def detach(self, ws: Any) -> None:
        if self.ws is ws:
            self.ws = None
            if self.final_sent:
                self._release()  # closing after backtest_complete is a clean end

    def on_message(self, text: str) -> None:
        try:
            data = strict_json.loads(text)
        except strict_json.JsonError:
            return
        if isinstance(data, dict) and data.get("type") == "event_ack":
            outstanding = self.outstanding
            for event_id in data.get("events_processed") or ():
                outstanding.pop(event_id, None)
            if not outstanding:
                self._release()

    def _release(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stop(self, state: str, reason: str) -> None:
        if self.stopped is None:
            self.stopped = RunStopped(state, reason)
        self._release()
        self.connected.set()

    # -- market data for REST ---------------------------------------------------------------
    def history(
        self, symbol: str, tf: str, start: int | None, end: int | None, limit: int
    ) -> list[tuple]:
        """Bars of `tf` that have closed by the current simulated time (never later ones)."""
        seconds = TIMEFRAMES[tf]
        hi = self.engine.now - seconds + 1  # open times < hi have closed
        if end is not None:
            hi = min(hi, end + 1)
        if limit <= 0 or (start is not None and start >= hi):
            return []
        if start is not None:
            rows: list[tuple] = []
            for chunk in self.feed(symbol, tf, start, hi):
                rows.extend(_rows(chunk))
                if len(rows) >= limit:
                    break
            return rows[:limit]
        span = limit * seconds * 2
        for _ in range(8):  # widen the look-back over gaps (weekends, holidays)
            rows = [r for chunk in self.feed(symbol, tf, hi - span, hi) for r in _rows(chunk)]
            if len(rows) >= limit:
                break
            span *= 4
        return rows[-limit:]

    def last_price(self, symbol: str) -> float | None:
        mark = self.broker.marks.get(symbol)
        if mark is not None:
            return mark
        streams = [s for s in self.engine.streams if s.symbol == symbol]
        if not streams:
            return None  # subscribed without candles: no prices at all
        finest = min(streams, key=lambda s: s.seconds)
        rows = self.history(symbol, finest.timeframe, None, None, 1)
        return rows[-1][4] if rows else None


def _rows(chunk: Any) -> list[tuple]:
    return list(
        zip(
            chunk.time.tolist(),
            chunk.open.tolist(),
            chunk.high.tolist(),
            chunk.low.tolist(),
            chunk.close.tolist(),
            chunk.volume.tolist(),
            strict=True,
        )
    )


class _Log:
    """Collects the strategy's output lines (bounded) and forwards them."""

    def __init__(self, forward: LogFn | None):
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.forward = forward
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
        if self.forward is not None:
            self.forward(line)

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def tail(self, n: int = TAIL_LINES) -> str:
        with self.lock:
            return "\n".join(list(self.lines)[-n:])


def _launcher_fn(launcher: Any) -> Callable[[StrategyLaunch], RunningStrategy]:
    if hasattr(launcher, "launch"):
        return launcher.launch
    if hasattr(launcher, "start"):
        return launcher.start
    if callable(launcher):
        return launcher
    raise TypeError(f"not a strategy launcher: {launcher!r}")


def run_lockstep(
    config: BacktestConfig,
    feed: CandleFeed,
    launcher: Any,
    *,
    on_progress=None,
    cancel: threading.Event | None = None,
    limits: Any,
) -> BacktestResult:
    """Serve the gateway, start the strategy, replay in lockstep; always stops the strategy."""
    return asyncio.run(_run(config, feed, launcher, on_progress, cancel, limits))


async def _run(config, feed, launcher, on_progress, cancel, limits) -> BacktestResult:
    from aiohttp import web

    from tektii_engine.gateway.server import create_app

    engine = Engine(config, feed)
    session = Session(engine, feed, secrets.token_urlsafe(32))
    log = _Log(getattr(launcher, "log", None))
    started = time.monotonic()
    sock_dir = Path(tempfile.mkdtemp(prefix="tektii-gw-"))
    sock_dir.chmod(0o755)
    socket_path = sock_dir / "gateway.sock"
    runner = web.AppRunner(create_app(session), access_log=None, handle_signals=False)
    await runner.setup()
    running: RunningStrategy | None = None
    state, reason = COMPLETE, None
    try:
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        await web.UnixSite(runner, str(socket_path)).start()
        socket_path.chmod(0o666)  # the relay in the strategy's sandbox may run as another user
        launch = StrategyLaunch(
            run_id=getattr(launcher, "run_id", None) or f"run_{secrets.token_hex(6)}",
            gateway_url=f"http://127.0.0.1:{port}",
            gateway_socket=socket_path,
            api_key=session.api_key,
            env=dict(config.environment),
            log=log,
        )
        loop = asyncio.get_running_loop()
        try:
            running = await loop.run_in_executor(None, _launcher_fn(launcher), launch)
        except TektiiError as exc:
            raise RunStopped(FAILED, f"the strategy could not be started: {exc.message}") from exc
        monitor = asyncio.create_task(
            _monitor(session, engine, running, limits, cancel, on_progress, started)
        )
        try:
            await _drive(session, engine)
            await _wait_exit(running, limits.shutdown_grace_s)
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
    except RunStopped as stop:
        state, reason = stop.state, stop.reason
    except TektiiError as exc:  # e.g. the market data is missing
        state, reason = FAILED, exc.message
    except Exception as exc:  # noqa: BLE001 - a run ends FAILED, it never takes its caller down
        log(traceback.format_exc())
        state, reason = FAILED, f"internal engine error: {type(exc).__name__}: {exc}"
    finally:
        if session.ws is not None:
            with contextlib.suppress(Exception):
                await session.ws.close()
        if running is not None:
            await asyncio.get_running_loop().run_in_executor(None, running.stop)
        await runner.cleanup()
        shutil.rmtree(sock_dir, ignore_errors=True)
    if state == FAILED and log.tail():
        reason = f"{reason}\nLast strategy output:\n{log.tail()}"
    return build_result(engine, state, reason, log.text(), session.events)


async def _drive(session: Session, engine: Engine) -> None:
    await session.connected.wait()
    if session.stopped:
        raise session.stopped
    bar = wire.bar
    for _t, bars in engine.batches():
        frames = session.take_outbox()
        for stream, t_open, o, h, low, c, v in bars:
            frames.append(
                {
                    "type": "candle",
                    "bar": bar(stream.symbol, stream.timeframe, t_open, o, h, low, c, v),
                }
            )
        await session.exchange(frames)
        rounds = 0
        while session.outbox:
            rounds += 1
            if rounds > MAX_ROUNDS_PER_STEP:
                raise RunStopped(
                    FAILED,
                    f"the strategy kept causing events without letting time advance at"
                    f" {rfc3339(engine.now)} (more than {MAX_ROUNDS_PER_STEP} rounds)",
                )
            await session.exchange(session.take_outbox())
    if session.outbox:
        await session.exchange(session.take_outbox())
    session.final_sent = True
    await session.exchange([{"type": "backtest_complete", "broker": wire.PROVIDER}])


async def _wait_exit(running: RunningStrategy, grace: float) -> None:
    """After the end, give the strategy time to finish (its REST calls are still served)."""
    deadline = time.monotonic() + grace
    while running.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _monitor(session, engine, running, limits, cancel, on_progress, started) -> None:
    last_progress = last_ping = started
    last_events = 0
    while True:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        code = running.poll()
        sim = rfc3339(engine.now)
        if code is not None and not session.final_sent:
            why = getattr(running, "exit_reason", None)
            if why:
                session.stop(FAILED, why)
            elif not session.connections:
                session.stop(FAILED, f"the strategy exited with code {code} before connecting")
            else:
                session.stop(
                    FAILED,
                    f"the strategy exited with code {code} at simulated time {sim},"
                    " before the backtest completed",
                )
        elif cancel is not None and cancel.is_set():
            session.stop(CANCELLED, "cancelled")
        elif limits.wall_clock_s is not None and now - started > limits.wall_clock_s:
            session.stop(
                FAILED, f"the run exceeded its wall-clock limit of {limits.wall_clock_s:g} s"
            )
        elif not session.connections and now - started > limits.connect_timeout_s:
            session.stop(
                FAILED,
                f"the strategy did not connect to the gateway WebSocket within"
                f" {limits.connect_timeout_s:g} s",
            )
        elif session.outstanding and now - session.sent_at > limits.ack_timeout_s:
            first = next(iter(session.outstanding))
            session.stop(
                FAILED,
                f"the strategy did not acknowledge event {first} within {limits.ack_timeout_s:g} s"
                f" (simulated time {sim})",
            )
        if session.stopped:
            return
        ws = session.ws
        if ws is not None and session.outstanding and now - last_ping >= limits.ping_interval_s:
            if now - session.sent_at >= limits.ping_interval_s:
                last_ping = now
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(
                        json.dumps({"type": "ping", "timestamp": rfc3339(engine.now)})
                    )
        if on_progress is not None and now - last_progress >= 0.5:
            rate = (session.events - last_events) / (now - last_progress)
            last_progress, last_events = now, session.events
            on_progress(engine.progress(), rate, engine.broker.equity())

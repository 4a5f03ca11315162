"""Lockstep: the engine drives a real strategy over the gateway API, one acked step at a time.

Every frame the engine sends carries an `event_id`; the next simulated instant starts only when
`event_ack` frames have released every id sent. Every open WebSocket receives every frame (as
Tektii's gateway broadcasts); the first ack naming an id releases it, later ones are no-ops.
Lifecycle events produced by the strategy's own REST calls while it handles a step
(ORDER_CREATED, ...) are sent, and acked, before the clock moves on. A monitor task turns a
crash, an early exit, a missing connection, an unacknowledged event (per the config's
`ackPolicy`, docs/scenario-config.md), the wall-clock limit or a cancel request into the end of
the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
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
from tektii_core.scenario_config.model import ScenarioConfig
from tektii_core.timeutil import TIMEFRAME_SECONDS, format_time
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
ACK_WARNING_S = 5.0  # an event unacknowledged this long gets a warning in the run's log
# ackPolicy "continue" (Tektii's own engine): consecutive timeouts before the run halts
CONTINUE_HALT_AFTER = 5
CONTINUE_HALT_BEFORE_FIRST_ACK = 24
# The SDK's own event_ack, exactly as its json.dumps writes it: read without a JSON pass.
_SDK_ACK = re.compile(
    r'\{"type": "event_ack", "correlation_id": "[0-9a-f-]{36}", '
    r'"events_processed": \[((?:"evt_\d+", )*"evt_\d+")?\], "timestamp": \d+\}'
)


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
    isolate: bool = False  # see StrategyLaunch.isolate

    def launch(self, launch: StrategyLaunch) -> RunningStrategy:
        return self.runtime.start(
            attrs.evolve(
                launch,
                path=self.path,
                image=self.image,
                limits=self.limits,
                env={**launch.env, **self.env},
                run_id=self.run_id or launch.run_id,
                isolate=self.isolate or launch.isolate,
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
        self.sockets: list[Any] = []  # every open /v1/ws connection gets every frame
        self.transports: dict[Any, Any] = {}  # socket -> its transport: a batch is one write
        self.connections = 0  # connections made so far
        self.last_acked: dict[Any, str] = {}  # socket -> the last event id it acknowledged
        self.acked = False  # the strategy has acknowledged an event
        self.timeouts = 0  # consecutive events released unacknowledged (ackPolicy "continue")
        self.warned: str | None = None  # the event the slow-ack warning was logged for
        self.connected = asyncio.Event()
        self.steps: Iterator[list[Any]] | None = None  # the run's frames, step by step (_steps)
        self.done: asyncio.Future | None = None  # set when the steps end, or with why they stopped
        self.sent_at = 0.0
        self.events = 0
        self.stopped: RunStopped | None = None
        self.final_sent = False
        self.broker.sink = self.emit

    # -- events out -----------------------------------------------------------------------
    def emit(self, kind: str, event: str, obj: Any, parent: str | None) -> None:
        """Broker sink: snapshot the change now, as the frame the strategy subscribed to."""
        if kind == "error":  # a margin call's liquidation: every strategy is told, subscribed or not
            self.outbox.append(wire.liquidation(obj))
            return
        if kind not in self.lifecycle:
            return
        if kind == "order":
            frame = {"type": "order", "event": event, "order": wire.order(obj)}
            if parent:
                frame["parent_order_id"] = parent
        elif kind == "position":
            liquidation = self.broker.margin.liquidation_price(obj) if event != "POSITION_CLOSED" else None
            frame = {"type": "position", "event": event, "position": wire.position(obj, liquidation)}
        elif kind == "trade":
            frame = {"type": "trade", "event": event, "trade": wire.trade(obj)}
        else:
            frame = {
                "type": "account",
                "event": event,
                "account": wire.account(self.broker.account()),
            }
        self.outbox.append(frame)

    def take_outbox(self) -> list[Any]:
        frames, self.outbox = self.outbox, []
        return frames

    def drive(self, steps: Iterator[list[Any]]) -> asyncio.Future:
        """Send `steps`' frame lists one after the other, each once the last is acked; the
        future ends with them (or with the RunStopped or error that ended them)."""
        self.steps = steps
        self.done = asyncio.get_running_loop().create_future()
        self._advance()
        return self.done

    def _advance(self) -> None:
        """Nothing is outstanding: send the next step. It runs in the callback of the ack that
        released the last one, so the next frames leave without a task switch per event."""
        done = self.done
        if done is None or done.done():
            return
        try:
            while not self.outstanding:
                if self.stopped:
                    raise self.stopped
                self.send(next(self.steps))  # type: ignore[arg-type]
        except StopIteration:
            done.set_result(None)
        except Exception as exc:  # noqa: BLE001 - the run's driver raises it (_drive)
            done.set_exception(exc)

    def send(self, frames: list[Any]) -> None:
        """Give each frame its event_id and write them all to each socket in one write.

        A frame is a dict, or a candle's prepared text (wire.candle_text) still open for the
        event id and timestamp. A socket that is gone gets what is unacked when it reconnects.
        """
        if not frames:
            return
        stamp = format_time(self.engine.now)
        texts = []
        outstanding = self.outstanding
        for frame in frames:
            self.events += 1
            event_id = f"evt_{self.events}"
            if isinstance(frame, str):
                text = f'{frame},"event_id":"{event_id}","timestamp":"{stamp}"}}'
            else:
                frame["event_id"] = event_id
                frame["timestamp"] = stamp
                text = json.dumps(frame, separators=(",", ":"))
            outstanding[event_id] = text
            texts.append(text)
        data = wire.text_frames(texts)
        for ws in self.sockets:
            transport = self.transports.get(ws)
            if transport is not None and not transport.is_closing():
                transport.write(data)
        self.sent_at = time.monotonic()

    # -- events in ------------------------------------------------------------------------
    async def attach(self, ws: Any, transport: Any = None) -> None:
        """A new /v1/ws connection; `transport` is its connection (frames are written to it)."""
        self.sockets.append(ws)
        self.transports[ws] = transport
        self.connections += 1
        for text in list(self.outstanding.values()):  # a reconnect gets what is still unacked
            await ws.send_str(text)
        self.connected.set()

    def detach(self, ws: Any) -> None:
        self.transports.pop(ws, None)
        self.last_acked.pop(ws, None)
        if ws in self.sockets:
            self.sockets.remove(ws)
            if self.final_sent and not self.sockets and self.done and not self.done.done():
                self.done.set_result(None)  # closing after backtest_complete is a clean end

    def on_message(self, text: str, ws: Any = None) -> None:
        sdk_ack = _SDK_ACK.fullmatch(text)
        if sdk_ack is not None:
            found = sdk_ack.group(1)
            ids: Any = found[1:-1].split('", "') if found else ()
        else:
            try:
                data = strict_json.loads(text)
            except strict_json.JsonError:
                return
            if not isinstance(data, dict) or data.get("type") != "event_ack":
                return
            ids = data.get("events_processed") or ()
        if not isinstance(ids, list | tuple):
            return
        if ids and ws is not None:
            self.last_acked[ws] = ids[-1]
        outstanding = self.outstanding
        for event_id in ids:
            if isinstance(event_id, str) and outstanding.pop(event_id, None) is not None:
                self.acked = True
                self.timeouts = 0
        if not outstanding:
            self._advance()

    def lagging(self) -> list[Any]:
        """Open connections that acknowledge events but not yet the last one sent (a second
        stream behind the first, which released the events)."""
        last = f"evt_{self.events}"
        return [ws for ws in self.sockets if ws in self.last_acked and self.last_acked[ws] != last]

    def skip_unacknowledged(self) -> None:
        """ackPolicy "continue": release what is outstanding as if acked; late acks are no-ops."""
        self.outstanding.clear()
        self.timeouts += 1
        self._advance()

    def stop(self, state: str, reason: str) -> None:
        if self.stopped is None:
            self.stopped = RunStopped(state, reason)
        if self.done is not None and not self.done.done():
            self.done.set_exception(self.stopped)
        self.connected.set()

    # -- market data for REST ---------------------------------------------------------------
    def history(
        self, symbol: str, tf: str, start: int | None, end: int | None, limit: int
    ) -> list[tuple]:
        """Bars of `tf` that have closed by the current simulated time (never later ones)."""
        seconds = TIMEFRAME_SECONDS[tf]
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
    config: ScenarioConfig,
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
    # 0700 and 0600: only the engine's own uid reaches the socket (the docker runtime's relay
    # runs as that uid; the process runtime's strategy uses the TCP address and its key).
    sock_dir = Path(tempfile.mkdtemp(prefix="tektii-gw-"))
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
        socket_path.chmod(0o600)  # the relay, where one is used, runs as the engine's uid
        loop = asyncio.get_running_loop()

        def serve_socket(sock: Any) -> None:  # called by the runtime, from the launch thread
            site = web.SockSite(runner, sock)
            asyncio.run_coroutine_threadsafe(site.start(), loop).result(30)

        launch = StrategyLaunch(
            run_id=getattr(launcher, "run_id", None) or f"run_{secrets.token_hex(6)}",
            gateway_url=f"http://127.0.0.1:{port}",
            gateway_socket=socket_path,
            api_key=session.api_key,
            env=dict(config.environment),
            log=log,
            serve_socket=serve_socket,
        )
        try:
            running = await loop.run_in_executor(None, _launcher_fn(launcher), launch)
        except TektiiError as exc:
            raise RunStopped(FAILED, f"the strategy could not be started: {exc.message}") from exc
        monitor = asyncio.create_task(
            _monitor(session, engine, running, limits, cancel, on_progress, started, log)
        )
        try:
            await _drive(session, engine, limits)
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
        for ws in list(session.sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if running is not None:
            await asyncio.get_running_loop().run_in_executor(None, running.stop)
        await runner.cleanup()
        shutil.rmtree(sock_dir, ignore_errors=True)
    if state == FAILED and log.tail():
        reason = f"{reason}\nLast strategy output:\n{log.tail()}"
    return build_result(engine, state, reason, log.text(), session.events)


async def _drive(session: Session, engine: Engine, limits: Any) -> None:
    await session.connected.wait()
    if session.stopped:
        raise session.stopped
    await session.drive(_steps(session, engine))
    # The SDK closes a stream when backtest_complete arrives, even with events still queued
    # behind its loop (their acks then fail, each after a 5 s timeout): announce the end once
    # every stream has caught up, within the per-event limit.
    deadline = time.monotonic() + _event_limit(limits, engine.config)
    while session.lagging() and time.monotonic() < deadline and not session.stopped:
        await asyncio.sleep(0.01)
    await session.drive(_ending(session))


def _steps(session: Session, engine: Engine) -> Iterator[list[Any]]:
    """The frames of the run, a step at a time; the next is asked for once all are acked."""
    candle_text = wire.candle_text
    prefixes = [wire.candle_prefix(s.symbol, s.timeframe) for s in engine.streams]
    for _t, bars in engine.batches():
        frames = session.take_outbox()
        for stream, t_open, o, h, low, c, v in bars:
            frames.append(candle_text(prefixes[stream.index], t_open, o, h, low, c, v))
        yield frames
        rounds = 0
        while session.outbox:
            rounds += 1
            if rounds > MAX_ROUNDS_PER_STEP:
                raise RunStopped(
                    FAILED,
                    f"the strategy kept causing events without letting time advance at"
                    f" {format_time(engine.now)} (more than {MAX_ROUNDS_PER_STEP} rounds)",
                )
            yield session.take_outbox()


def _ending(session: Session) -> Iterator[list[Any]]:
    """What the strategy's last calls caused, then backtest_complete."""
    while session.outbox:
        yield session.take_outbox()
    session.final_sent = True
    yield [{"type": "backtest_complete", "broker": wire.PROVIDER}]


async def _wait_exit(running: RunningStrategy, grace: float) -> None:
    """After the end, give the strategy time to finish (its REST calls are still served)."""
    deadline = time.monotonic() + grace
    while running.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # the run's result waits for this: poll often (poll is cheap)


def _event_limit(limits: Any, config: ScenarioConfig) -> float:
    """Seconds an event may stay unacknowledged: the run's limits override the config."""
    return limits.ack_timeout_s if limits.ack_timeout_s is not None else config.event_limit_s


async def _monitor(session, engine, running, limits, cancel, on_progress, started, log) -> None:
    config = engine.config
    startup = limits.connect_timeout_s if limits.connect_timeout_s is not None else config.startup_timeout_s
    per_event = _event_limit(limits, config)
    keep_going = config.ack_policy == "continue"
    last_progress = last_ping = started
    last_events = 0
    while True:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        code = running.poll()
        sim = format_time(engine.now)
        waited = now - session.sent_at
        first = next(iter(session.outstanding), None)
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
        elif not session.connections and now - started > startup:
            session.stop(
                FAILED,
                f"the strategy did not connect to the gateway WebSocket within {startup:g} s"
                " (startupTimeoutSeconds)",
            )
        elif first is not None and keep_going and waited > per_event:
            halt = CONTINUE_HALT_AFTER if session.acked else CONTINUE_HALT_BEFORE_FIRST_ACK
            log(
                f"tektii: warning: event {first} not acknowledged within {per_event:g} s"
                f" (simulated time {sim}); continuing (ackPolicy continue,"
                f" {session.timeouts + 1} of {halt} consecutive)"
            )
            session.skip_unacknowledged()
            if session.timeouts >= halt:
                session.stop(
                    FAILED,
                    f"the strategy left {halt} consecutive events unacknowledged"
                    f" ({per_event:g} s each, ackPolicy continue); halted at simulated time {sim}",
                )
        elif first is not None and not keep_going and not session.acked and now - started > startup:
            session.stop(
                FAILED,
                f"the strategy did not acknowledge its first event {first} within {startup:g} s"
                f" of starting (startupTimeoutSeconds; simulated time {sim})",
            )
        elif first is not None and not keep_going and session.acked and waited > per_event:
            session.stop(
                FAILED,
                f"the strategy did not acknowledge event {first} within {per_event:g} s"
                f" (eventTimeoutSeconds; simulated time {sim})",
            )
        elif first is not None and waited > ACK_WARNING_S and session.warned != first and not keep_going:
            session.warned = first
            until = (
                f"{per_event:g} s (eventTimeoutSeconds)"
                if session.acked
                else f"{startup:g} s after the start (startupTimeoutSeconds)"
            )
            log(
                f"tektii: warning: event {first} not acknowledged after {ACK_WARNING_S:g} s"
                f" (simulated time {sim}); the engine waits up to {until}"
            )
        if session.stopped:
            return
        if session.sockets and session.outstanding and now - last_ping >= limits.ping_interval_s:
            if now - session.sent_at >= limits.ping_interval_s:
                last_ping = now
                ping = json.dumps({"type": "ping", "timestamp": format_time(engine.now)})
                for ws in list(session.sockets):
                    with contextlib.suppress(ConnectionError):
                        await ws.send_str(ping)
        if on_progress is not None and now - last_progress >= 0.5:
            rate = (session.events - last_events) / (now - last_progress)
            last_progress, last_events = now, session.events
            on_progress(engine.progress(), rate, engine.broker.equity_value())

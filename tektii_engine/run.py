"""Running a backtest: `run_backtest` drives the engine with a strategy and returns the result.

Two drivers: an in-process strategy object (`on_candles(engine, t, bars)`, no network; used by
benchmarks and engine tests) and a real strategy started through a Runtime, spoken to over the
gateway API in lockstep (tektii_engine.gateway.session).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from tektii_core.scenario_config.model import ScenarioConfig
from tektii_core.scenario_config.validate import config_from_json
from tektii_engine.engine import CandleFeed, Engine
from tektii_engine.result import CANCELLED, COMPLETE, FAILED, BacktestResult, build_result

ProgressFn = Callable[[float, float, float], None]
"""on_progress(fraction_of_window_done, events_per_second, equity)"""


@attrs.frozen
class RunLimits:
    """Wall-clock limits of one run, in seconds (None: unlimited)."""

    wall_clock_s: float | None = 3600.0
    # Overrides of the scenario config's eventTimeoutSeconds / startupTimeoutSeconds (None:
    # the config's values, see docs/scenario-config.md); tests use them to stay fast.
    ack_timeout_s: float | None = None  # how long one event may stay unacknowledged
    connect_timeout_s: float | None = None  # from start until the strategy's first ack
    # After backtest_complete, for the strategy to exit. Above the SDK's own 5 s close timeout:
    # a sync stream that lags behind another may spend it on a trailing ack before it returns.
    shutdown_grace_s: float = 10.0
    ping_interval_s: float = 15.0  # heartbeat `ping` frames while the strategy is busy


def run_in_process(
    config: ScenarioConfig,
    feed: CandleFeed,
    strategy: Any,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> BacktestResult:
    """Replay with `strategy.on_candles(engine, t, bars)` called for every batch."""
    engine = Engine(config, feed)
    on_candles = strategy.on_candles
    state, reason = COMPLETE, None
    for n, (t, bars) in enumerate(engine.batches()):
        on_candles(engine, t, bars)
        if n & 0x3FFF == 0 and n:
            if cancel is not None and cancel.is_set():
                state, reason = CANCELLED, "cancelled"
                break
            if on_progress is not None:
                on_progress(engine.progress(), 0.0, engine.broker.equity_value())
    return build_result(engine, state, reason, "", engine.candles)


def run_backtest(
    config: ScenarioConfig | Mapping[str, Any],
    feed: CandleFeed,
    launcher: Any,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    limits: RunLimits | None = None,
) -> BacktestResult:
    """Run one backtest to COMPLETE, FAILED or CANCELLED (never raises for strategy faults).

    `launcher` is a `StrategyLauncher` (a Runtime plus what to run), any callable
    `(StrategyLaunch fields...) -> RunningStrategy` accepted by StrategyLauncher, or an
    in-process strategy object with `on_candles(engine, t, bars)`.
    """
    cfg = config if isinstance(config, ScenarioConfig) else config_from_json(config)
    if hasattr(launcher, "on_candles"):
        return run_in_process(cfg, feed, launcher, on_progress=on_progress, cancel=cancel)
    from tektii_engine.gateway.session import run_lockstep

    return run_lockstep(
        cfg, feed, launcher, on_progress=on_progress, cancel=cancel, limits=limits or RunLimits()
    )


def local_run(
    path: str | Path,
    config: ScenarioConfig | Mapping[str, Any],
    *,
    feed: CandleFeed | None = None,
    data_dir: str | Path | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    limits: RunLimits | None = None,
    log: Callable[[str], None] | None = None,
) -> BacktestResult:
    """`tektii backtest run PATH --config FILE`: run a strategy file/directory as a process.

    Candles come from `feed`, else from the market-data store at `data_dir`.
    """
    from tektii_core.plugins import Plugins
    from tektii_engine.gateway.session import StrategyLauncher

    if feed is None:
        if data_dir is None:
            raise ValueError("local_run needs a feed or the market-data directory")
        from tektii_engine.data.store import CandleStore

        feed = CandleStore(Path(data_dir)).read
    runtime = Plugins(hooks=["register_runtimes"]).runtime("process")  # a plugin may replace the built-in
    launcher = StrategyLauncher(runtime, path=Path(path), log=log)
    return run_backtest(
        config, feed, launcher, on_progress=on_progress, cancel=cancel, limits=limits
    )


__all__ = ["FAILED", "RunLimits", "local_run", "run_backtest", "run_in_process"]

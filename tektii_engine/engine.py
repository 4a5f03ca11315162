"""The engine loop: replays closed candles in time order, matches orders first, samples equity.

`Engine.batches()` is a generator: each step is one simulated instant `t` at which one or more
candles CLOSE (open time + timeframe == t). Before yielding the batch it matches the working
orders against the bars of each instrument's finest subscribed timeframe (so fills never use a
bar the strategy has not yet been shown, and always happen before the strategy sees that bar)
and records equity; at that close the broker's margin desk may call the account (its positions
then close at their next bar's open). Drivers (in-process hook, or the gateway's lockstep session) deliver the
batch and let the strategy act before asking for the next one; that is the whole clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from tektii_core.scenario_config.model import ScenarioConfig
from tektii_core.timeutil import TIMEFRAME_SECONDS
from tektii_engine.broker import Broker

CandleFeed = Callable[[str, str, int, int], Iterable[Any]]
"""feed(symbol, timeframe, start_s, end_s) -> chunks of Candles (numpy arrays time/open/high/
low/close/volume, `time` = bar OPEN in Unix seconds, ascending) for bars opening in [start, end)."""

MAX_CURVE_POINTS = 20_000
DAY = 86_400
LIST_SLICE = 4096
_SAMPLE_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


@attrs.define(slots=True, eq=False)
class Stream:
    """One (symbol, timeframe) candle series being replayed."""

    index: int
    symbol: str
    timeframe: str
    seconds: int
    finest: bool  # this series drives order matching for its symbol
    chunks: Iterator[Any] | None = None
    rows: int = 0
    candles: int = 0


Bar = tuple[Stream, int, float, float, float, float, float]
"""(stream, open_time, open, high, low, close, volume)"""


def sample_step(config: ScenarioConfig) -> int:
    """Equity is recorded at most every `step` s (for the chart); the last point of every UTC
    day is recorded as well, so daily closes (and the metrics from them) are exact."""
    finest = min(TIMEFRAME_SECONDS[tf] for _, tf in config.candle_streams())
    span = config.end - config.start
    for step in _SAMPLE_STEPS:
        if step >= finest and span / step <= MAX_CURVE_POINTS:
            return step
    return max(finest, 86400)


class Engine:
    """Runs one backtest's market replay and broker; drivers deliver its batches."""

    def __init__(self, config: ScenarioConfig, feed: CandleFeed, *, sink=None):
        self.config = config
        self.feed = feed
        self.broker = Broker(
            {s: config.leverage(s) for s in config.symbols},
            initial_capital=config.initial_capital,
            position_mode=config.position_mode,
            commission_bps=config.commission_bps,
            slippage_bps=config.slippage_bps,
            spread_bps=config.spreads(),
            sink=sink,
        )
        self.broker.now = config.start
        self.now = config.start
        finest: dict[str, int] = {}
        for symbol, tf in config.candle_streams():
            finest[symbol] = min(finest.get(symbol, 1 << 40), TIMEFRAME_SECONDS[tf])
        self.streams = [
            Stream(i, sym, tf, TIMEFRAME_SECONDS[tf], TIMEFRAME_SECONDS[tf] == finest[sym])
            for i, (sym, tf) in enumerate(config.candle_streams())
        ]
        self.step = sample_step(config)
        # Equity curve as parallel lists (time, equity, cash, drawdown): cheap to append.
        self.curve: tuple[list[int], list[float], list[float], list[float]] = ([], [], [], [])
        self.peak = config.initial_capital
        self.max_drawdown = 0.0
        # The longest time below a peak, over every step (the curve may be thinned): seconds
        # from the last step at the running peak to the step that regains it, or to the end.
        self.peak_time: int | None = None
        self.longest_drawdown_s = 0
        self.candles = 0
        self.batches_done = 0

    # -- the replay -------------------------------------------------------------------------
    def _rows(self, stream: Stream) -> Iterator[tuple[list, list, list, list, list, list]]:
        """Chunks of the stream as plain lists (fast to index), bars closing within the window."""
        start, end = self.config.start, self.config.end
        for chunk in self.feed(stream.symbol, stream.timeframe, start, end):
            times = chunk.time
            if len(times) == 0:
                continue
            if times[0] < start or times[-1] + stream.seconds > end:
                keep = (times >= start) & (times + stream.seconds <= end)
                chunk = chunk[keep]
                if len(chunk.time) == 0:
                    continue
            # Python lists index fast; converting in slices keeps memory flat for big chunks.
            for lo in range(0, len(chunk.time), LIST_SLICE):
                hi = lo + LIST_SLICE
                yield (
                    chunk.time[lo:hi].tolist(),
                    chunk.open[lo:hi].tolist(),
                    chunk.high[lo:hi].tolist(),
                    chunk.low[lo:hi].tolist(),
                    chunk.close[lo:hi].tolist(),
                    chunk.volume[lo:hi].tolist(),
                )

    def batches(self) -> Iterator[tuple[int, list[Bar]]]:
        """Yield (t, bars closing at t) in time order, after matching orders and marking equity."""
        broker = self.broker
        pending = broker.pending
        margin, positions = broker.margin, broker.positions  # the broker never replaces the dict
        cursors: list[list[Any]] = []  # [stream, rows iterator, cols, i, n, next_close]
        for stream in self.streams:
            cursor: list[Any] = [stream, self._rows(stream), None, 0, 0, 0]
            if self._advance(cursor):
                cursors.append(cursor)
        step = self.step
        next_sample = self.config.start
        day_end = (self.config.start // DAY + 1) * DAY  # a step at or after it is a new day
        last: tuple[int, float, float, float] | None = None  # the previous step, if unsampled
        times_, equity_, cash_, dd_ = self.curve
        while cursors:
            t = min(c[5] for c in cursors) if len(cursors) > 1 else cursors[0][5]
            self.now = broker.now = t
            bars: list[Bar] = []
            exhausted = False
            for cursor in cursors:
                if cursor[5] != t:
                    continue
                stream, _, cols, i = cursor[0], cursor[1], cursor[2], cursor[3]
                t_open, o, h, lo, c = cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]
                if stream.finest:
                    if pending[stream.symbol]:
                        broker.on_bar(stream.symbol, t_open, stream.seconds, o, h, lo, c)
                    else:
                        broker.update_mark(stream.symbol, c)
                bars.append((stream, t_open, o, h, lo, c, cols[5][i]))
                cursor[3] = i + 1
                if i + 1 < cursor[4]:
                    cursor[5] = cols[0][i + 1] + stream.seconds
                elif not self._advance(cursor):
                    exhausted = True
            if exhausted:
                cursors = [c for c in cursors if c[2] is not None]
            self.candles += len(bars)
            equity = broker.equity_value()
            if positions or equity < 0.0:
                margin.check(t, equity)  # places liquidation orders: equity is unchanged
            if equity >= self.peak:
                self.peak = equity
                if self.peak_time is not None and t - self.peak_time > self.longest_drawdown_s:
                    self.longest_drawdown_s = t - self.peak_time  # regained: the spell ends
                self.peak_time = t
                drawdown = 0.0
            else:
                if self.peak_time is None:
                    self.peak_time = t  # below the initial capital from the first step on
                drawdown = (self.peak - equity) / self.peak if self.peak > 0 else 0.0
                if drawdown > self.max_drawdown:
                    self.max_drawdown = drawdown
            if t >= day_end:  # a new UTC day: its previous close must be on the curve
                if last is not None:
                    times_.append(last[0])
                    equity_.append(last[1])
                    cash_.append(last[2])
                    dd_.append(last[3])
                day_end = (t // DAY + 1) * DAY
            if t >= next_sample or not cursors:
                times_.append(t)
                equity_.append(equity)
                cash_.append(broker.balance_value)
                dd_.append(drawdown)
                next_sample = (t // step + 1) * step
                last = None
            else:
                last = (t, equity, broker.balance_value, drawdown)
            self.batches_done += 1
            yield t, bars

    def _advance(self, cursor: list[Any]) -> bool:
        """Load the cursor's next non-empty chunk; False (and cols None) when the stream ends."""
        stream = cursor[0]
        for cols in cursor[1]:
            cursor[2], cursor[3], cursor[4] = cols, 0, len(cols[0])
            cursor[5] = cols[0][0] + stream.seconds
            stream.rows += len(cols[0])
            return True
        cursor[2] = None
        return False

    def record_final(self) -> None:
        """Make sure the curve ends with the state after the last fill (e.g. at window end)."""
        times_, equity_, cash_, dd_ = self.curve
        equity = self.broker.equity_value()
        drawdown = (self.peak - equity) / self.peak if self.peak > 0 else 0.0
        if equity < self.peak and self.peak_time is not None:  # still below its peak: to the end
            self.longest_drawdown_s = max(self.longest_drawdown_s, self.now - self.peak_time)
        if times_ and times_[-1] == self.now:
            equity_[-1], cash_[-1], dd_[-1] = equity, self.broker.balance_value, drawdown
        else:
            times_.append(self.now)
            equity_.append(equity)
            cash_.append(self.broker.balance_value)
            dd_.append(drawdown)

    def progress(self) -> float:
        span = self.config.end - self.config.start
        return min(max((self.now - self.config.start) / span, 0.0), 1.0)

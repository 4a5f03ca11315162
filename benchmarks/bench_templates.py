"""A template's lockstep throughput as a ratio to a do-nothing strategy on the same data.

The ma-crossover template (as `strategy init` writes it) and bench_engine_lockstep's
do-nothing async strategy run through the engine (process runtime) over the same generated
1m candles, subscribed to candles and the order/position/account events the template keeps
its state from. A run's rate is the median of the events/s the engine reports twice a
second while it replays (start-up and shutdown are not in it). Runs alternate; medians
are printed. Also printed: the template's trade count and final equity, which must
not depend on how fast it runs.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_templates.py [events] [--pairs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine_lockstep import ASYNC_STRATEGY, T0  # noqa: E402

from tektii_core.scenario_config.validate import build_config  # noqa: E402
from tektii_engine.data.candles import Candles  # noqa: E402
from tektii_engine.gateway.session import StrategyLauncher  # noqa: E402
from tektii_engine.run import RunLimits, run_backtest  # noqa: E402
from tektii_engine.templates import write_project  # noqa: E402
from tektii_plugins.runtimes.process import ProcessRuntime  # noqa: E402

EVENTS = ["candle_1m", "order_update", "position_update", "account_update"]


def walk_feed(symbol, tf, start, end):
    """A seeded random walk: crossovers, fills and bracket exits happen throughout."""
    times = np.arange(start, end, 60, dtype=np.int64)
    steps = np.random.default_rng(7).normal(0, 0.002, len(times))
    closes = 100 * np.exp(np.cumsum(steps))
    opens = np.concatenate([[100.0], closes[:-1]])
    highs = np.maximum(opens, closes) * 1.0005
    lows = np.minimum(opens, closes) * 0.9995
    yield Candles(times, opens, highs, lows, closes, np.ones(len(times)))


def rate(path: Path, events: int) -> tuple[float, object]:
    config = build_config([("C:BTCUSD", EVENTS)], T0, T0 + 60 * events)
    rates: list[float] = []

    def on_progress(fraction: float, events_per_second: float, equity: float) -> None:
        if 0 < fraction < 1 and events_per_second > 0:
            rates.append(events_per_second)

    launcher = StrategyLauncher(ProcessRuntime(), path=path)
    result = run_backtest(config, walk_feed, launcher, on_progress=on_progress, limits=RunLimits())
    if result.state != "COMPLETE":
        raise SystemExit(f"{path.name}: {result.state}: {result.reason}")
    if not rates:
        raise SystemExit(f"{path.name}: the run was too short for a rate; give more events")
    return statistics.median(rates), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "ma-crossover"
        write_project("ma-crossover", template)
        nop = Path(tmp) / "nop.py"
        nop.write_text(ASYNC_STRATEGY)
        nops, templates, outcomes = [], [], set()
        for i in range(args.pairs):
            order = (nop, template) if i % 2 == 0 else (template, nop)
            for path in order:
                got, result = rate(path, args.events)
                if path == nop:
                    nops.append(got)
                else:
                    templates.append(got)
                    outcomes.add((len(result.trades), round(result.final_equity, 6)))
    ratio = statistics.median(t / n for t, n in zip(templates, nops, strict=True))
    print(f"events per run: {args.events:,}, interleaved pairs: {args.pairs}")
    print(f"do-nothing async strategy {statistics.median(nops):8,.0f} events/s")
    print(f"ma-crossover template     {statistics.median(templates):8,.0f} events/s")
    print(f"ma-crossover trades, final equity: {sorted(outcomes)}")
    print(f"ratio ma-crossover / do-nothing: {ratio:.2f}  (median of pairs)")


if __name__ == "__main__":
    main()

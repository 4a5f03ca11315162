"""Backtests on real market data shipped by PyPI packages, through the market-data store.

arch ships daily S&P 500 bars (1999-2018), gym-anytrading hourly EUR/USD (2017-2018). The
checks are invariants that hold for any data: market fills at the next bar's open, the
accounting identity, and a result identical on a second run.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from tektii_core.timeutil import format_time
from tektii_engine.data.importer import import_file
from tektii_engine.data.store import CandleStore
from tektii_engine.run import local_run

STRATEGY = Path(__file__).parent / "strategies" / "sma_cross.py"


def shipped(distribution: str, path: str) -> Path:
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"test dependency {distribution} is not installed")
    for file in files:
        if str(file) == path:
            return Path(str(file.locate()))
    pytest.fail(f"{distribution} no longer ships {path}")


def check_run(store: CandleStore, symbol: str, tf: str, start: str, end: str, **extra):
    config = {
        "subscriptions": [{"instrument": symbol, "events": [f"candle_{tf}"]}],
        "startTime": start,
        "endTime": end,
        "spreadBps": 0,  # fills at exactly the open, checked below
        **extra,
    }
    result = local_run(STRATEGY, config, data_dir=store.root)
    assert result.state == "COMPLETE", result.reason
    bars = store.read_all(symbol, tf, start, end)
    opens = dict(zip(bars.time.tolist(), bars.open.tolist(), strict=True))
    assert result.counters["candles"] == len(bars)
    assert len(result.trades) >= 5
    for fill in result.fills:  # market orders: exactly the open of a bar after the decision
        t = [k for k, v in opens.items() if format_time(k) == fill["time"]]
        assert t and fill["price"] == opens[t[0]]
    unrealized = sum(p["unrealizedPnl"] for p in result.open_positions)
    realized = sum(t.gross_pnl for t in result.trades)
    assert result.final_equity == pytest.approx(
        result.initial_capital + realized - result.total_fees + unrealized
    )
    again = local_run(STRATEGY, config, data_dir=store.root).to_dict()
    first = result.to_dict()
    first.pop("log"), again.pop("log")
    assert first == again
    return result


def test_sp500_daily_from_arch(tmp_path):
    store = CandleStore(tmp_path / "market-data")
    import_file(store, "S:SPX", shipped("arch", "arch/data/sp500/sp500.csv.gz"))
    result = check_run(store, "S:SPX", "1d", "2005-01-01T00:00:00Z", "2010-01-01T00:00:00Z")
    assert result.metrics()["totalTrades"] == len(result.trades)


def test_eurusd_hourly_from_gym_anytrading(tmp_path):
    store = CandleStore(tmp_path / "market-data")
    path = shipped("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    import_file(store, "F:EURUSD", path)
    check_run(
        store,
        "F:EURUSD",
        "1h",
        "2017-02-01T00:00:00Z",
        "2017-04-01T00:00:00Z",
        positionMode="hedging",
        commissionBps=1,
    )


def backtesting_sma_cross(tmp_path, **backtest):
    """backtesting.py's own SMA 10/20 example (fixed 10,000 units) on its shipped hourly EURUSD:
    its closed trades, and our market-data store and config over the same bars."""
    import math

    import numpy as np

    bt = pytest.importorskip("backtesting")
    from backtesting.lib import crossover
    from backtesting.test import EURUSD

    from tektii_engine.data.candles import Candles

    def fsum_sma(values, n):
        out = np.full(len(values), np.nan)
        for i in range(n - 1, len(values)):
            out[i] = math.fsum(values[i - n + 1 : i + 1]) / n
        return out

    class SmaCross(bt.Strategy):
        def init(self):
            self.fast = self.I(fsum_sma, self.data.Close, 10)
            self.slow = self.I(fsum_sma, self.data.Close, 20)

        def next(self):
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=10_000)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    theirs = bt.Backtest(EURUSD, SmaCross, cash=100_000, commission=0, **backtest).run()._trades
    times = EURUSD.index.tz_localize("UTC").as_unit("s").asi8.astype(np.int64)
    store = CandleStore(tmp_path / "market-data")
    store.write("F:EURUSD", Candles(times, EURUSD.Open, EURUSD.High, EURUSD.Low, EURUSD.Close, EURUSD.Volume),
                base_timeframe="1h", source="imported")
    config = {"subscriptions": [{"instrument": "F:EURUSD", "events": ["candle_1h"]}],
              "startTime": format_time(times[0]), "endTime": format_time(times[-1] + 3600)}
    return theirs, store, config


def test_sma_crossover_trades_match_backtesting_py_one_by_one(tmp_path):
    """backtesting.py (a test dependency) on its shipped hourly EURUSD, against our engine
    running the same strategy as an SDK process: every closed trade equal."""
    theirs, store, config = backtesting_sma_cross(tmp_path)
    config["spreadBps"] = 0  # backtesting.py's default: no spread
    result = local_run(Path(__file__).parent / "strategies" / "sma_fixed.py", config, data_dir=store.root)
    assert result.state == "COMPLETE", result.reason
    assert len(theirs) > 50 and len(result.trades) == len(theirs)
    for ours, ref in zip(result.trades, theirs.itertuples(), strict=True):
        assert (format_time(ours.entry_time), format_time(ours.exit_time)) == (
            format_time(ref.EntryTime.tz_localize("UTC").timestamp()), format_time(ref.ExitTime.tz_localize("UTC").timestamp()))
        assert (ours.quantity, ours.side) == (abs(ref.Size), "LONG")
        assert (ours.entry_price, ours.exit_price) == (ref.EntryPrice, ref.ExitPrice)
        assert ours.pnl == pytest.approx(ref.PnL, rel=1e-9, abs=1e-9)

"""Backtests on real market data shipped by PyPI packages, through the market-data store.

arch ships daily S&P 500 bars (1999-2018), gym-anytrading hourly EUR/USD (2017-2018). The
checks are invariants that hold for any data: market fills at the next bar's open, the
accounting identity, and a result identical on a second run.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from tektii_engine.config import rfc3339
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
        **extra,
    }
    result = local_run(STRATEGY, config, data_dir=store.root)
    assert result.state == "COMPLETE", result.reason
    bars = store.read_all(symbol, tf, start, end)
    opens = dict(zip(bars.time.tolist(), bars.open.tolist(), strict=True))
    assert result.counters["candles"] == len(bars)
    assert len(result.trades) >= 5
    for fill in result.fills:  # market orders: exactly the open of a bar after the decision
        t = [k for k, v in opens.items() if rfc3339(k) == fill["time"]]
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

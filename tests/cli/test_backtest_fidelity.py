"""`tektii backtest run` with SDK strategies that check what Tektii's gateway would give them.

One market-data directory (hand-made candles) is shared by the module; each test runs the real
CLI, which starts the strategy as a process against the engine on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tektii_engine.data.candles import Candles
from tektii_engine.data.store import CandleStore

STRATEGIES = Path(__file__).parent / "strategies"
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
MINUTES = 120


def _flat(price: float, wiggle: float) -> Candles:
    times = T0 + 60 * np.arange(MINUTES)
    close = price + wiggle * np.sin(np.arange(MINUTES) / 7.0)
    opens = np.concatenate(([price], close[:-1]))
    return Candles(times, opens, np.maximum(opens, close), np.minimum(opens, close), close, np.ones(MINUTES))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fidelity-data")
    store = CandleStore(root / "market-data")
    store.write("C:SHIBUSD", Candles([T0 + 60 * i for i in range(MINUTES)], *[[1.23456789e-05] * MINUTES] * 4,
                                     [1.0] * MINUTES), base_timeframe="1m", source="imported", mode="replace")
    store.write("S:GOOG", _flat(601.11, 2.0), base_timeframe="1m", source="imported", mode="replace")
    return root


def backtest(cli, data_dir: Path, tmp_path: Path, strategy: Path | str, instrument: str, minutes: int = 10, **config):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({
        "subscriptions": [{"instrument": instrument, "events": ["candle_1m", "order_update"]}],
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": f"2024-01-01T{minutes // 60:02d}:{minutes % 60:02d}:00Z",
        **config,
    }))
    return cli("-v", "--output", "json", "backtest", "run", str(strategy), "--config", str(cfg),
               "--data-dir", str(data_dir))


def test_decimals_read_back_exactly_and_out_of_bounds_quantities_are_invalid(cli, data_dir, tmp_path):
    result = backtest(cli, data_dir, tmp_path, STRATEGIES / "exact_decimals.py", "C:SHIBUSD", minutes=3)
    assert result.code == 0, result.err
    assert "strategy: NUMBERS OK" in result.err

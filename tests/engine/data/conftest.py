"""The market-data tests' fixture; their helpers (ts, candles, shipped_file, ...) live in tektii_testkit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tektii_engine.data.store import CandleStore


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path / "market-data")

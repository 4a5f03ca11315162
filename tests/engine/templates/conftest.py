"""The template tests' fixtures: each template's pure logic module (tektii_testkit.load_logic)."""

from __future__ import annotations

import pytest
from tektii_testkit import load_logic


@pytest.fixture(scope="session")
def ma():
    return load_logic("ma-crossover", "ma_crossover")


@pytest.fixture(scope="session")
def rsi():
    return load_logic("rsi-momentum", "rsi_momentum")

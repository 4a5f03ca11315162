"""The research desk the sweep tests share: a real platform process (process runtime, two runs at
a time) with gym-anytrading's hourly EUR/USD imported, a strategy with the ma-crossover template
as its version, the `tektii` CLI logged in as its owner, and a base config over two weeks.

Each test module gets its own desk (module scope)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tektii_testkit import CLI, END, HOLDOUT, START, base_env, served, shipped_file


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    yield from served(tmp_path_factory, TEKTII_RUNTIME="process", TEKTII_MAX_CONCURRENT_RUNS="2")


@pytest.fixture(scope="module")
def owner(platform):
    """(key, strategy id, ma-crossover version id) with the real EUR/USD hours imported."""
    key = platform.new_user("researcher", admin=True)  # admins write the shared market data
    path = shipped_file("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    platform.ok("POST", "/v1/instruments/F:EURUSD/import", key, data=path.read_bytes())
    strategy_id = platform.strategy(key, "ma-research")
    return key, strategy_id, platform.template_version(key, strategy_id)


@pytest.fixture(scope="module")
def tk(platform, owner, tmp_path_factory) -> CLI:
    home = tmp_path_factory.mktemp("home")
    return CLI(home, {**base_env(home), "TEKTII_API_URL": platform.url, "TEKTII_API_KEY": owner[0]})


@pytest.fixture(scope="module")
def base_config(owner, tmp_path_factory) -> Path:
    config = {"strategyVersionId": owner[2], "subscriptions": [{"instrument": "F:EURUSD", "events": ["candle_1h"]}],
              "startTime": START, "endTime": END, "initialCapital": 100000}
    path = tmp_path_factory.mktemp("configs") / "base.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def short_config(base_config) -> Path:
    """The base config over its first nine days (START to HOLDOUT): quicker trials."""
    path = base_config.with_name("short.json")
    path.write_text(json.dumps({**json.loads(base_config.read_text()), "endTime": HOLDOUT}))
    return path

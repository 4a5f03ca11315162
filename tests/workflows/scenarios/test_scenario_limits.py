"""The platform's wall-clock limit of a run (TEKTII_RUN_WALL_CLOCK_S) on a real platform process:
a run past it FAILS with the engine's reason; a bad setting stops the platform's start."""

from __future__ import annotations

import pytest
from tektii_testkit import SPEC_CONFIG, Platform, served, with_version


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    yield from served(tmp_path_factory, TEKTII_RUNTIME="process", TEKTII_RUN_WALL_CLOCK_S="3")


def test_a_run_past_the_wall_clock_limit_fails(platform):
    key = platform.new_user("limited", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    strategy_id = platform.strategy(key, "slow")
    version_id = platform.template_version(key, strategy_id)
    # three months of 1m candles: far longer than 3 s
    scenario = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))
    ended = platform.wait(key, strategy_id, scenario["scenarioId"], timeout=120)
    assert ended["state"] == "FAILED", ended
    assert ended["failureReason"].startswith("the run exceeded its wall-clock limit of 3 s"), ended["failureReason"]


def test_a_bad_setting_stops_the_platform_at_start(tmp_path):
    server = Platform(tmp_path / "data", {"TEKTII_RUN_WALL_CLOCK_S": "soon"}, start=False)
    with pytest.raises(RuntimeError, match="platform exited"):
        server.start()
    log = server.log_path.read_text()
    assert "Error: TEKTII_RUN_WALL_CLOCK_S must be a positive number of seconds, got 'soon'" in log
    assert "Traceback" not in log

"""check_against_instruments: the platform's own market data limits a valid config."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from tektii_testkit import SPEC_CONFIG

from tektii_core.scenario_config import ScenarioConfig, check_against_instruments, validate_config

# Shaped like GET /v1/instruments entries (tektii_engine.data.store.InstrumentInfo.to_api).
INSTRUMENTS = {
    "C:BTCUSD": {
        "dataStart": "2023-06-01T00:00:00Z",
        "dataEnd": "2024-06-01T00:00:00Z",
        "granularities": ["1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "12h", "1d", "1w"],
    },
    "F:EURUSD": {
        "dataStart": datetime(2024, 1, 1, tzinfo=UTC),
        "dataEnd": 1_711_929_600,  # 2024-04-01T00:00:00Z as epoch seconds
        "granularities": ["candle_1h", "candle_4h", "candle_1d"],
    },
}  # fmt: skip


def config(**changes) -> ScenarioConfig:
    data = copy.deepcopy(SPEC_CONFIG)
    data.update(changes)
    result, problems = validate_config(data)
    assert problems == [] and result is not None
    return result


def test_config_inside_the_data_has_no_problem():
    assert check_against_instruments(config(), INSTRUMENTS) == []
    both = config(
        subscriptions=[
            {"instrument": "C:BTCUSD", "events": ["candle_1m", "order_update"]},
            {"instrument": "F:EURUSD", "events": ["candle_1h", "candle_1d"]},
        ]
    )
    # The window may end exactly at the (exclusive) end of the data.
    assert check_against_instruments(both, INSTRUMENTS) == []


def test_unknown_instrument():
    cfg = config(subscriptions=[{"instrument": "C:BTCUSDT", "events": ["candle_1m"]}])
    [problem] = check_against_instruments(cfg, INSTRUMENTS)
    assert problem.path == "subscriptions[0].instrument"
    assert problem.message == (
        'no market data for "C:BTCUSDT" on this platform (did you mean "C:BTCUSD"?); available: C:BTCUSD, F:EURUSD'
    )
    [empty] = check_against_instruments(cfg, {})
    assert empty.message.endswith("the platform has no market data yet")


def test_window_outside_the_data_range():
    cfg = config(startTime="2023-01-01T00:00:00Z", endTime="2024-07-01T00:00:00Z")
    assert [str(p) for p in check_against_instruments(cfg, INSTRUMENTS)] == [
        "startTime: 2023-01-01T00:00:00Z is before the C:BTCUSD data starts (2023-06-01T00:00:00Z)",
        "endTime: 2024-07-01T00:00:00Z is after the C:BTCUSD data ends "
        "(2024-06-01T00:00:00Z, exclusive); the latest possible endTime is 2024-06-01T00:00:00Z",
    ]


def test_timeframe_not_available():
    cfg = config(subscriptions=[{"instrument": "F:EURUSD", "events": ["candle_1m", "candle_1h", "candle_5m"]}])
    problems = check_against_instruments(cfg, INSTRUMENTS)
    assert [p.path for p in problems] == [
        "subscriptions[0].events[0]",
        "subscriptions[0].events[2]",
    ]
    assert problems[0].message == ("candle_1m is not available for F:EURUSD; available: candle_1h, candle_4h, candle_1d")


def test_every_problem_across_subscriptions():
    cfg = config(
        subscriptions=[
            {"instrument": "C:ETHUSD", "events": ["candle_1m"]},
            {"instrument": "F:EURUSD", "events": ["candle_1m"]},
        ],
        endTime="2024-05-01T00:00:00Z",
    )
    assert [p.path for p in check_against_instruments(cfg, INSTRUMENTS)] == [
        "subscriptions[0].instrument",
        "endTime",
        "subscriptions[1].events[0]",
    ]

"""Every validation rule of the scenario config, each broken at least once."""

# ruff: noqa: E501  (the table of rules reads best with one whole message per line)

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from tektii_testkit import SPEC_CONFIG

from tektii_core.scenario_config import (
    CANDLE_EVENTS,
    EVENTS,
    Problem,
    ScenarioConfig,
    Subscription,
    format_problems,
    validate_config,
)

MISSING = object()


def with_change(path: tuple, value: Any) -> dict[str, Any]:
    """The spec example with the value at ``path`` replaced (or removed for MISSING)."""
    config = copy.deepcopy(SPEC_CONFIG)
    target: Any = config
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return config


def problems_of(config: Any) -> list[str]:
    result, problems = validate_config(config)
    assert result is None, "an invalid config must not produce a ScenarioConfig"
    assert problems
    return [str(p) for p in problems]


@pytest.fixture
def spec_example() -> dict[str, Any]:
    return copy.deepcopy(SPEC_CONFIG)


def test_spec_example_is_valid(spec_example):
    config, problems = validate_config(spec_example)
    assert problems == []
    assert config == ScenarioConfig(
        strategy_version_id="ver_xyz789",
        subscriptions=(Subscription("C:BTCUSD", ("candle_1m",)),),
        start_time=datetime(2024, 1, 1, tzinfo=UTC),
        end_time=datetime(2024, 4, 1, tzinfo=UTC),
        initial_capital=100000,
        position_mode="netting",
    )


def test_defaults_are_filled_in(spec_example):
    del spec_example["initialCapital"], spec_example["positionMode"]
    config, problems = validate_config(spec_example)
    assert problems == []
    assert config is not None
    assert config.to_api() == {
        "strategyVersionId": "ver_xyz789",
        "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-04-01T00:00:00Z",
        "initialCapital": 100000,
        "positionMode": "netting",
        "commissionBps": 0,
        "slippageBps": 0,
        "forexLeverage": 30,
        "spreadBps": {"C:BTCUSD": 5.0},  # the crypto default
        "riskFreeRate": 0,
        "startupTimeoutSeconds": 120,
        "eventTimeoutSeconds": 60,
        "ackPolicy": "wait",
        "environment": {},
        "retries": 0,
    }


def test_every_extension_is_accepted_and_kept(spec_example):
    spec_example.update(
        positionMode="hedging",
        initialCapital=2500.5,
        commissionBps=1.5,
        slippageBps=2,
        forexLeverage=50,
        riskFreeRate=0.04,
        environment={"FAST_PERIOD": "10", "SLOW_PERIOD": "30", "_X": ""},
        retries=1,
        subscriptions=[
            {"instrument": "C:BTCUSD", "events": ["candle_1m", "candle_1h", "order_update"]},
            {"instrument": "F:EURUSD", "events": ["candle_5m"]},
            {"instrument": "S:SPX", "events": list(EVENTS)},
            {"instrument": "S:BRK.B", "events": ["trade_update"]},
        ],
        startTime="2024-01-01T01:00:00+01:00",
        endTime="2024-01-02T00:00:00.250Z",
    )
    config, problems = validate_config(spec_example)
    assert problems == []
    assert config is not None
    api = config.to_api()
    assert api["startTime"] == "2024-01-01T00:00:00Z"  # normalised to UTC
    assert api["endTime"] == "2024-01-02T00:00:00.25Z"
    assert config.start_time.tzinfo is not None
    assert (api["positionMode"], api["initialCapital"], api["riskFreeRate"]) == (
        "hedging",
        2500.5,
        0.04,
    )
    assert api["environment"] == {"FAST_PERIOD": "10", "SLOW_PERIOD": "30", "_X": ""}
    assert api["retries"] == 1
    assert config.subscriptions[0].timeframes == ("1m", "1h")
    assert config.subscriptions[2].timeframes == tuple(e[7:] for e in CANDLE_EVENTS)
    # to_api output is itself a valid config that round-trips.
    again, problems = validate_config(api)
    assert problems == [] and again == config


SUB = ("subscriptions", 0)

# (what is broken, JSON path of the change, new value, expected problem line)
RULES = [
    # strategyVersionId
    (("strategyVersionId",), MISSING, "strategyVersionId: required field is missing"),
    (("strategyVersionId",), 42, 'strategyVersionId: must be a version ID string such as "ver_xyz789", got a number (42)'),
    (("strategyVersionId",), "xyz789", 'strategyVersionId: must be a version ID such as "ver_xyz789"'),
    (("strategyVersionId",), "ver_", 'strategyVersionId: must be a version ID such as "ver_xyz789"'),
    (("strategyVersionId",), "strat_abc123", 'strategyVersionId: "strat_abc123" is a strategy ID; use a version ID'),
    (("strategyVersionId",), " ver_abc ", 'strategyVersionId: has spaces around the ID; write "ver_abc"'),
    # subscriptions
    (("subscriptions",), MISSING, "subscriptions: required field is missing"),
    (("subscriptions",), [], "subscriptions: needs at least 1 subscription"),
    (("subscriptions",), "C:BTCUSD", 'subscriptions: must be an array of subscriptions, got a string "C:BTCUSD"'),
    (("subscriptions",), {"instrument": "C:BTCUSD", "events": ["candle_1m"]}, "subscriptions: must be an array of subscriptions: wrap the object in [ ]"),
    (("subscriptions",), [{"instrument": f"S:T{i}", "events": ["candle_1d"]} for i in range(51)], "subscriptions: has 51 subscriptions; at most 50 are allowed"),
    (("subscriptions",), [{"instrument": "C:BTCUSD", "events": ["order_update"]}], "subscriptions: no subscription asks for candles"),
    (("subscriptions",), [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}, {"instrument": "C:BTCUSD", "events": ["candle_1h"]}], 'subscriptions[1].instrument: duplicate instrument "C:BTCUSD" (already in subscriptions[0])'),
    (SUB, "C:BTCUSD", 'subscriptions[0]: must be an object {"instrument": "C:BTCUSD", "events": ["candle_1m"]}, got a string "C:BTCUSD"'),
    ((*SUB, "instrument"), MISSING, "subscriptions[0].instrument: required field is missing"),
    ((*SUB, "events"), MISSING, "subscriptions[0].events: required field is missing"),
    ((*SUB, "symbol"), "C:BTCUSD", 'subscriptions[0].symbol: unknown field "symbol" of a subscription; valid: instrument, events'),
    # instrument
    ((*SUB, "instrument"), 7, 'subscriptions[0].instrument: must be a platform symbol string such as "C:BTCUSD", got a number (7)'),
    ((*SUB, "instrument"), "c:btcusd", 'subscriptions[0].instrument: "c:btcusd" is not a platform symbol: symbols are upper case without spaces (did you mean "C:BTCUSD"?)'),
    ((*SUB, "instrument"), "C:BTC/USD", 'subscriptions[0].instrument: "C:BTC/USD" is not a platform symbol (did you mean "C:BTCUSD"?)'),
    ((*SUB, "instrument"), "BTCUSD", 'subscriptions[0].instrument: "BTCUSD" has no market prefix; use C:<BASE><QUOTE> for crypto'),
    ((*SUB, "instrument"), "X:BTCUSD", 'subscriptions[0].instrument: unknown market prefix "X" in "X:BTCUSD"; use C: crypto, F: forex, S: stocks and indices'),
    ((*SUB, "instrument"), "F:EURUSDX", 'subscriptions[0].instrument: "F:EURUSDX" is not a platform symbol; use C:<BASE><QUOTE>'),
    # events
    ((*SUB, "events"), [], 'subscriptions[0].events: needs at least one event, e.g. ["candle_1m"]'),
    ((*SUB, "events"), "candle_1m", 'subscriptions[0].events: must be an array of event names: write ["candle_1m"]'),
    ((*SUB, "events"), {"candle_1m": True}, "subscriptions[0].events: must be an array of event names"),
    ((*SUB, "events"), ["candle_3m"], 'subscriptions[0].events[0]: unknown event "candle_3m"; valid: candle_1m, candle_2m, candle_5m, candle_10m, candle_15m, candle_30m, candle_1h, candle_2h, candle_4h, candle_12h, candle_1d, candle_1w, order_update, position_update, account_update, trade_update'),
    ((*SUB, "events"), ["candle_1H"], 'subscriptions[0].events[0]: unknown event "candle_1H" (did you mean "candle_1h"?)'),
    ((*SUB, "events"), ["candle_1m", "orders_update"], 'subscriptions[0].events[1]: unknown event "orders_update" (did you mean "order_update"?)'),
    ((*SUB, "events"), ["candle_1m", None], 'subscriptions[0].events[1]: must be an event name such as "candle_1m", got null'),
    ((*SUB, "events"), ["candle_1m", "order_update", "candle_1m"], 'subscriptions[0].events[2]: duplicate event "candle_1m" (already at subscriptions[0].events[0])'),
    # startTime / endTime
    (("startTime",), MISSING, "startTime: required field is missing"),
    (("endTime",), MISSING, "endTime: required field is missing"),
    (("startTime",), 1704067200, 'startTime: must be an RFC 3339 timestamp string such as "2024-01-01T00:00:00Z", got a number'),
    (("startTime",), "2024-01-01", 'startTime: "2024-01-01" has no time of day; write "2024-01-01T00:00:00Z"'),
    (("startTime",), "2024-01-01T00:00:00", 'startTime: "2024-01-01T00:00:00" has no timezone; add "Z" for UTC: "2024-01-01T00:00:00Z"'),
    (("startTime",), "2024-01-01 00:00", 'startTime: "2024-01-01 00:00" has no timezone; add "Z" for UTC: "2024-01-01T00:00:00Z"'),
    (("startTime",), "2024-02-30T00:00:00Z", 'startTime: "2024-02-30T00:00:00Z" is not a real date and time: day is out of range for month'),
    (("startTime",), "2024-01-01T00:00:00+25:00", "timezone offset +25:00 is out of range"),
    (("startTime",), "2016-12-31T23:59:60Z", "leap seconds (second 60) are not supported"),
    (("startTime",), "January 1st", 'startTime: "January 1st" is not an RFC 3339 timestamp; use the form "2024-01-01T00:00:00Z"'),
    (("endTime",), "2024-01-01T00:00:00Z", "endTime: must be after startTime (2024-01-01T00:00:00Z); the window end is exclusive, got 2024-01-01T00:00:00Z"),
    (("endTime",), "2024-01-01T00:30:00+01:00", "endTime: must be after startTime (2024-01-01T00:00:00Z); the window end is exclusive, got 2023-12-31T23:30:00Z"),
    # initialCapital
    (("initialCapital",), 0, "initialCapital: must be between 1 and 100,000,000, got 0"),
    (("initialCapital",), 100_000_001, "initialCapital: must be between 1 and 100,000,000, got 100,000,001"),
    (("initialCapital",), "100000", "initialCapital: must be a number between 1 and 100,000,000, got a string \"100000\"; write 100000 without quotes"),
    (("initialCapital",), True, "initialCapital: must be a number between 1 and 100,000,000, got true"),
    (("initialCapital",), None, "initialCapital: must be a number between 1 and 100,000,000, got null; leave the field out to use the default 100,000"),
    (("initialCapital",), float("nan"), "initialCapital: must be a finite number"),
    # positionMode
    (("positionMode",), "hedge", 'positionMode: unknown position mode "hedge" (did you mean "hedging"?); use "netting" or "hedging"'),
    (("positionMode",), "NETTING", 'positionMode: unknown position mode "NETTING" (did you mean "netting"?)'),
    (("positionMode",), 1, 'positionMode: must be "netting" or "hedging", got a number (1)'),
    # extensions
    (("commissionBps",), -1, "commissionBps: must be between 0 and 10,000, got -1"),
    (("slippageBps",), "2", 'slippageBps: must be a number between 0 and 10,000, got a string "2"; write 2 without quotes'),
    (("slippageBps",), 10_001, "slippageBps: must be between 0 and 10,000, got 10,001"),
    (("forexLeverage",), 0.5, "forexLeverage: must be between 1 and 1000, got 0.5"),
    (("spreadBps",), -1, "spreadBps: must be between 0 and 10,000 basis points, got -1"),
    (("spreadBps",), "2", 'spreadBps: must be a number of basis points between 0 and 10,000 (every instrument) or an object of instrument to basis points, e.g. {"F:EURUSD": 0.8, "C:BTCUSD": 4}, got a string "2"'),
    (("spreadBps",), {"C:BTCUSD": 10_001}, 'spreadBps["C:BTCUSD"]: must be between 0 and 10,000 basis points, got 10001'),
    (("spreadBps",), {"C:BTCUSD": None}, 'spreadBps["C:BTCUSD"]: must be a number of basis points between 0 and 10,000, got null'),
    (("spreadBps",), {"F:EURUSD": 1}, 'spreadBps["F:EURUSD"]: "F:EURUSD" is not a subscribed instrument; subscribed: C:BTCUSD'),
    (("riskFreeRate",), 4, "riskFreeRate: must be more than -1 and at most 1, got 4; it is an annual fraction: write 0.04 for 4 %"),
    (("riskFreeRate",), -1, "riskFreeRate: must be more than -1 and at most 1, got -1"),
    (("environment",), ["A=1"], 'environment: must be an object of variable names to string values, e.g. {"FAST_PERIOD": "10"}, got an array'),
    (("environment",), {"1ST": "x"}, 'environment["1ST"]: "1ST" is not a valid environment variable name'),
    (("environment",), {"MY-VAR": "x"}, 'environment["MY-VAR"]: "MY-VAR" is not a valid environment variable name'),
    (("environment",), {"TEKTII_API_KEY": "x"}, 'environment.TEKTII_API_KEY: "TEKTII_API_KEY": names starting with TEKTII_ are reserved for the platform'),
    (("environment",), {"tektii_mode": "x"}, "names starting with TEKTII_ are reserved"),
    (("environment",), {"TRADING_GATEWAY_URL": "x"}, 'environment.TRADING_GATEWAY_URL: "TRADING_GATEWAY_URL" is set by the platform for every strategy'),
    (("environment",), {"FAST": 10}, 'environment.FAST: must be a string (environment variables are text), got a number (10); write "10"'),
    (("environment",), {"DEBUG": True}, 'environment.DEBUG: must be a string (environment variables are text), got true; write "true"'),
    (("environment",), {"X": "a\x00b"}, "environment.X: must not contain a NUL character"),
    (("environment",), {"PYTHONWARNINGS": "x"}, 'environment.PYTHONWARNINGS: "PYTHONWARNINGS" configures an interpreter; a strategy\'s environment is for its own parameters only'),
    (("environment",), {"BROWSER": "x"}, 'environment.BROWSER: "BROWSER" configures a shell or how programs are found and started'),
    (("environment",), {"LD_PRELOAD": "x"}, 'environment.LD_PRELOAD: "LD_PRELOAD" configures the dynamic loader or the C library'),
    (("environment",), {"https_proxy": "x"}, 'environment.https_proxy: "https_proxy" routes or trusts network traffic'),
    (("environment",), {"NODE_OPTIONS": "x"}, 'environment.NODE_OPTIONS: "NODE_OPTIONS" configures an interpreter'),
    (("environment",), {"fast_period": "x"}, 'environment.fast_period: "fast_period" is not a valid environment variable name (upper-case'),
    (("environment",), {"X": "a" * 4097}, "environment.X: is 4097 characters long; at most 4096 are allowed"),
    (("environment",), {f"V{i}": "1" for i in range(101)}, "environment: has 101 variables; at most 100 are allowed"),
    # retries
    (("retries",), 2, "retries: must be a whole number from 0 to 1 (how often a run whose node was lost starts again), got a number (2)"),
    (("retries",), 0.5, "retries: must be a whole number from 0 to 1"),
    (("retries",), True, "retries: must be a whole number from 0 to 1 (how often a run whose node was lost starts again), got true"),
    # unknown top-level fields
    (("start_time",), "2024-01-01T00:00:00Z", 'start_time: unknown field "start_time" (did you mean "startTime"?)'),
    (("capital",), 5, 'capital: unknown field "capital"'),
    (("comission",), 5, 'comission: unknown field "comission" (did you mean "commissionBps"?)'),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "expected"), RULES, ids=[r[2][:60] for r in RULES])
def test_each_rule(path, value, expected):
    lines = problems_of(with_change(path, value))
    assert any(expected in line for line in lines), "\n".join(lines)
    # The change breaks one rule, so the config has one problem (and not a cascade).
    assert len(lines) == 1, "\n".join(lines)


def test_root_must_be_an_object():
    for value, kind in (([], "an array"), ("x", 'a string "x"'[:8]), (None, "null"), (3, "a number")):
        assert problems_of(value) == [f"a scenario config must be a JSON object {{...}}, got {kind}"]


def test_misspelt_required_field_is_one_problem_not_two(spec_example):
    spec_example["strategyVersionID"] = spec_example.pop("strategyVersionId")
    assert problems_of(spec_example) == [
        'strategyVersionID: unknown field "strategyVersionID" (did you mean "strategyVersionId"?)'
    ]


def test_many_errors_are_all_reported_by_path():
    config = {
        "strategyVersionId": "strat_1",
        "subscriptions": [
            {"instrument": "C:BTCUSD", "events": ["candle_1m", "candle_3m"]},
            {"instrument": "btcusd", "events": []},
            "F:EURUSD",
            {"instrument": "F:EURUSD", "events": ["candle_5m", "candle_5m", "fills"]},
        ],
        "startTime": "2024-04-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:00Z",
        "initialCapital": 0,
        "positionMode": "both",
        "commissionBps": -5,
        "environment": {"TEKTII_X": "1", "N": 3},
        "strat": "x",
    }
    result, problems = validate_config(config)
    assert result is None
    assert [p.path for p in problems] == [
        "strat",
        "strategyVersionId",
        "subscriptions[0].events[1]",
        "subscriptions[1].instrument",
        "subscriptions[1].events",
        "subscriptions[2]",
        "subscriptions[3].events[1]",
        "subscriptions[3].events[2]",
        "endTime",
        "initialCapital",
        "commissionBps",
        "positionMode",
        "environment.TEKTII_X",
        "environment.N",
    ]
    text = format_problems(problems)
    assert text.splitlines()[2].startswith('subscriptions[0].events[1]: unknown event "candle_3m"; valid: candle_1m')
    assert len(text.splitlines()) == len(problems)


def test_problem_formatting():
    assert str(Problem("a.b[0]", "bad")) == "a.b[0]: bad"
    assert str(Problem("", "bad")) == "bad"
    assert Problem("x", "y").to_api() == {"field": "x", "message": "y"}
    assert Problem("", "y").to_api() == {"field": None, "message": "y"}
    assert format_problems([Problem("a", "1"), Problem("b", "2")], indent="  ") == "  a: 1\n  b: 2"

"""Property-based tests: valid configs validate; no input makes the validator raise."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tektii_core.scenario_config import (
    CANDLE_EVENTS,
    ENV_NAME_RE,
    EVENTS,
    FIELDS,
    MAX_SUBSCRIPTIONS,
    NUMBERS,
    POSITION_MODES,
    SYMBOL_RE,
    ConfigError,
    Problem,
    config_json_schema,
    parse_config_text,
    protected_env_problem,
    validate_config,
)

try:  # a test dependency: without it the properties still run, minus the schema agreement
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None
SCHEMA = jsonschema.Draft202012Validator(config_json_schema()) if jsonschema else None


def schema_accepts(config: Any) -> bool | None:
    return None if SCHEMA is None else not list(SCHEMA.iter_errors(config))


symbols = st.from_regex(SYMBOL_RE, fullmatch=True)
env_names = st.from_regex(ENV_NAME_RE, fullmatch=True).filter(lambda n: protected_env_problem(n) is None)
offsets = st.sampled_from([timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8)])
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


def rfc3339(t: datetime, offset: timedelta, z: bool) -> str:
    local = t.astimezone(timezone(offset))
    text = local.isoformat()
    return text.replace("+00:00", "Z") if z else text


@st.composite
def subscriptions(draw):
    instruments = draw(st.lists(symbols, min_size=1, max_size=6, unique=True))
    subs = []
    for i, instrument in enumerate(instruments):
        events = draw(st.lists(st.sampled_from(EVENTS), min_size=1, max_size=5, unique=True))
        if i == 0 and not set(events) & set(CANDLE_EVENTS):
            events.append(draw(st.sampled_from(CANDLE_EVENTS)))
        subs.append({"instrument": instrument, "events": events})
    return subs


def in_range(name: str):
    low, high, _, exclusive = NUMBERS[name]
    floats = st.floats(low, high, exclude_min=exclusive, allow_nan=False)
    if exclusive:
        return floats
    return floats | st.integers(int(low), int(high))


@st.composite
def valid_configs(draw) -> dict[str, Any]:
    start = draw(moments)
    length = draw(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=900)))
    config: dict[str, Any] = {
        "strategyVersionId": "ver_" + draw(st.from_regex(r"[A-Za-z0-9]{1,30}", fullmatch=True)),
        "subscriptions": draw(subscriptions()),
        "startTime": rfc3339(start, draw(offsets), draw(st.booleans())),
        "endTime": rfc3339(start + length, draw(offsets), draw(st.booleans())),
    }
    for name in NUMBERS:
        if draw(st.booleans()):
            config[name] = draw(in_range(name))
    if draw(st.booleans()):
        config["positionMode"] = draw(st.sampled_from(POSITION_MODES))
    if draw(st.booleans()):
        config["environment"] = draw(st.dictionaries(env_names, st.text().filter(lambda v: "\x00" not in v), max_size=4))
    return config


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_valid_configs_validate_and_round_trip(config):
    result, problems = validate_config(config)
    assert problems == []
    assert result is not None
    api = result.to_api()
    assert set(api) == set(FIELDS)
    assert validate_config(json.loads(json.dumps(api))) == (result, [])
    assert schema_accepts(config) in (True, None)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths_of(item, (*prefix, i))
    return out


@st.composite
def mutated_configs(draw) -> dict[str, Any]:
    config = copy.deepcopy(draw(valid_configs()))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths_of(config)))
        if not path:
            continue
        parent: Any = config
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return config


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutations_never_raise_and_agree_with_the_schema(config):
    result, problems = validate_config(config)
    assert (result is None) == bool(problems)
    assert all(isinstance(p, Problem) and p.message for p in problems)
    schema_ok = schema_accepts(config)
    if result is not None:
        assert schema_ok in (True, None), "the validator accepts what the schema rejects"
    if schema_ok is False:
        assert problems, "the schema rejects what the validator accepts"


@given(json_values)
def test_any_json_value_gives_problems_not_exceptions(value):
    result, problems = validate_config(value)
    assert result is None and problems


@given(st.text(max_size=60))
def test_parse_raises_only_config_errors(text):
    try:
        data = parse_config_text(text)
    except ConfigError as err:
        assert err.message
    else:
        assert isinstance(data, dict)


def test_too_many_subscriptions_is_one_problem():
    config = {
        "strategyVersionId": "ver_a",
        "subscriptions": [{"instrument": f"S:T{i}", "events": ["candle_1d"]} for i in range(MAX_SUBSCRIPTIONS)],
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-02T00:00:00Z",
    }
    assert validate_config(config)[1] == []
    config["subscriptions"].append({"instrument": "S:EXTRA", "events": ["candle_1d"]})
    assert [p.path for p in validate_config(config)[1]] == ["subscriptions"]

"""The platform validates a scenario config itself (it never trusts a client): every rule of
tektii_core.scenario_config through the API, the version (READY, of this strategy) and the
market data (instrument present, window inside its range). Nothing is created on any problem."""

from __future__ import annotations

import pytest
from tektii_testkit import SPEC_CONFIG, served, with_version

from tektii_core.scenario_config import config_json_schema


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    # No runs are expected to start here; the process runtime keeps any that do cheap.
    yield from served(tmp_path_factory, TEKTII_RUNTIME="process")


@pytest.fixture(scope="module")
def owner(platform):
    key = platform.new_user("validator", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    strategy_id = platform.strategy(key, "validated")
    return key, strategy_id, platform.template_version(key, strategy_id)


def problems(platform, key, strategy_id, body) -> dict[str, list[str]]:
    """POST the body; it must be a 422 naming fields; returns field -> messages."""
    response = platform.call("POST", f"/v1/strategies/{strategy_id}/scenarios", key, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and error["message"].startswith("Invalid scenario config")
    found: dict[str, list[str]] = {}
    for detail in error["details"]:
        found.setdefault(detail["field"], []).append(detail["message"])
    return found


def assert_nothing_created(platform, key, strategy_id):
    assert platform.ok("GET", f"/v1/strategies/{strategy_id}/scenarios", key)["scenarios"] == []


RULES = [
    # (what is changed, the field reported, a word of the message)
    ({"strategyVersionId": None}, "strategyVersionId", "required field is missing"),
    ({"strategyVersionId": 42}, "strategyVersionId", "version ID"),
    ({"strategyVersionId": "strat_abc"}, "strategyVersionId", "strategy ID"),
    ({"subscriptions": []}, "subscriptions", "at least 1"),
    ({"subscriptions": [{"instrument": f"C:X{i:03d}USD", "events": ["candle_1m"]} for i in range(51)]},
     "subscriptions", "at most 50"),
    ({"subscriptions": [{"instrument": "BTCUSD", "events": ["candle_1m"]}]}, "subscriptions[0].instrument",
     "market prefix"),
    ({"subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_3m"]}]}, "subscriptions[0].events[0]",
     'unknown event "candle_3m"'),
    ({"subscriptions": [{"instrument": "C:BTCUSD", "events": []}]}, "subscriptions[0].events", "at least one"),
    ({"subscriptions": [{"instrument": "C:BTCUSD", "events": ["order_update"]}]}, "subscriptions", "candle"),
    ({"startTime": "2024-01-01"}, "startTime", "time"),
    ({"endTime": "2023-12-31T00:00:00Z"}, "endTime", "after startTime"),
    ({"initialCapital": 0}, "initialCapital", "between 1 and 100,000,000"),
    ({"initialCapital": 100_000_001}, "initialCapital", "between 1 and 100,000,000"),
    ({"positionMode": "hedge"}, "positionMode", "hedging"),
    ({"environment": {"TEKTII_X": "1"}}, "environment.TEKTII_X", "reserved"),
    ({"commissionBps": -1}, "commissionBps", "between"),
    ({"riskFreeRate": 4}, "riskFreeRate", "fraction"),
    ({"startTme": "2024-01-01T00:00:00Z"}, "startTme", 'did you mean "startTime"'),
]


@pytest.mark.parametrize(("change", "field", "words"), RULES, ids=[r[1] + ":" + r[2] for r in RULES])
def test_every_config_rule_is_applied_by_the_platform(platform, owner, change, field, words):
    key, strategy_id, version_id = owner
    body = {k: v for k, v in {**with_version(SPEC_CONFIG, version_id), **change}.items() if v is not None}
    found = problems(platform, key, strategy_id, body)
    assert field in found, found
    assert any(words in message for message in found[field]), found[field]
    assert_nothing_created(platform, key, strategy_id)


def test_missing_required_fields_and_many_errors_at_once(platform, owner):
    key, strategy_id, _ = owner
    assert set(problems(platform, key, strategy_id, {})) == {"strategyVersionId", "subscriptions", "startTime", "endTime"}
    body = {
        "strategyVersionId": "ver_xyz789",  # well-formed, but no version of this strategy
        "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m", "candle_7m"]},
                          {"instrument": "c:ethusd", "events": ["candle_1m"]}],
        "startTime": "2024-02-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:00Z",
        "initialCapital": -5,
        "positionMode": "both",
        "environment": {"FAST_PERIOD": 5},
    }
    found = problems(platform, key, strategy_id, body)
    assert set(found) == {"strategyVersionId", "subscriptions[0].events[1]", "subscriptions[1].instrument", "endTime",
                          "initialCapital", "positionMode", "environment.FAST_PERIOD"}, found
    assert_nothing_created(platform, key, strategy_id)


def test_version_must_be_a_ready_version_of_this_strategy(platform, owner, registry_binary):
    key, strategy_id, _ = owner
    unknown = problems(platform, key, strategy_id, with_version(SPEC_CONFIG, "ver_doesnotexist"))
    assert unknown.keys() == {"strategyVersionId"} and "is not a version of strategy" in unknown["strategyVersionId"][0]

    other_strategy = platform.strategy(key, "another")
    foreign = platform.template_version(key, other_strategy)
    found = problems(platform, key, strategy_id, with_version(SPEC_CONFIG, foreign))
    assert f"{foreign} is not a version of strategy {strategy_id}" in found["strategyVersionId"][0]

    # an upload that never completed (PENDING) and one that failed
    pending = platform.ok("POST", f"/v1/strategies/{strategy_id}/versions", key, 201, json={"gitSha": "abc1234"})["id"]
    found = problems(platform, key, strategy_id, with_version(SPEC_CONFIG, pending))
    assert "is PENDING" in found["strategyVersionId"][0] and "not READY" in found["strategyVersionId"][0]
    failed = platform.ok("POST", f"/v1/strategies/{strategy_id}/versions", key, 201, json={"gitSha": "abc1235"})["id"]
    platform.ok("POST", f"/v1/strategies/{strategy_id}/versions/{failed}/fail", key, json={"reason": "build broke"})
    found = problems(platform, key, strategy_id, with_version(SPEC_CONFIG, failed))
    assert "is FAILED (build broke)" in found["strategyVersionId"][0]
    assert_nothing_created(platform, key, strategy_id)


def test_instruments_and_window_are_checked_against_the_platform_data(platform, owner):
    key, strategy_id, version_id = owner
    no_data = with_version(SPEC_CONFIG, version_id, subscriptions=[
        {"instrument": "C:BTCUSD", "events": ["candle_1m"]}, {"instrument": "C:ETHUSD", "events": ["candle_1h"]}])
    found = problems(platform, key, strategy_id, no_data)
    assert list(found) == ["subscriptions[1].instrument"]
    assert 'no market data for "C:ETHUSD"' in found["subscriptions[1].instrument"][0]
    assert "C:BTCUSD" in found["subscriptions[1].instrument"][0]  # what is available

    outside = with_version(SPEC_CONFIG, version_id, startTime="2023-12-01T00:00:00Z", endTime="2024-05-01T00:00:00Z")
    found = problems(platform, key, strategy_id, outside)
    assert "before the C:BTCUSD data starts (2024-01-01T00:00:00Z)" in found["startTime"][0]
    assert "after the C:BTCUSD data ends (2024-04-01T00:00:00Z" in found["endTime"][0]
    assert_nothing_created(platform, key, strategy_id)


def test_malformed_bodies(platform, owner):
    key, strategy_id, _ = owner
    path = f"/v1/strategies/{strategy_id}/scenarios"
    broken = platform.call("POST", path, key, data="{\"strategyVersionId\": ", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    listed = problems(platform, key, strategy_id, [SPEC_CONFIG])
    assert list(listed) == [None] and "JSON object" in listed[None][0]
    assert_nothing_created(platform, key, strategy_id)
    assert platform.call("POST", "/v1/strategies/strat_nope/scenarios", key, json=SPEC_CONFIG).status_code == 404


def test_the_config_schema_is_served_publicly(platform):
    response = platform.call("GET", "/v1/scenario-config/schema")
    assert response.status_code == 200
    assert response.json() == config_json_schema()


def test_the_scenario_routes_are_in_the_openapi_document(platform, owner):
    from tektii_platform.validation import validate

    doc = platform.call("GET", "/v1/openapi.json").json()
    base = "/v1/strategies/{strategyId}/scenarios"
    for path, method in ((base, "post"), (base, "get"), (base + "/{scenarioId}", "get"),
                         (base + "/{scenarioId}/cancel", "post"), (base + "/{scenarioId}/logs", "get"),
                         (base + "/{scenarioId}/results/{type}", "get"), ("/v1/scenario-config/schema", "get")):
        assert method in doc["paths"][path], (path, method)
    schemas = doc["components"]["schemas"]
    assert "ScenarioConfigSubscription" in schemas
    key = owner[0]
    strategy_id = platform.strategy(key, "documented")  # the owner's strategy stays without scenarios
    version_id = platform.template_version(key, strategy_id)
    created = platform.call("POST", f"/v1/strategies/{strategy_id}/scenarios", key,
                            json=with_version(SPEC_CONFIG, version_id, endTime="2024-01-01T06:00:00Z"))
    schema = doc["paths"][base]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert validate(schema, created.json(), schemas=schemas) == []
    scenario_id = created.json()["data"]["scenarioId"]
    done = platform.wait(key, strategy_id, scenario_id)
    one = doc["paths"][base + "/{scenarioId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert validate(one, {"data": done}, schemas=schemas) == []
    request = doc["paths"][base]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert validate(request, with_version(SPEC_CONFIG, version_id), schemas=schemas) == []
    platform.call("POST", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}/cancel", key)

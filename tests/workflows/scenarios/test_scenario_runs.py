"""Scenario runs on a real platform process: the spec's example config end to end with a
template version (process runtime, generated C:BTCUSD data), results in json and csv, logs
while running, cancel (PENDING and RUNNING, nothing left running), a failing strategy, two
runs at once with a third queued, pagination and filters, another user's 404."""

from __future__ import annotations

import csv
import io
import socket
import time

import pytest
from tektii_testkit import SPEC_CONFIG, alive, children, served, with_version

from tektii_core.timeutil import to_epoch
from tektii_engine.metrics import compute_metrics

SHORT = {"endTime": "2024-01-03T00:00:00Z"}  # two days of 1m candles: a few seconds


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    yield from served(tmp_path_factory, TEKTII_RUNTIME="process", TEKTII_MAX_CONCURRENT_RUNS="2")


@pytest.fixture(scope="module")
def owner(platform):
    """(key, strategy id, template version id) with C:BTCUSD data for the spec's window."""
    key = platform.new_user("owner", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    strategy_id = platform.strategy(key, "momentum-v1")
    return key, strategy_id, platform.template_version(key, strategy_id)


def scen_path(strategy_id: str, scenario_id: str = "") -> str:
    return f"/v1/strategies/{strategy_id}/scenarios" + (f"/{scenario_id}" if scenario_id else "")


def worker_pid(platform, scenario_id: str) -> int:
    row = platform.scenario_row(scenario_id)
    assert row["handle"].startswith("pid:"), row
    return int(row["handle"].split(":")[1])  # "pid:PID:START"


def test_spec_example_runs_end_to_end_with_a_template(platform, owner):
    key, strategy_id, version_id = owner
    created = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))
    assert created["state"] == "PENDING" and created["scenarioId"].startswith("scen_")
    assert created["progress"] is None and "totalReturn" not in created
    assert created["config"] == {**with_version(SPEC_CONFIG, version_id), "commissionBps": 0, "slippageBps": 0,
                                 "forexLeverage": 30, "spreadBps": {"C:BTCUSD": 5.0}, "riskFreeRate": 0,
                                 "startupTimeoutSeconds": 120,
                                 "eventTimeoutSeconds": 60, "ackPolicy": "wait", "environment": {},
                                 "retries": 0}
    scenario_id = created["scenarioId"]
    early = platform.call("GET", scen_path(strategy_id, scenario_id) + "/results/trades", key)
    assert early.status_code == 409 and early.json()["error"]["code"] == "scenario_not_complete"

    done = platform.wait(key, strategy_id, scenario_id, timeout=600)
    assert done["state"] == "COMPLETE", done
    assert done["failureReason"] is None and done["startedAt"] and done["finishedAt"]
    assert done["execution"] == {"backend": "local", "node": socket.gethostname()}
    for field in ("totalReturn", "sharpeRatio", "maxDrawdownPct", "totalTrades", "winRatePct", "sortinoRatio"):
        assert isinstance(done[field], (int, float)), field
    assert isinstance(done["totalTrades"], int) and done["totalTrades"] > 0
    assert done["progress"]["fraction"] == 1.0

    # The headline metrics agree with an independent computation from the downloaded results
    # (365 periods a year: the only instrument is crypto).
    base = scen_path(strategy_id, scenario_id) + "/results"
    rows = platform.ok("GET", base + "/timeseries", key)["rows"]
    trades = platform.ok("GET", base + "/trades", key)["trades"]
    assert len(trades) == done["totalTrades"]
    assert rows[0]["time"] >= "2024-01-01T00:00:00Z" and rows[-1]["time"] <= "2024-04-01T00:00:00Z"
    expected = compute_metrics(
        [to_epoch(r["time"]) for r in rows], [r["equity"] for r in rows],
        [{"pnl": t["pnl"], "fees": t["fees"], "entry_time": to_epoch(t["entryTime"]),
          "exit_time": to_epoch(t["exitTime"])} for t in trades],
        initial_capital=100000, periods_per_year=365)
    for name in ("totalReturn", "sharpeRatio", "totalTrades", "winRatePct", "sortinoRatio"):
        assert done[name] == pytest.approx(expected[name], rel=1e-9), name
    assert done["totalReturn"] == pytest.approx((rows[-1]["equity"] / 100000 - 1) * 100)
    # max drawdown is the engine's, exact over every bar: at least what the sampled curve shows
    assert done["maxDrawdownPct"] >= max(r["drawdownPct"] for r in rows) - 1e-9
    assert done["maxDrawdownPct"] >= expected["maxDrawdownPct"] - 1e-9

    # csv: a header row, then the same rows as json
    text = platform.call("GET", base + "/timeseries", key, params={"format": "csv"})
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert text.text.splitlines()[0] == "time,equity,cash,drawdownPct"
    assert len(table) == len(rows) and float(table[5]["equity"]) == rows[5]["equity"]
    trades_csv = list(csv.DictReader(io.StringIO(platform.call("GET", base + "/trades", key,
                                                               params={"format": "csv"}).text)))
    assert [t["entryTime"] for t in trades_csv] == [t["entryTime"] for t in trades]
    assert float(trades_csv[0]["pnl"]) == trades[0]["pnl"] and trades_csv[0]["symbol"] == "C:BTCUSD"
    metadata = platform.ok("GET", base + "/metadata", key)
    assert metadata["scenarioId"] == scenario_id and metadata["totalReturn"] == done["totalReturn"]
    assert metadata["counters"]["candles"] == 131040 and metadata["config"] == done["config"]
    meta_csv = {r["field"]: r["value"] for r in csv.DictReader(io.StringIO(
        platform.call("GET", base + "/metadata", key, params={"format": "csv"}).text))}
    assert meta_csv["state"] == "COMPLETE" and meta_csv["counters.candles"] == "131040"
    assert meta_csv["config.positionMode"] == "netting"
    bad = platform.call("GET", base + "/timeseries", key, params={"format": "xml"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "format"
    assert platform.call("GET", base + "/orders", key).status_code == 404

    # the log holds the strategy's own lines
    logs = platform.ok("GET", scen_path(strategy_id, scenario_id) + "/logs", key)
    assert logs["state"] == "COMPLETE" and any("starting" in line for line in logs["lines"])


def test_cancel_a_running_scenario_stops_the_strategy(platform, owner):
    key, strategy_id, version_id = owner
    scenario = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))
    running = platform.wait(key, strategy_id, scenario["scenarioId"], states=("RUNNING",), progress=True)
    assert 0 <= running["progress"]["fraction"] < 1 and running["progress"]["equity"] > 0
    assert "totalReturn" not in running
    worker = worker_pid(platform, scenario["scenarioId"])
    processes = {worker} | children(worker)
    assert len(processes) >= 2, "the worker runs the strategy as a child process"

    # logs while running: lines appear, and paging on from nextOffset repeats none of them
    deadline, first = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        first = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/logs", key)
        if first["lines"]:
            break
        time.sleep(0.2)
    assert first["state"] == "RUNNING" and first["lines"][0].startswith("INFO starting")
    after = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/logs", key,
                        params={"offset": first["nextOffset"]})
    assert after["nextOffset"] == first["nextOffset"] + len(after["lines"])
    skip = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/logs", key, params={"offset": 1})
    assert skip["lines"][: len(first["lines"]) - 1] == first["lines"][1:]

    # answered at once: the run is still stopping, and says so; the client waits for its end
    requested = platform.ok("POST", scen_path(strategy_id, scenario["scenarioId"]) + "/cancel", key)
    assert requested["state"] == "RUNNING" and requested["cancelRequested"] is True
    cancelled = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]), key, params={"waitS": "30"},
                            timeout=60)
    assert cancelled["state"] == "CANCELLED" and cancelled["failureReason"] is None and cancelled["cancelRequested"]
    deadline = time.monotonic() + 10
    while any(alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in processes if alive(p)], "the worker and the strategy process are gone"
    again = platform.call("POST", scen_path(strategy_id, scenario["scenarioId"]) + "/cancel", key)
    assert again.status_code == 409 and again.json()["error"]["code"] == "scenario_finished"
    results = platform.call("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/results/metadata", key)
    assert results.status_code == 409


def test_two_run_at_once_and_a_third_waits_in_the_queue(platform, owner):
    key, strategy_id, version_id = owner
    ids = [platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))["scenarioId"] for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [platform.get(key, strategy_id, i)["state"] for i in ids]
            if states[:2] == ["RUNNING", "RUNNING"]:
                break
            time.sleep(0.2)
        assert states[:2] == ["RUNNING", "RUNNING"], states
        assert platform.get(key, strategy_id, ids[2])["state"] == "PENDING"  # TEKTII_MAX_CONCURRENT_RUNS=2
        # a queued scenario is cancelled at once, and never starts
        queued = platform.ok("POST", scen_path(strategy_id, ids[2]) + "/cancel", key)
        assert queued["state"] == "CANCELLED" and queued["startedAt"] is None
    finally:
        for scenario_id in ids:
            platform.call("POST", scen_path(strategy_id, scenario_id) + "/cancel", key)
    for scenario_id in ids:
        platform.wait(key, strategy_id, scenario_id, timeout=60)
    assert [platform.get(key, strategy_id, i)["state"] for i in ids] == ["CANCELLED"] * 3


def test_a_failing_strategy_fails_the_run_with_its_reason(platform, owner):
    key, strategy_id, version_id = owner
    config = with_version(SPEC_CONFIG, version_id, environment={"FAST_PERIOD": "ten"}, **SHORT)
    scenario = platform.create(key, strategy_id, config)
    path = scen_path(strategy_id, scenario["scenarioId"])
    # One long poll: the answer comes when the run has ended (it takes seconds, not 30).
    done = platform.ok("GET", path, key, params={"waitS": "30"}, timeout=60)
    assert done["state"] == "FAILED"
    bad = platform.call("GET", path, key, params={"waitS": "31"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "waitS", bad.text
    assert "exited with code 2" in done["failureReason"]
    assert "FAST_PERIOD='ten' is not an integer" in done["failureReason"]  # the strategy's own words
    assert "totalReturn" not in done
    logs = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/logs", key)
    assert any("FAST_PERIOD='ten'" in line for line in logs["lines"])


def test_environment_and_extensions_reach_the_run(platform, owner):
    key, strategy_id, version_id = owner
    config = with_version(SPEC_CONFIG, version_id, environment={"FAST_PERIOD": "5", "SLOW_PERIOD": "8"},
                          commissionBps=10, riskFreeRate=0.04, **SHORT)
    scenario = platform.create(key, strategy_id, config)
    done = platform.wait(key, strategy_id, scenario["scenarioId"], timeout=120)
    assert done["state"] == "COMPLETE", done
    assert done["totalFees"] > 0 and done["config"]["commissionBps"] == 10
    logs = platform.ok("GET", scen_path(strategy_id, scenario["scenarioId"]) + "/logs", key)
    assert "fast_period=5, slow_period=8" in logs["lines"][0]


def test_list_paginates_and_filters(platform):
    key = platform.new_user("lister", admin=True)
    platform.generate(key, "C:SOLUSD", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    strategy_id = platform.strategy(key, "lister")
    first, second = platform.template_version(key, strategy_id), platform.template_version(key, strategy_id, "rsi-momentum")
    config = {"subscriptions": [{"instrument": "C:SOLUSD", "events": ["candle_1h"]}],
              "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-02T00:00:00Z"}
    made = [platform.create(key, strategy_id, {**config, "strategyVersionId": v})["scenarioId"]
            for v in (first, second, first, second, first)]
    for scenario_id in made:
        platform.wait(key, strategy_id, scenario_id, timeout=120)
    seen, cursor = [], None
    while True:
        page = platform.ok("GET", scen_path(strategy_id), key, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert len(page["scenarios"]) <= 2
        seen += [s["scenarioId"] for s in page["scenarios"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == made[::-1]  # newest first, each once
    by_version = platform.ok("GET", scen_path(strategy_id), key, params={"versionId": second})["scenarios"]
    assert [s["scenarioId"] for s in by_version] == [made[3], made[1]]
    complete = platform.ok("GET", scen_path(strategy_id), key, params={"state": "COMPLETE"})["scenarios"]
    assert {s["scenarioId"] for s in complete} == set(made)
    assert all("totalReturn" in s for s in complete)
    assert platform.ok("GET", scen_path(strategy_id), key, params={"state": "FAILED"})["scenarios"] == []
    bad = platform.call("GET", scen_path(strategy_id), key, params={"state": "DONE", "versionId": "nope", "limit": 0})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"state", "versionId", "limit"}


def test_another_users_scenarios_are_not_found(platform, owner):
    key, strategy_id, version_id = owner
    scenario = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id, **SHORT))
    other = platform.new_user("intruder")
    for method, suffix in (("GET", ""), ("POST", "/cancel"), ("GET", "/logs"), ("GET", "/results/trades")):
        response = platform.call(method, scen_path(strategy_id, scenario["scenarioId"]) + suffix, other)
        assert response.status_code == 404, (suffix, response.text)
    assert platform.call("GET", scen_path(strategy_id), other).status_code == 404
    assert platform.call("POST", scen_path(strategy_id), other, json=with_version(SPEC_CONFIG, version_id)).status_code == 404
    assert platform.call("GET", scen_path(strategy_id, "scen_doesnotexist"), key).status_code == 404
    assert platform.call("GET", scen_path(strategy_id, scenario["scenarioId"])).status_code == 401
    platform.wait(key, strategy_id, scenario["scenarioId"], timeout=120)


def test_a_template_a_plugin_registers_runs_like_a_builtin(platform, owner):
    """The example plugin's buy-and-hold template (register_templates): offered by the platform,
    accepted for a version, and run by the worker from the plugin's own directory."""
    key, strategy_id, _ = owner
    offered = platform.call("GET", "/v1/templates").json()["data"]["templates"]
    assert {"name": "buy-and-hold", "description": "Buys QUANTITY units of each symbol on its first candle and holds"
            " (example plugin)", "defaults": {"QUANTITY": "1"}} in offered
    version_id = platform.template_version(key, strategy_id, "buy-and-hold")
    created = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id, **SHORT,
                                                             environment={"QUANTITY": "0.5"}))
    done = platform.wait(key, strategy_id, created["scenarioId"], timeout=600)
    assert done["state"] == "COMPLETE", done
    base = scen_path(strategy_id, created["scenarioId"]) + "/results"
    rows = platform.ok("GET", base + "/timeseries", key)["rows"]
    assert rows and rows[-1]["equity"] != rows[0]["equity"]  # it bought, and the price moved
    unknown = platform.call("POST", f"/v1/strategies/{strategy_id}/versions", key,
                            json={"gitSha": "abc1234", "template": "nope"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "template"

"""A run's token, tried as an attacker would: it reads only its run's window, writes only its own
run, only while the run is RUNNING; API keys do not work on the run endpoints, nor run tokens on
the user endpoints; the database holds only its hash."""

from __future__ import annotations

import hashlib

import pytest
from tektii_testkit import SPEC_CONFIG, run_desk, running_run

from tektii_core.timeutil import to_epoch

START, END = to_epoch("2024-01-01T00:00:00Z"), to_epoch("2024-01-02T00:00:00Z")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    yield from run_desk(tmp_path_factory, "2023-12-01T00:00:00Z", "2024-02-01T00:00:00Z")


def run(desk, **config):
    platform, key, strategy_id, version_id = desk
    body = {**SPEC_CONFIG, "strategyVersionId": version_id, "endTime": "2024-01-02T00:00:00Z", **config}
    return running_run(platform, key, strategy_id, body)


def call(desk, method, path, token, **kwargs):
    return desk[0].call(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def candles(desk, scenario_id, token, symbol="C:BTCUSD", start=START, end=END):
    params = {"symbol": symbol, "timeframe": "1m", "start": start,
              "end": end}
    return call(desk, "GET", f"/v1/runs/{scenario_id}/candles", token, params=params)


def test_a_run_token_reads_its_window_as_an_arrow_stream(desk):
    import pyarrow as pa

    scenario_id, token = run(desk)
    response = candles(desk, scenario_id, token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.num_rows > 0 and table.column("time")[0].as_py() >= START


def test_a_run_token_reads_nothing_outside_its_window(desk):
    scenario_id, token = run(desk)
    assert candles(desk, scenario_id, token, start=START - 86400).status_code == 403  # before the window
    assert candles(desk, scenario_id, token, end=END + 86400).status_code == 403  # after it
    assert candles(desk, scenario_id, token, symbol="F:EURUSD").status_code == 403  # not its instrument


def test_a_run_token_is_worthless_for_another_run(desk):
    mine, token = run(desk)
    other, _ = run(desk)
    assert candles(desk, other, token).status_code == 401
    for method, what, body in (("POST", "progress", {"fraction": 0.5, "eventsPerSecond": 1, "equity": 1}),
                               ("POST", "logs", {"lines": ["forged"]}), ("PUT", "result", {"state": "COMPLETE"})):
        assert call(desk, method, f"/v1/runs/{other}/{what}", token, json=body).status_code == 401
    assert not (desk[0].data_dir / "runs" / other / "result.json").exists()
    assert not (desk[0].data_dir / "runs" / other / "strategy.log").exists()


def test_a_run_token_is_worthless_once_the_run_ended(desk):
    from tektii_platform.store.tables import scenarios

    scenario_id, token = run(desk)
    assert candles(desk, scenario_id, token).status_code == 200
    # the run ends (the scheduler also deletes the token then: even a leftover row is refused)
    with desk.platform.database() as db:
        db.execute(scenarios.update().where(scenarios.c.id == scenario_id).values(state="COMPLETE"))
    assert candles(desk, scenario_id, token).status_code == 401
    assert call(desk, "PUT", f"/v1/runs/{scenario_id}/result", token, json={"state": "COMPLETE"}).status_code == 401


def test_an_expired_run_token_is_refused(desk):
    platform, key, strategy_id, version_id = desk
    body = {**SPEC_CONFIG, "strategyVersionId": version_id, "endTime": "2024-01-02T00:00:00Z"}
    scenario_id, token = running_run(platform, key, strategy_id, body, wall_clock_s=-3600)
    assert candles(desk, scenario_id, token).status_code == 401


def test_api_keys_and_run_tokens_do_not_cross(desk):
    platform, key, strategy_id, _ = desk
    scenario_id, token = run(desk)
    # a user's API key (even the owner's, even an admin's) on the run endpoints
    assert candles(desk, scenario_id, key).status_code == 401
    assert platform.call("GET", f"/v1/runs/{scenario_id}/candles", key).status_code == 401
    assert call(desk, "PUT", f"/v1/runs/{scenario_id}/result", key, json={"state": "COMPLETE"}).status_code == 401
    # a run token on the user endpoints
    for path in ("/v1/me", f"/v1/strategies/{strategy_id}/scenarios", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}"):
        assert call(desk, "GET", path, token).status_code == 401, path
        assert platform.call("GET", path, headers={"X-API-Key": token}).status_code == 401, path


def test_only_the_tokens_hash_is_stored(desk):
    from tektii_platform.store.tables import run_tokens

    scenario_id, token = run(desk)
    assert token not in desk.platform.database_text()
    if desk.platform.database_url is None:  # SQLite: not in its files either (free pages, the WAL)
        stored = b"".join(p.read_bytes() for p in desk.platform.data_dir.glob("tektii.db*"))
        assert stored and token.encode() not in stored
    with desk.platform.database() as db:
        rows = db.query(run_tokens.select().where(run_tokens.c.scenario_id == scenario_id))
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]

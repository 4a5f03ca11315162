"""GET /v1/instruments (public) and the import/generate endpoints, on a real server over HTTP."""

from __future__ import annotations

import gzip

import pytest
from tektii_testkit import assert_error, shipped_file

CSV = (
    "timestamp,open,high,low,close,volume\n"
    "2024-01-01T00:00:00Z,100,101,99,100.5,10\n"
    "2024-01-01T00:01:00Z,100.5,102,100,101.5,11\n"
    "2024-01-01T00:02:00Z,101.5,101.5,100.5,101,12\n"
)


def test_list_is_public_and_empty_at_first(api):  # noqa: F811
    response = api.call("GET", "/v1/instruments")
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"instruments": [], "nextCursor": None}}


def test_generate_and_import_need_a_key(api):  # noqa: F811
    assert_error(api.call("POST", "/v1/instruments/C:BTCUSD/generate", json={}), 401, "unauthenticated")
    assert_error(api.call("POST", "/v1/instruments/C:BTCUSD/import", data=CSV), 401, "unauthenticated")


def test_generate_then_list(api):  # noqa: F811
    key = api.new_user(admin=True)
    body = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-08T00:00:00Z", "timeframe": "1h", "seed": 4}
    response = api.call("POST", "/v1/instruments/F:EURUSD/generate", key, json=body)
    assert response.status_code == 200, response.text
    created = response.json()["data"]
    assert created["symbol"] == "F:EURUSD" and created["synthetic"] is True
    assert created["granularities"] == ["1h", "2h", "4h", "12h", "1d", "1w"]
    assert created["rows"] == 4 * 24 + 22 + 2  # Friday closes at 22:00 UTC, Sunday opens at 22:00
    listed = api.call("GET", "/v1/instruments").json()["data"]["instruments"]
    assert listed == [created]
    assert (api.data_dir / "market-data" / "F_EURUSD.parquet").is_file()


def test_generate_rejects_bad_bodies_and_symbols(api):  # noqa: F811
    key = api.new_user(admin=True)
    response = api.call("POST", "/v1/instruments/C:BTCUSD/generate", key, json={"start": "2024-01-01T00:00:00Z"})
    error = assert_error(response, 422, "validation_failed")
    assert any(d["field"] == "end" for d in error["details"])
    bad = api.call("POST", "/v1/instruments/BTCUSD/generate", key,
                   json={"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"})  # fmt: skip
    assert "invalid symbol 'BTCUSD'" in bad.json()["error"]["message"]
    assert bad.status_code == 422


def test_import_then_merge_and_replace(api):  # noqa: F811
    key = api.new_user(admin=True)
    url = "/v1/instruments/C:BTCUSD/import"
    first = api.call("POST", url, key, data=CSV.encode(), params={"filename": "btc.csv"})
    assert first.status_code == 200, first.text
    assert first.json()["data"]["rows"] == 3 and first.json()["data"]["source"] == "imported"
    again = api.call("POST", url, key, data=gzip.compress(CSV.encode()))
    assert again.json()["data"]["rows"] == 3  # merged: never duplicated
    replaced = api.call("POST", url, key, data="\n".join(CSV.splitlines()[:3]), params={"mode": "replace"})
    assert replaced.json()["data"]["rows"] == 2
    conflict = api.call("POST", "/v1/instruments/C:BTCUSD/generate", key,
                        json={"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"})  # fmt: skip
    assert conflict.status_code == 200  # generate replaces
    refused = api.call("POST", url, key, data=CSV)
    error = assert_error(refused, 409, "conflict")
    assert "holds synthetic data; cannot merge imported data" in error["message"]


def test_import_reports_every_bad_line_and_stores_nothing(api):  # noqa: F811
    key = api.new_user(admin=True)
    bad = CSV.replace("100.5,102,100,101.5,11", "100.5,99,100,101.5,-11")
    response = api.call("POST", "/v1/instruments/C:BTCUSD/import", key, data=bad, params={"filename": "btc.csv"})
    error = assert_error(response, 422, "invalid_market_data")
    assert error["message"] == "btc.csv: 2 problems, nothing was imported"
    assert error["hint"] == "fix the rows listed and import again"
    assert [d["message"] for d in error["details"]] == [
        "line 3: high 99 is below max(open, close) 101.5",
        "line 3: negative volume -11",
    ]
    assert api.call("GET", "/v1/instruments").json()["data"]["instruments"] == []


def test_import_of_real_eurusd_and_pagination(api):  # noqa: F811
    key = api.new_user(admin=True)
    path = shipped_file("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    response = api.call("POST", "/v1/instruments/F:EURUSD/import", key, data=path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rows"] == 6225
    api.call("POST", "/v1/instruments/C:BTCUSD/import", key, data=CSV)
    page = api.call("GET", "/v1/instruments", params={"limit": 1}).json()["data"]
    assert [i["symbol"] for i in page["instruments"]] == ["C:BTCUSD"]
    rest = api.call("GET", "/v1/instruments", params={"limit": 1, "cursor": page["nextCursor"]}).json()["data"]
    assert [i["symbol"] for i in rest["instruments"]] == ["F:EURUSD"] and rest["nextCursor"] is None


@pytest.mark.parametrize("params", [{"mode": "append"}, {"timeframe": "3m"}])
def test_import_rejects_bad_parameters(api, params):  # noqa: F811
    key = api.new_user(admin=True)
    response = api.call("POST", "/v1/instruments/C:BTCUSD/import", key, data=CSV, params=params)
    error = assert_error(response, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == list(params)

"""A version whose upload stopped (the CLI was killed mid-build) does not stay PENDING
forever: without a heartbeat for TEKTII_UPLOAD_ABANDON_S it becomes FAILED, "upload abandoned"."""

from __future__ import annotations

import time

import pytest
import requests
from tektii_testkit import Platform, assert_error

ABANDON_S = 2.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory, registry_binary):
    server = Platform(tmp_path_factory.mktemp("limits-uploads") / "data", {"TEKTII_UPLOAD_ABANDON_S": str(ABANDON_S)})
    headers = {"X-API-Key": server.new_user("uploader")}
    sid = requests.post(f"{server.url}/v1/strategies", json={"name": "stale"}, headers=headers, timeout=10).json()
    yield server, headers, sid["data"]["id"]
    server.stop()


def _new_version(platform) -> str:
    server, headers, sid = platform
    created = requests.post(f"{server.url}/v1/strategies/{sid}/versions", json={"gitSha": "abc1234"},
                            headers=headers, timeout=60)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["state"] == "PENDING"
    return created.json()["data"]["id"]


def _get(platform, vid: str) -> dict:
    server, headers, sid = platform
    return requests.get(f"{server.url}/v1/strategies/{sid}/versions/{vid}", headers=headers, timeout=10).json()["data"]


def test_a_silent_upload_is_abandoned(platform):
    vid = _new_version(platform)
    deadline = time.monotonic() + ABANDON_S + 20
    while (version := _get(platform, vid))["state"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert version["state"] == "FAILED" and version["failureReason"] == "upload abandoned"
    server, headers, sid = platform
    late = requests.post(f"{server.url}/v1/strategies/{sid}/versions/{vid}/complete", headers=headers, timeout=10,
                         json={"digest": "sha256:" + "0" * 64})
    assert_error(late, 409, "version_not_pending")
    listed = requests.get(f"{server.url}/v1/strategies/{sid}/versions", headers=headers, timeout=10).json()
    assert {v["id"]: v["state"] for v in listed["data"]["versions"]}[vid] == "FAILED"


def test_heartbeats_keep_an_upload_alive(platform):
    server, headers, sid = platform
    vid = _new_version(platform)
    beat = f"{server.url}/v1/strategies/{sid}/versions/{vid}/heartbeat"
    started = time.monotonic()
    while time.monotonic() - started < ABANDON_S * 2:
        response = requests.post(beat, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["state"] == "PENDING"
        time.sleep(ABANDON_S / 4)
    assert _get(platform, vid)["state"] == "PENDING"

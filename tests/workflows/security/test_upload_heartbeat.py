"""The CLI's side of stale uploads: while `version upload` builds or pushes, its heartbeat
(tektii_core.upload.Heartbeat) keeps the version PENDING past TEKTII_UPLOAD_ABANDON_S; once it
stops, the version is abandoned. The real class against a real platform, beating faster than
its once a minute so that the test takes seconds."""

from __future__ import annotations

import time

import pytest
import requests
from tektii_testkit import Platform

from tektii_core.client import APIClient, APIKeyAuth
from tektii_core.upload import Heartbeat

ABANDON_S = 3.0


@pytest.fixture
def platform(tmp_path, registry_binary):
    server = Platform(tmp_path / "data", {"TEKTII_UPLOAD_ABANDON_S": str(ABANDON_S)})
    yield server
    server.stop()


def test_the_cli_heartbeat_keeps_a_slow_upload_alive(platform):
    key = platform.new_user("uploader")
    headers = {"X-API-Key": key}
    sid = requests.post(f"{platform.url}/v1/strategies", json={"name": "slow"}, headers=headers, timeout=30).json()
    path = f"/v1/strategies/{sid['data']['id']}/versions"
    vid = requests.post(platform.url + path, json={"gitSha": "abc1234"}, headers=headers, timeout=60).json()["data"]["id"]

    def state() -> dict:  # a read is also when the platform fails stale uploads
        return requests.get(f"{platform.url}{path}/{vid}", headers=headers, timeout=30).json()["data"]

    client = APIClient(platform.url, APIKeyAuth(key))
    beat = Heartbeat(client, f"{path}/{vid}/heartbeat")
    beat.INTERVAL_S = ABANDON_S / 6  # a wide margin on a busy machine
    with beat:
        started = time.monotonic()
        while time.monotonic() - started < ABANDON_S * 3:  # the "build": three abandon periods
            assert state()["state"] == "PENDING"
            time.sleep(0.25)
    client.session.close()
    deadline = time.monotonic() + ABANDON_S + 30
    while (version := state())["state"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert (version["state"], version["failureReason"]) == ("FAILED", "upload abandoned")

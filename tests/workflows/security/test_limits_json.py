"""Hostile JSON bodies: nesting far deeper than the documented limit, repeated keys and
oversized bodies get the JSON error envelope (never a 500) on every JSON endpoint of the
platform and of the engine's trading gateway. Both use tektii_core.strict_json."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest
import requests
from tektii_testkit import SPEC_CONFIG, assert_error, running_run
from websockets.sync.client import connect

from tektii_core.scenario_config.validate import build_config
from tektii_core.strict_json import MAX_DEPTH
from tektii_engine.data.candles import Candles
from tektii_engine.run import RunLimits, run_backtest

HOSTILE = "[" * 5000 + "]" * 5000  # a RecursionError in json.loads
JUST_OVER = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
AT_LIMIT = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
T0 = 1_704_067_200


def _json_routes(url: str) -> list[tuple[str, str]]:
    """(method, path template) of every operation whose request body is JSON, from the
    platform's own OpenAPI document (so a new endpoint is covered without editing this)."""
    doc = requests.get(f"{url}/v1/openapi.json", timeout=10).json()
    return [
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if "application/json" in (op.get("requestBody") or {}).get("content", {})
    ]


@pytest.fixture(scope="module")
def owned(platform_server):
    """A user with a strategy and a (template) version, so that path ids resolve."""
    key = platform_server.new_user("json-limits", admin=True)  # admins reach the market-data bodies
    headers = {"X-API-Key": key}
    url = platform_server.url
    strategy = requests.post(f"{url}/v1/strategies", json={"name": "deep-json"}, headers=headers, timeout=10).json()
    sid = strategy["data"]["id"]
    version = requests.post(f"{url}/v1/strategies/{sid}/versions", headers=headers, timeout=10,
                            json={"gitSha": "abc1234", "template": "ma-crossover"}).json()
    params = {"strategyId": sid, "versionId": version["data"]["id"], "symbol": "C:BTCUSD"}
    # the run endpoints take a RUNNING run's token, not an API key
    config = {**SPEC_CONFIG, "strategyVersionId": version["data"]["id"]}
    params["scenarioId"], run_token = running_run(platform_server, key, sid, config)
    return url, headers, params, {"Authorization": f"Bearer {run_token}"}


def test_every_platform_json_endpoint_refuses_deep_and_ambiguous_bodies(owned):
    url, headers, params, run_auth = owned
    routes = _json_routes(url)
    assert len(routes) >= 6, routes  # strategies, versions (3), scenarios, instruments/generate
    for method, template in routes:
        json_headers = {**(run_auth if template.startswith("/v1/runs/") else headers), "Content-Type": "application/json"}
        target = url + template.format(**params)
        for body in (HOSTILE, JUST_OVER):
            error = assert_error(requests.request(method, target, data=body, headers=json_headers, timeout=10),
                                 400, "invalid_json")
            assert f"the limit is {MAX_DEPTH}" in error["message"], (template, error)
        error = assert_error(requests.request(method, target, data='{"a": 1, "a": 2}', headers=json_headers,
                                              timeout=10), 400, "invalid_json")
        assert 'key "a" appears twice' in error["message"], (template, error)
        # At the limit the body parses; the endpoint then judges it (never 400, never 500).
        response = requests.request(method, target, data=AT_LIMIT, headers=json_headers, timeout=10)
        assert response.status_code == 422, (template, response.text)
        if template != "/v1/runs/{scenarioId}/result":  # a whole result may be larger (api/runs.py MAX_RESULT_BYTES)
            assert_error(requests.request(method, target, data=b" " * (1024 * 1024 + 1), headers=json_headers,
                                          timeout=10), 413, "payload_too_large")


def _deep_client(launch, out):
    """The 'strategy': hostile bodies at every gateway endpoint that reads JSON, a hostile
    WebSocket frame, then an ordinary run to the end."""
    url = urlsplit(launch.gateway_url)
    headers = {"Authorization": f"Bearer {launch.api_key}", "Content-Type": "application/json"}

    def call(method, path, body):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())

    for method, path in (("POST", "/v1/orders"), ("PATCH", "/v1/orders/ord_x"), ("PATCH", "/v1/positions/pos_x"),
                         ("DELETE", "/v1/positions/pos_x")):
        for name, body in (("deep", HOSTILE), ("over", JUST_OVER), ("dup", '{"symbol": "a", "symbol": "b"}'),
                           ("huge", b" " * (2 * 1024 * 1024))):
            out[(method, path, name)] = call(method, path, body)
    with connect(launch.gateway_url.replace("http", "ws") + "/v1/ws",
                 additional_headers={"Authorization": headers["Authorization"]}) as ws:
        ws.send(HOSTILE)  # ignored like any frame that is not an ack; the session goes on
        while True:
            frame = json.loads(ws.recv(timeout=10))
            ws.send(json.dumps({"type": "event_ack", "events_processed": [frame["event_id"]]}))
            if frame["type"] == "backtest_complete":
                return


def test_every_gateway_json_endpoint_refuses_deep_and_ambiguous_bodies():
    holder: dict = {}

    class Client:
        def __init__(self, launch):
            self.error = None
            self.out: dict = {}
            self.thread = threading.Thread(target=self.body, args=(launch,), daemon=True)
            self.thread.start()

        def body(self, launch):
            try:
                _deep_client(launch, self.out)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc

        def poll(self):
            return None if self.thread.is_alive() else 0

        def stop(self, timeout=5.0):
            self.thread.join(timeout)

        def log_tail(self, lines=50):
            return ""

    def launcher(launch):
        holder["client"] = Client(launch)
        return holder["client"]

    def feed(symbol, tf, start, end):
        times = list(range(T0, T0 + 180, 60))
        yield Candles(times, [100.0] * 3, [101.0] * 3, [99.0] * 3, [100.0] * 3, [1.0] * 3)

    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 180)
    result = run_backtest(config, feed, launcher, limits=RunLimits(ack_timeout_s=10))
    client = holder["client"]
    if client.error:
        raise client.error
    assert result.state == "COMPLETE", result.reason
    assert len({(method, path) for method, path, _ in client.out}) == 4  # every route that reads a body
    for (method, path, name), (status, media, body) in client.out.items():
        assert media.startswith("application/json"), (method, path, name)
        if name == "huge":
            assert status == 413 and body["code"] == "INVALID_REQUEST", (method, path, body)
            continue
        assert status == 400 and body["code"] == "INVALID_REQUEST", (method, path, name, body)
        expected = "appears twice" if name == "dup" else f"the limit is {MAX_DEPTH}"
        assert expected in body["message"], (method, path, name, body)

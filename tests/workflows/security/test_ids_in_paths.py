"""IDs a user types are one path segment (issue 9): the CLI percent-encodes them
(tektii_core.client.api_path), and the platform routes the path as sent, so `../me`, `x?y` or
`a/b` reach the intended endpoint and answer "not found" instead of landing on another one."""

from __future__ import annotations

import json

import pytest
import requests
from tektii_testkit import CLI, Listener

BASE = {"strategyVersionId": "ver_x", "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
        "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-02T00:00:00Z"}

# (command, the request line it must send first): every command that puts a typed id in a path.
# A lone "." or ".." goes out as is (requests un-escapes %2E) and is kept as a segment: the
# URL machinery does not resolve it, and the platform routes the path as sent.
COMMANDS = [
    (["strategy", "get", "../me"], "GET /v1/strategies/..%2Fme"),
    (["sweep", "get", "../me"], "GET /v1/sweeps/..%2Fme"),
    (["sweep", "get", "."], "GET /v1/sweeps/."),
    (["sweep", "cancel", "x?y"], "POST /v1/sweeps/x%3Fy/cancel"),
    (["sweep", "report", "../me", "--out", "{out}"], "GET /v1/sweeps/..%2Fme"),
    (["scenario", "sweep", "../me", "--config", "{config}", "--param", "FAST_PERIOD=5,10"],
     "POST /v1/strategies/..%2Fme/sweeps"),
    (["scenario", "report", "../me", "a#b", "--out", "{out}"],
     "GET /v1/strategies/..%2Fme/scenarios/a%23b/results/metadata"),
    (["scenario", "report", "s", "..", "x", "--out", "{out}"], "GET /v1/strategies/s/scenarios/../results/metadata"),
    (["scenario", "compare", "..", "a/b", "c"], "GET /v1/strategies/../scenarios/a%2Fb"),
    (["scenario", "get", "../me", "a b"], "GET /v1/strategies/..%2Fme/scenarios/a%20b"),
    (["scenario", "rerun", "../me", "x"], "POST /v1/strategies/..%2Fme/scenarios/x/rerun"),
    (["version", "get", "../me", ".."], "GET /v1/strategies/..%2Fme/versions/.."),
    (["version", "tree", "../me", "--metric", "sharpeRatio"], "GET /v1/strategies/..%2Fme/versions?limit=100"),
]


def _args(command: list[str], tmp_path) -> list[str]:
    config = tmp_path / "base.json"
    config.write_text(json.dumps(BASE))
    return [a.format(out=tmp_path / "out.html", config=config) for a in command]


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_typed_ids_are_sent_percent_encoded(cli: CLI, listener: Listener, tmp_path):
    """What goes on the wire, seen by a listener of the test's own (it answers 401 to all)."""
    cli.env.update({"TEKTII_API_URL": f"http://127.0.0.1:{listener.port}", "TEKTII_API_KEY": "tk_test"})
    for command, request_line in COMMANDS:
        before = len(listener.requests)
        done = cli(*_args(command, tmp_path))
        assert done.code != 0 and "Traceback" not in done.err, (command, done.err)
        sent = listener.requests[before]
        assert f"{sent['method']} {sent['path']}" == request_line, command


def test_typed_ids_that_name_nothing_are_not_found(user_cli: CLI, tmp_path):
    """Against a real platform: one `Error: ... not found` line, never an internal error or
    another endpoint's answer."""
    for command, _request in COMMANDS:
        done = user_cli(*_args(command, tmp_path))
        assert done.code == 1, (command, done.out, done.err)
        lines = done.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].endswith(" not found"), (command, lines)
        assert "internal error" not in done.err and "endpoint" not in done.err and "not allowed" not in done.err


def test_the_platform_routes_the_path_as_sent(user_cli: CLI):
    """The platform matches routes on the raw path (an encoded "/" stays in its segment) and
    decodes each segment after: an id spelled with escapes still finds its strategy."""
    url, key = user_cli.env["TEKTII_API_URL"], user_cli.env["TEKTII_API_KEY"]
    created = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "raw").out)["data"]

    def get(path: str) -> requests.Response:
        return requests.get(url + path, headers={"X-API-Key": key}, timeout=30)

    escaped = "".join(f"%{ord(c):02X}" for c in created["id"])
    found = get(f"/v1/strategies/{escaped}")
    assert found.status_code == 200 and found.json()["data"] == created
    for path, ident in ((f"/v1/strategies/{created['id']}%2Fversions", f"{created['id']}/versions"),
                        ("/v1/strategies/..%2Fme", "../me"), ("/v1/strategies/%2E%2E", "..")):
        response = get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == {"code": "not_found", "message": f"Strategy {ident} not found", "details": []}

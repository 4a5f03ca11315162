"""The API client against a real HTTP server on 127.0.0.1: retries, Retry-After, the error
envelope, pagination, and models that tolerate fields they do not know."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tektii_core.client import APIClient, APIError, APIKeyAuth
from tektii_core.errors import TektiiError
from tektii_core.models import Strategy, structure


class Script:
    """Answers each request with the next (status, headers, body) queued for its path."""

    def __init__(self):
        self.queue: dict[str, list[tuple[int, dict, object]]] = {}
        self.seen: list[tuple[str, str, float, str | None]] = []

    def handler(self):
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                path = self.path.split("?")[0]
                script.seen.append((self.command, self.path, time.monotonic(), self.headers.get("Authorization")))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = script.queue[path].pop(0)
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

        return Handler


@pytest.fixture
def server():
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), script.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_get_retries_5xx_and_honours_retry_after(server):
    script, url = server
    script.queue["/v1/x"] = [(503, {}, None), (429, {"Retry-After": "1"}, None), (200, {}, {"data": {"ok": True}})]
    client = APIClient(url, APIKeyAuth("tk_abc"))
    assert client.get("/v1/x") == {"data": {"ok": True}}
    times = [t for method, path, t, _ in script.seen]
    assert len(times) == 3
    assert times[2] - times[1] >= 0.9  # waited as Retry-After asked
    assert all(auth == "Bearer tk_abc" for *_, auth in script.seen)


def test_post_is_not_retried(server):
    script, url = server
    script.queue["/v1/x"] = [(503, {}, {"error": {"code": "busy", "message": "Try later"}}), (200, {}, {"data": {}})]
    with pytest.raises(APIError) as err:
        APIClient(url).post("/v1/x", json={"name": "a"})
    assert err.value.status == 503 and len(script.seen) == 1  # creating twice would be worse than failing


def test_error_envelope_becomes_one_message_with_every_field(server):
    script, url = server
    details = [{"field": "name", "message": "is required"}, {"field": "limit", "message": "must be at most 100"}]
    script.queue["/v1/x"] = [(422, {}, {"error": {"code": "invalid_request", "message": "Invalid request.",
                                                   "details": details}})]
    with pytest.raises(APIError) as err:
        APIClient(url).post("/v1/x", json={})
    assert err.value.code == "invalid_request" and err.value.details == details
    assert err.value.message == "Invalid request:\n  name: is required\n  limit: must be at most 100"


def test_non_json_errors_and_unreachable_servers_are_clear(server):
    script, url = server
    script.queue["/v1/x"] = [(404, {}, None)]
    with pytest.raises(APIError, match="HTTP 404"):
        APIClient(url).get("/v1/x")
    with pytest.raises(TektiiError, match="Cannot reach the tektii platform at http://127.0.0.1:9"):
        APIClient("http://127.0.0.1:9").get("/v1/x")


def test_paginate_follows_next_cursor(server):
    script, url = server
    script.queue["/v1/items"] = [(200, {}, {"data": {"items": [1, 2], "nextCursor": "c1"}}),
                                 (200, {}, {"data": {"items": [3], "nextCursor": None}})]
    assert list(APIClient(url).paginate("/v1/items", "items", limit=2)) == [1, 2, 3]
    assert script.seen[1][1] == "/v1/items?limit=2&cursor=c1"


def test_models_map_camel_case_and_ignore_unknown_fields():
    data = {"id": "strat_1", "name": "x", "ownerId": "user_1", "createdBy": "user_1", "createdAt": "t1",
            "updatedAt": "t2", "addedByANewerPlatform": {"any": "thing"}}
    strategy = structure(data, Strategy)
    assert (strategy.owner_id, strategy.created_by, strategy.updated_at) == ("user_1", "user_1", "t2")

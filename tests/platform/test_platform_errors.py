"""Authentication and the error envelope for every failure class."""

from __future__ import annotations

import json
import socket

from tektii_testkit import assert_error

from tektii_platform import accounts
from tektii_platform.http import ApiError, Response, ok


def test_missing_key_is_401(api):
    error = assert_error(api.call("GET", "/v1/strategies"), 401, "unauthenticated")
    assert "X-API-Key" in error["message"]
    assert api.call("GET", "/v1/me").headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(api.call("POST", "/v1/strategies", json={"name": "x"}), 401, "unauthenticated")


def test_bad_key_is_401(api):
    api.new_user()
    for bad in ("tk_" + "a" * 52, "nonsense", "tk_", "x" * 500):
        assert_error(api.call("GET", "/v1/me", bad), 401, "invalid_api_key")
    assert_error(api.call("GET", "/v1/me", headers={"Authorization": "Bearer tk_wrong"}), 401, "invalid_api_key")


def test_unsupported_authorization_scheme_is_401(api):
    key = api.new_user()
    error = assert_error(api.call("GET", "/v1/me", headers={"Authorization": f"Basic {key}"}), 401, "unauthenticated")
    assert "Bearer" in error["message"]
    assert_error(api.call("GET", "/v1/me", headers={"Authorization": "Bearer "}), 401, "unauthenticated")


def test_revoked_key_is_401_and_other_keys_keep_working(api):
    user, first = accounts.create_user(api.db, "carol")
    second = accounts.create_api_key(api.db, user.id)
    assert api.call("GET", "/v1/me", first).status_code == 200
    assert accounts.revoke_api_key(api.db, first)
    assert_error(api.call("GET", "/v1/me", first), 401, "invalid_api_key")
    me = api.call("GET", "/v1/me", second)
    assert me.status_code == 200 and me.json()["data"]["id"] == user.id


def test_unknown_route_is_404_envelope(api):
    key = api.new_user()
    for path in ("/v1/nothing", "/", "/v2/strategies", "/v1/strategies/a/b"):
        assert_error(api.call("GET", path, key), 404, "not_found")


def test_wrong_method_is_405_with_allow(api):
    key = api.new_user()
    response = api.call("DELETE", "/v1/strategies", key)
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}
    response = api.call("PUT", "/v1/strategies/strat_x", key)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"


def test_oversized_body_is_413(api):
    key = api.new_user()
    body = json.dumps({"name": "x" * (1024 * 1024 + 10)})
    assert_error(api.call("POST", "/v1/strategies", key, data=body), 413, "payload_too_large")


def test_internal_error_is_500_without_internals(api):
    def explode(req):
        """Fails"""
        raise RuntimeError("secret path /etc/shadow in the traceback")

    api.server.app.router.add("GET", "/v1/explode", explode, tag="test", auth=False)
    error = assert_error(api.call("GET", "/v1/explode"), 500, "internal_error")
    assert "secret" not in error["message"] and "shadow" not in json.dumps(error)
    # The server keeps serving.
    assert api.call("GET", "/healthz").status_code == 200


def test_handler_errors_keep_their_status_and_code(api):
    def teapot(req):
        """Conflicts"""
        raise ApiError(409, "busy with something", code="custom_conflict")

    def plain(req) -> Response:
        """Plain"""
        return ok({"fine": True}, status=200)

    api.server.app.router.add("GET", "/v1/teapot", teapot, tag="test", auth=False)
    api.server.app.router.add("GET", "/v1/plain", plain, tag="test", auth=False)
    assert_error(api.call("GET", "/v1/teapot"), 409, "custom_conflict")
    assert api.call("GET", "/v1/plain").json() == {"data": {"fine": True}}


def test_public_endpoints_need_no_key(api):
    health = api.call("GET", "/healthz")
    assert health.status_code == 200
    assert health.json()["data"]["status"] == "ok"
    assert api.call("GET", "/v1/openapi.json").json()["openapi"].startswith("3.1")


def test_malformed_http_does_not_break_the_server(api):
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"POST /v1/strategies HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        reply = raw.recv(4096)
    assert reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.0 4")
    assert api.call("GET", "/healthz").status_code == 200


def test_responses_never_carry_nan_or_infinity():
    body = {"data": {"equity": float("nan"), "curve": [1.5, float("inf"), {"x": -float("inf")}], "ok": 2}}
    text = Response(200, body).encode().decode()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"data": {"equity": None, "curve": [1.5, None, {"x": None}], "ok": 2}}

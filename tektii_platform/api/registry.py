"""The platform's OCI registry: started on first need, stopped with the platform, and the
token endpoint (`GET /v1/registry/token`) through which it grants per-repository access to
the short-lived credentials this platform issued."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from tektii_core.errors import TektiiError

from ..http import ApiError, AppContext, Request, Response, Router
from ..ids import now_db

CREDENTIAL_TTL = timedelta(hours=1)
_lock = threading.Lock()


def repository_for(strategy_id: str) -> str:
    return f"strategies/{strategy_id}"


def registry(ctx: AppContext, host: str) -> Any:
    """The running LocalRegistry, started on first use with `host` (the platform's own
    address as the client reached it) in its token realm; 503 when it cannot run here."""
    from ..registry import LocalRegistry

    with _lock:
        running = ctx.extras.get("registry")
        if running is not None and running.running:
            return running
        realm = f"http://{host}/v1/registry/token"
        reg = LocalRegistry(ctx.data_dir / "registry", realm)
        try:
            reg.start()
        except TektiiError as exc:
            raise ApiError(503, exc.message, code="registry_unavailable", hint=exc.hint) from None
        if "registry" not in ctx.extras:
            ctx.on_close(lambda: ctx.extras["registry"].stop())
        ctx.extras["registry"] = reg
        return reg


def request_host(req: Request) -> str:
    return req.header("Host") or f"127.0.0.1:{req.environ.get('SERVER_PORT', '80')}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()  # high-entropy secrets: no slow KDF needed


def issue_credentials(req: Request, repository: str, actions: tuple[str, ...]) -> dict[str, str]:
    """Credentials for one repository, valid for CREDENTIAL_TTL; only their hash is stored."""
    assert req.user is not None
    kind = "push" if "push" in actions else "pull"
    username = f"{kind}-{secrets.token_hex(8)}"
    password = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + CREDENTIAL_TTL
    with req.db.transaction() as conn:
        conn.execute("DELETE FROM registry_credentials WHERE expires_at < ?", (now_db(),))
        conn.execute(
            "INSERT INTO registry_credentials (username, secret_hash, user_id, repository, actions, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (username, _hash(password), req.user.id, repository, ",".join(actions),
             expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        )
    return {"username": username, "password": password, "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _authenticate(req: Request):
    def check(username: str, password: str):
        row = req.db.query_one(
            "SELECT secret_hash, user_id, repository, actions FROM registry_credentials"
            " WHERE username = ? AND expires_at >= ?", (username, now_db()))
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(password)):
            return None
        return row["user_id"], {row["repository"]: set(row["actions"].split(","))}

    return check


def token(req: Request) -> Response:
    """Registry bearer token for issued credentials (Docker token authentication protocol)"""
    from ..registry import token_endpoint

    reg = registry(req.ctx, request_host(req))
    status, body = token_endpoint(reg.issuer, authorization=req.header("Authorization"),
                                  query=parse_qs(req.environ.get("QUERY_STRING", "")), authenticate=_authenticate(req))
    return Response(status, body)


# The registry protocol's own error body, which Docker clients read on a refused login.
_DISTRIBUTION_ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
}


def register(router: Router) -> None:
    router.add("GET", "/v1/registry/token", token, operation_id="registryToken", tag="registry", auth=False, raw=True,
               response_schema={"type": "object", "properties": {"token": {"type": "string"},
                                                                 "access_token": {"type": "string"},
                                                                 "expires_in": {"type": "integer"}}},
               errors=(401, 503), raw_errors=((401, _DISTRIBUTION_ERRORS),))

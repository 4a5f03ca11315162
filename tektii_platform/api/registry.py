"""The platform's OCI registry: started with the platform (once its socket is bound, so that
the token realm is the platform's own address, never one a request names), stopped with it,
and the token endpoint (`GET /v1/registry/token`) through which it grants per-repository
access to the short-lived credentials this platform issued."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from tektii_core.errors import TektiiError

from ..http import ApiError, AppContext, Request, Response, Router
from ..ids import now_db

log = logging.getLogger(__name__)

CREDENTIAL_TTL = timedelta(hours=1)
_EXTRA = "registry"
_LOCK = "registry.lock"


def repository_for(strategy_id: str) -> str:
    return f"strategies/{strategy_id}"


def token_realm(ctx: AppContext) -> str:
    """The token endpoint at the platform's own address (the registry and the Docker daemon
    run on this machine: the address local processes reach the platform at)."""
    if ctx.address is None:
        raise TektiiError("The platform does not know its own address yet")
    return f"{ctx.address.local_url}/v1/registry/token"


def bound(ctx: AppContext) -> None:
    """Start the registry now that the platform's address is known, in the background (the
    API answers meanwhile; whoever needs the registry waits for the start)."""
    ctx.extras.setdefault(_LOCK, threading.Lock())

    def start() -> None:
        try:
            registry(ctx)
        except ApiError as exc:  # e.g. docker-registry is not installed: answered when needed
            log.info("the image registry did not start: %s", exc.message)

    ctx.on_close(lambda: _stop(ctx))
    threading.Thread(target=start, name="tektii-registry-start", daemon=True).start()


def _stop(ctx: AppContext) -> None:
    with ctx.extras[_LOCK]:
        ctx.extras["registry_closed"] = True
        running = ctx.extras.pop(_EXTRA, None)
        if running is not None:
            running.stop()


def registry(ctx: AppContext) -> Any:
    """The running LocalRegistry, configured with the platform's own address (restarted if it
    stopped, or if it was configured with another address); 503 when it cannot run here."""
    from ..registry import LocalRegistry

    lock = ctx.extras.setdefault(_LOCK, threading.Lock())
    with lock:
        if ctx.extras.get("registry_closed"):
            raise ApiError(503, "The platform is shutting down", code="registry_unavailable")
        try:
            realm = token_realm(ctx)
        except TektiiError as exc:
            raise ApiError(503, exc.message, code="registry_unavailable") from None
        running = ctx.extras.get(_EXTRA)
        if running is not None and running.running and running.token_realm == realm:
            return running
        if running is not None:
            running.stop()
        reg = LocalRegistry(ctx.data_dir / "registry", realm)
        try:
            reg.start()
        except TektiiError as exc:
            raise ApiError(503, exc.message, code="registry_unavailable", hint=exc.hint) from None
        ctx.extras[_EXTRA] = reg
        return reg


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

    reg = registry(req.ctx)
    status, body = token_endpoint(reg.issuer, authorization=req.header("Authorization"),
                                  query=parse_qs(req.environ.get("QUERY_STRING", "")), authenticate=_authenticate(req))
    return Response(status, body)


def register(router: Router) -> None:
    router.add("GET", "/v1/registry/token", token, operation_id="registryToken", tag="registry", auth=False, raw=True,
               response_schema={"type": "object", "properties": {"token": {"type": "string"},
                                                                 "access_token": {"type": "string"},
                                                                 "expires_in": {"type": "integer"}}},
               errors=(401, 503))

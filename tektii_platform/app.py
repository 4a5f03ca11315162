"""The platform's WSGI application: routing, authentication, the envelope, error handling."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from . import accounts
from .db import Database, is_busy, open_database
from .hosts import OwnAddress
from .http import HTTP_REASONS, ApiError, AppContext, Request, Response, Router
from .registry.service import RegistryService, RegistryUnavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("tektii_platform.access")

StartResponse = Callable[..., Any]


def api_modules() -> list[Any]:
    """Every resource module in tektii_platform.api, in name order; a new resource is one
    new module there with a ``register(router)`` function."""
    from . import api

    modules = []
    for info in sorted(pkgutil.iter_modules(api.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{api.__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules


def build_router() -> Router:
    router = Router()
    for module in api_modules():
        module.register(router)
    return router


def _api_key(req: Request) -> str:
    key = req.header("X-API-Key")
    if key:
        return key.strip()
    authorization = req.header("Authorization")
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiError(401, "Unsupported Authorization header: use 'Bearer <API key>'")
        return credentials.strip()
    raise ApiError(
        401,
        "Missing API key: send it in the X-API-Key header or as 'Authorization: Bearer <key>'",
    )


def raw_path(environ: dict[str, Any]) -> str:
    """The request path as the client sent it, not yet percent-decoded (PATH_INFO is decoded,
    so "strat%2F.." there would look like two segments)."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not uri:
        return quote(environ.get("PATH_INFO") or "/", safe="/:@!$&'()*+,;=")
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):  # an absolute URI, as a proxy may send
        path = urlsplit(path).path or "/"
    return path


def check_host(environ: dict[str, Any], address: OwnAddress | None) -> None:
    """400 unless the request's Host header names this platform (see tektii_platform.hosts).
    Before the socket is bound the platform has no names yet and answers nothing."""
    host = environ.get("HTTP_HOST")
    if address is None or not address.allows(host):
        raise ApiError(
            400,
            f"Host {host!r} is not a name of this platform; use its own address"
            + (f" ({address.local_url})" if address is not None else ""),
            code="invalid_host",
        )


class App:
    """A WSGI callable. ``close()`` releases the database and whatever resources registered."""

    def __init__(self, ctx: AppContext, router: Router):
        self.ctx = ctx
        self.router = router

    @property
    def db(self) -> Database:
        return self.ctx.db

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        response = self.handle(environ)
        if response.stream is not None:
            headers = [("Content-Type", response.media_type), *response.headers.items()]
            start_response(f"{response.status} {HTTP_REASONS.get(response.status, '')}".rstrip(), headers)
            access_log.info('%s "%s %s" %d streamed', environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD"),
                            environ.get("PATH_INFO"), response.status)
            return response.stream
        body = response.encode()
        headers = [("Content-Length", str(len(body)))]
        if response.body is not None:
            headers.append(("Content-Type", f"{response.media_type}; charset=utf-8"))
        headers.extend(response.headers.items())
        status = f"{response.status} {HTTP_REASONS.get(response.status, '')}".rstrip()
        start_response(status, headers)
        access_log.info(
            '%s "%s %s" %d %.1fms',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return [body]

    def handle(self, environ: dict[str, Any]) -> Response:
        try:
            check_host(environ, self.ctx.address)
            method = environ["REQUEST_METHOD"].upper()
            route, params = self.router.match(method, raw_path(environ))
            req = Request(environ, self.ctx, route, params, schemas=self.router.schemas)
            if route.auth:
                req.user = accounts.authenticate(self.db, _api_key(req))
                if req.user is None:
                    raise ApiError(401, "Invalid or revoked API key", code="invalid_api_key")
            response = route.handler(req)
            if not isinstance(response, Response):
                raise TypeError(f"{route.operation_id} returned {type(response).__name__}")
            return response
        except ApiError as exc:
            if exc.status == 401:
                exc.headers.setdefault("WWW-Authenticate", 'Bearer realm="tektii"')
            return Response(exc.status, exc.to_json(), exc.headers)
        except RegistryUnavailable as exc:
            err = ApiError(503, exc.message, code="registry_unavailable", hint=exc.hint)
            return Response(503, err.to_json())
        except Exception as exc:  # noqa: BLE001 - the last line of defence: answer 500, log the rest
            if is_busy(exc):
                log.warning("database busy: %s", exc)
                err = ApiError(503, "The platform is busy; retry shortly", headers={"Retry-After": "1"})
                return Response(503, err.to_json(), err.headers)
            return self._internal_error()

    def _internal_error(self) -> Response:
        # The traceback goes to the server log only; clients learn nothing about internals.
        log.exception("unhandled error")
        return Response(500, ApiError(500, "Internal server error").to_json())

    def bind(self, address: OwnAddress) -> None:
        """The socket is bound at `address`: the platform's names are known, and the registry,
        configured with its address (the token realm, at the address local processes reach the
        platform at: the registry and the Docker daemon run on this machine), starts now."""
        self.ctx.address = address
        self.ctx.registry.bind(f"{address.local_url}/v1/registry/token")

    def close(self) -> None:
        for closer in reversed(self.ctx.closers):
            try:
                closer()
            except Exception:
                log.exception("error while shutting down")
        self.db.close()


def create_app(data_dir: Path) -> App:
    """The platform application for ``data_dir`` (database created and migrated on the way)."""
    data_dir = Path(data_dir)
    db = open_database(data_dir)
    registry = RegistryService(data_dir / "registry", db)
    app = App(AppContext(data_dir=data_dir, db=db, registry=registry), Router())
    app.ctx.on_close(registry.close)
    try:
        app.router = build_router()
        for module in api_modules():
            setup = getattr(module, "setup", None)
            if setup is not None:
                setup(app.ctx)  # e.g. start a helper process; cleanup goes to ctx.on_close
    except BaseException:
        app.close()
        raise
    return app

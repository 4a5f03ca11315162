"""The platform's small HTTP layer: a route table with per-route documentation, the
request/response objects handlers see, and the error envelope.

A resource module (tektii_platform/api/*.py) defines ``register(router)`` and adds its
routes there; the OpenAPI document is generated from the same table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import attrs

from tektii_core import strict_json

from .validation import FieldError, validate

if TYPE_CHECKING:
    from .accounts import User
    from .db import Database
    from .hosts import OwnAddress
    from .registry.service import RegistryService

MAX_BODY_BYTES = 1024 * 1024
HTTP_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# The error code each status uses unless a handler says otherwise.
ERROR_CODES = {
    400: "invalid_json",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_failed",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error response: ``{"error": {"code", "message", "details": [...]}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code or ERROR_CODES.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})
        self.hint = hint  # how to fix it; the CLI prints it as its "Solution:" line

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "details": [d.to_json() for d in self.details]}
        if self.hint:
            error["hint"] = self.hint
        return {"error": error}


def validation_error(details: Iterable[FieldError], message: str = "") -> ApiError:
    details = list(details)
    if not message:
        fields = ", ".join(d.field or "body" for d in details)
        message = f"Invalid request: {len(details)} problem(s) in {fields}"
    return ApiError(422, message, details=details)


def not_found(kind: str, ident: str) -> ApiError:
    # The same answer for "does not exist" and "belongs to someone else": ids do not leak.
    return ApiError(404, f"{kind} {ident} not found")


@attrs.define
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable; a str for other media types (e.g. CSV); None for no body
    headers: dict[str, str] = attrs.Factory(dict)
    media_type: str = "application/json"
    # A body sent as it is produced, in chunks (no Content-Length: chunked transfer), e.g. an
    # Arrow IPC stream of candles; `body` is then unused.
    stream: Iterable[bytes] | None = None

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str) and self.media_type != "application/json":
            return self.body.encode("utf-8")
        try:
            text = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or an infinity is not JSON: such a number is sent as null
            text = json.dumps(_finite(self.body), separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def ok(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A success response: ``{"data": data}``."""
    return Response(status, {"data": data}, dict(headers or {}))


@attrs.define
class AppContext:
    """What every handler can reach: the data directory, the database, the platform's services
    (the image registry), its own address (set once its socket is bound) and shutdown hooks."""

    data_dir: Path
    db: Database
    registry: RegistryService
    address: OwnAddress | None = None
    closers: list[Callable[[], None]] = attrs.Factory(list)
    extras: dict[str, Any] = attrs.Factory(dict)  # per-resource state, keyed by module

    def on_close(self, fn: Callable[[], None]) -> None:
        self.closers.append(fn)


@attrs.define
class Request:
    environ: dict[str, Any]
    ctx: AppContext
    route: Route
    path_params: dict[str, str]
    schemas: Mapping[str, dict[str, Any]] = attrs.Factory(dict)  # for $ref in request schemas
    user: User | None = None
    _body: bytes | None = None

    @property
    def method(self) -> str:
        return self.environ["REQUEST_METHOD"]

    @property
    def db(self) -> Database:
        return self.ctx.db

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        return self.environ.get(key)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; of a repeated parameter, the first value."""
        parsed = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def body(self) -> bytes:
        if self._body is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise ApiError(400, "Invalid Content-Length header", code="bad_request") from None
            limit = self.route.max_body or MAX_BODY_BYTES
            if length > limit:
                raise ApiError(413, f"Request body is larger than {limit} bytes")
            self._body = self.environ["wsgi.input"].read(length) if length > 0 else b""
        return self._body

    def json(self) -> Any:
        """The body parsed as JSON; 400 when it is empty or malformed."""
        return parse_json_body(self.body())

    def validated_json(self) -> dict[str, Any]:
        """The body checked against the route's request schema; 422 lists every problem."""
        data = self.json()
        schema = self.route.request_schema
        if schema is None:
            raise RuntimeError(f"route {self.route.operation_id} declares no request schema")
        errors = validate(schema, data, schemas=self.schemas)
        if errors:
            raise validation_error(errors)
        return data


def parse_json_body(raw: bytes) -> Any:
    """A request body as strict JSON (tektii_core.strict_json: no NaN, no repeated key, at
    most MAX_DEPTH levels deep); 400 ``invalid_json`` otherwise."""
    if not raw.strip():
        raise ApiError(400, "Request body is empty; expected a JSON object")
    try:
        return strict_json.loads(raw)
    except strict_json.JsonError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc.message}") from None


Handler = Callable[[Request], Response]


@attrs.frozen
class Param:
    """A documented query parameter."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@attrs.frozen
class Route:
    method: str
    path: str  # template, e.g. /v1/strategies/{strategyId}
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    auth: bool = True
    status: int = 200  # the success status
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None  # schema of "data"; None for no body
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()  # statuses beyond those implied (401, 404, 400/422, 500)
    raw: bool = False  # the handler's body is sent as is, not wrapped in {"data": ...}
    text_media: tuple[str, ...] = ()  # other media types the route can answer with, e.g. text/csv
    # (status, schema) of error bodies a raw route writes itself instead of the envelope
    raw_errors: tuple[tuple[int, dict[str, Any]], ...] = ()
    max_body: int | None = None  # bytes a request body may have (None: MAX_BODY_BYTES)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.path)


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.schemas: dict[str, dict[str, Any]] = {}  # components/schemas of the document
        self._compiled: list[tuple[re.Pattern[str], Route]] = []

    def add(self, method: str, path: str, handler: Handler, **meta: Any) -> Route:
        method = method.upper()
        meta.setdefault("operation_id", handler.__name__)
        if not meta.get("summary"):
            doc = (handler.__doc__ or "").strip()
            meta["summary"] = doc.splitlines()[0] if doc else ""
        if not meta["summary"]:
            raise ValueError(f"route {method} {path}: give a summary (or a handler docstring)")
        route = Route(method=method, path=path, handler=handler, **meta)
        for existing in self.routes:
            if existing.method == method and existing.path == path:
                raise ValueError(f"route {method} {path} registered twice")
            if existing.operation_id == route.operation_id:
                raise ValueError(f"operation id {route.operation_id} used twice")
        self.routes.append(route)
        self._compiled.append((route.regex, route))
        return route

    def schema(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Register a named schema; returns a ``$ref`` to it."""
        if name in self.schemas and self.schemas[name] != schema:
            raise ValueError(f"schema {name} registered twice with different content")
        self.schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route of ``path`` as sent (still percent-encoded: an id holding an encoded "/"
        stays one segment); path parameters come back decoded."""
        allowed = []
        for regex, route in self._compiled:
            found = regex.match(path)
            if found:
                if route.method == method:
                    return route, {k: unquote(v) for k, v in found.groupdict().items()}
                allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                f"Method {method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, f"No such endpoint: {path}")

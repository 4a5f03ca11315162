"""``GET /v1/registry/token``: the token realm of the platform's registry, through which it
grants per-repository access to the short-lived credentials this platform issued. The
registry itself (process, tokens, credentials) is tektii_platform.registry."""

from __future__ import annotations

from urllib.parse import parse_qs

from ..http import Request, Response, Router


def token(req: Request) -> Response:
    """Registry bearer token for issued credentials (Docker token authentication protocol)"""
    status, body = req.ctx.registry.token(req.header("Authorization"), parse_qs(req.environ.get("QUERY_STRING", "")))
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

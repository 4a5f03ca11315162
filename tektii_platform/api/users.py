"""``GET /v1/me``: the user the API key belongs to."""

from __future__ import annotations

from ..http import Request, Response, Router, ok

USER_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "role", "createdAt"],
    "properties": {
        "id": {"type": "string", "pattern": "^user_[a-z2-7]+$"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "user"],
                 "description": "admin: may import, generate and replace the shared market data"},
        "createdAt": {"type": "string", "format": "date-time"},
    },
}


def get_me(req: Request) -> Response:
    """The calling user"""
    assert req.user is not None
    return ok(req.user.to_json())


def register(router: Router) -> None:
    user = router.schema("User", USER_SCHEMA)
    router.add("GET", "/v1/me", get_me, operation_id="getMe", tag="users", response_schema=user)

"""Strategies: ``POST /v1/strategies``, ``GET /v1/strategies``, ``GET /v1/strategies/{strategyId}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import pagination, store
from ..http import ApiError, Request, Response, Router, not_found, ok
from ..ids import new_id, now_db, rfc3339
from ..store import strategies
from ..validation import FieldError

NAME_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    # Letters, digits, space, '.', '_', '-'; no leading/trailing space.
    "pattern": r"^[A-Za-z0-9._-]([A-Za-z0-9._ -]*[A-Za-z0-9._-])?$",
    "x-message": "may contain only letters, digits, spaces, '.', '_' and '-', and must not start or end with a space",
    "description": "Unique per owner, ignoring case.",
}
CREATE_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": NAME_SCHEMA},
}
_TIMESTAMP = {"type": "string", "format": "date-time"}
STRATEGY_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "ownerId", "createdBy", "createdAt", "updatedAt"],
    "properties": {
        "id": {"type": "string", "pattern": "^strat_[a-z2-7]+$"},
        "name": {"type": "string"},
        "ownerId": {"type": "string", "pattern": "^user_[a-z2-7]+$"},
        "createdBy": {"type": "string", "pattern": "^user_[a-z2-7]+$"},
        "createdAt": _TIMESTAMP,
        "updatedAt": _TIMESTAMP,
    },
}


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "ownerId": row["owner_id"],
        "createdBy": row["created_by"],
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }


def get_owned(req: Request, strategy_id: str) -> store.Row:
    """The caller's strategy ``strategy_id``, else 404 (also when another user owns it).
    Resources nested under a strategy (versions, scenarios) check ownership through this."""
    assert req.user is not None
    row = strategies.get_owned(req.db, strategy_id, req.user.id)
    if row is None:
        raise not_found("Strategy", strategy_id)
    return row


def create_strategy(req: Request) -> Response:
    """Create a strategy"""
    body = req.validated_json()
    assert req.user is not None
    strategy_id, now = new_id("strat"), now_db()
    row = {
        "id": strategy_id, "name": body["name"], "owner_id": req.user.id,
        "created_by": req.user.id, "created_at": now, "updated_at": now,
    }  # fmt: skip
    try:
        strategies.insert(req.db, row)
    except store.Conflict:
        existing = strategies.find_by_name(req.db, req.user.id, body["name"])
        taken_by = f" ({existing['id']})" if existing else ""
        raise ApiError(
            409,
            f"A strategy named {body['name']!r} already exists{taken_by}",
            code="strategy_name_taken",
            details=[FieldError("name", "is already used by another of your strategies")],
        ) from None
    return ok(to_json(row), status=201, headers={"Location": f"/v1/strategies/{strategy_id}"})


def list_strategies(req: Request) -> Response:
    """List your strategies, newest first"""
    page = pagination.parse_page(req)
    assert req.user is not None
    rows = strategies.list_owned(req.db, req.user.id, page)
    shown, next_cursor = pagination.finish(rows, page)
    return ok({"strategies": [to_json(r) for r in shown], "nextCursor": next_cursor})


def get_strategy(req: Request) -> Response:
    """Get one strategy"""
    return ok(to_json(get_owned(req, req.path_params["strategyId"])))


def register(router: Router) -> None:
    strategy = router.schema("Strategy", STRATEGY_SCHEMA)
    create = router.schema("StrategyCreate", CREATE_SCHEMA)
    router.add(
        "POST",
        "/v1/strategies",
        create_strategy,
        operation_id="createStrategy",
        tag="strategies",
        status=201,
        request_schema=create,
        response_schema=strategy,
        errors=(409,),
    )
    router.add(
        "GET",
        "/v1/strategies",
        list_strategies,
        operation_id="listStrategies",
        tag="strategies",
        query=pagination.PARAMS,
        response_schema={
            "type": "object",
            "required": ["strategies", "nextCursor"],
            "properties": {
                "strategies": {"type": "array", "items": strategy},
                "nextCursor": {
                    "type": ["string", "null"],
                    "description": "null on the last page",
                },
            },
        },
    )
    router.add(
        "GET",
        "/v1/strategies/{strategyId}",
        get_strategy,
        operation_id="getStrategy",
        tag="strategies",
        response_schema=strategy,
    )

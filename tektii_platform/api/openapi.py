"""``GET /v1/openapi.json``: the OpenAPI 3.1 document, generated from the route table so
that it cannot drift from what the server does."""

from __future__ import annotations

from typing import Any

from ..http import HTTP_REASONS, Request, Response, Route, Router

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable."},
                "message": {"type": "string", "description": "For humans."},
                "hint": {"type": "string", "description": "How to fix it, when the platform knows (optional)."},
                "details": {
                    "type": "array",
                    "description": "One entry per invalid field (all of them, on 422).",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": ["string", "null"]},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_SECURITY: list[dict[str, list[str]]] = [{"apiKeyHeader": []}, {"bearer": []}]


def _error_statuses(route: Route) -> list[int]:
    statuses = set(route.errors) | {400, 500}  # 400: a Host that is not the platform's (tektii_platform.hosts)
    if route.auth:
        statuses.add(401)
    if route.path_params:
        statuses.add(404)
    if route.request_schema is not None:
        statuses |= {400, 413, 422}
    if route.query:
        statuses.add(422)
    return sorted(statuses)


def _operation(route: Route) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.path_params]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": p.schema,
            "description": p.description,
        }
        for p in route.query
    ]
    if route.response_schema is None:
        success: dict[str, Any] = {"description": HTTP_REASONS[route.status]}
    else:
        body = (
            route.response_schema
            if route.raw
            else {
                "type": "object",
                "required": ["data"],
                "properties": {"data": route.response_schema},
            }
        )
        success = {
            "description": HTTP_REASONS[route.status],
            "content": {
                "application/json": {"schema": body},
                **{media: {"schema": {"type": "string"}} for media in route.text_media},
            },
        }
    responses = {str(route.status): success}
    for status in _error_statuses(route):
        responses[str(status)] = {
            "description": HTTP_REASONS[status],
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "security": _SECURITY if route.auth else [],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if route.request_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.request_schema}},
        }
    return operation


def document(router: Router) -> dict[str, Any]:
    from .. import __version__

    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tektii platform API",
            "version": __version__,
            "description": 'Success bodies are {"data": ...}; errors are {"error": {...}}. See docs/api.md.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(router.schemas.items())),
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def register(router: Router) -> None:
    router.schema("Error", ERROR_SCHEMA)

    def get_openapi(req: Request) -> Response:
        """This OpenAPI document"""
        return Response(200, document(router))

    router.add(
        "GET",
        "/v1/openapi.json",
        get_openapi,
        operation_id="getOpenApi",
        tag="platform",
        auth=False,
        raw=True,
        response_schema={"type": "object", "description": "An OpenAPI 3.1 document."},
    )

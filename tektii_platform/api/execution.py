"""``GET /v1/platform/execution``: where runs execute (admins only): the execution backend, how
many runs may go at once, and for a cluster backend its nodes with their free resources
(what ``tektii platform status`` shows)."""

from __future__ import annotations

from typing import Any

from ..http import ApiError, Request, Response, Router, ok

_AMOUNT = {"type": "object", "required": ["total", "free"],
           "properties": {"total": {"type": "number"}, "free": {"type": "number"}}}
NODE_SCHEMA = {
    "type": "object",
    "required": ["nodeId", "address", "alive", "cpu", "docker", "memoryMb"],
    "properties": {
        "nodeId": {"type": "string"},
        "address": {"type": "string", "description": "The node's IP address."},
        "alive": {"type": "boolean"},
        "cpu": _AMOUNT,
        "docker": {**_AMOUNT, "description": "Slots for container runs (nodes with a Docker engine advertise them)."},
        "memoryMb": _AMOUNT,
    },
}
EXECUTION_SCHEMA = {
    "type": "object",
    "required": ["backend", "description", "scheduling", "maxConcurrentRuns", "runningHere", "cluster"],
    "properties": {
        "backend": {"type": "string", "examples": ["local", "ray"]},
        "description": {"type": "string"},
        "scheduling": {"type": "boolean", "description": "Whether this API process runs the scheduler."},
        "maxConcurrentRuns": {"type": ["integer", "null"],
                              "description": "TEKTII_MAX_CONCURRENT_RUNS; null when the backend's capacity decides."},
        "runningHere": {"type": "integer", "description": "Runs this process's scheduler supervises now."},
        "cluster": {
            "type": ["object", "null"],
            "required": ["address", "nodes"],
            "properties": {"address": {"type": "string"}, "nodes": {"type": "array", "items": NODE_SCHEMA}},
        },
    },
}


def get_execution(req: Request) -> Response:
    """Where scenario runs execute: the backend and its nodes (admins only)"""
    from tektii_core.contracts import TektiiError

    from ..scheduler import configured_backend, max_concurrent_from_env

    assert req.user is not None
    if not req.user.admin:
        raise ApiError(403, "Only a platform admin can see where runs execute", code="admin_required")
    scheduler = req.ctx.extras.get("scheduler")
    backend = scheduler.backend if scheduler is not None else configured_backend()
    cluster: dict[str, Any] | None = None
    describe = getattr(backend, "describe", None)
    if describe is not None:
        try:
            cluster = describe()
        except TektiiError as exc:
            raise ApiError(503, f"The {backend.name} backend did not answer: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - a cluster client raises many kinds
            raise ApiError(503, f"The {backend.name} backend did not answer: {exc}") from None
    return ok({
        "backend": backend.name,
        "description": backend.description,
        "scheduling": scheduler is not None,
        "maxConcurrentRuns": None if hasattr(backend, "room") else max_concurrent_from_env(),
        "runningHere": len(scheduler.running) if scheduler is not None else 0,
        "cluster": cluster,
    })


def register(router: Router) -> None:
    schema = router.schema("Execution", EXECUTION_SCHEMA)
    router.add("GET", "/v1/platform/execution", get_execution, operation_id="getExecution", tag="platform",
               response_schema=schema, errors=(403, 503))

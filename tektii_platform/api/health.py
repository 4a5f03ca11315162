"""``GET /healthz``: liveness, public, used by the daemon control to recognise the platform."""

from __future__ import annotations

import os

from ..http import Request, Response, Router, ok

SERVICE = "tektii-platform"


def health(req: Request) -> Response:
    """Liveness check"""
    from .. import __version__

    return ok({"status": "ok", "service": SERVICE, "version": __version__, "pid": os.getpid()})


def register(router: Router) -> None:
    router.add(
        "GET",
        "/healthz",
        health,
        operation_id="getHealth",
        tag="platform",
        auth=False,
        response_schema={
            "type": "object",
            "required": ["status", "service", "version", "pid"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "service": {"type": "string", "enum": [SERVICE]},
                "version": {"type": "string"},
                "pid": {"type": "integer", "description": "Process id of the server."},
            },
        },
    )

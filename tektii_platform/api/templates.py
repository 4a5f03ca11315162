"""``GET /v1/templates`` (public): the strategy templates this platform offers, i.e. those the
``register_templates`` plugins register (the built-ins and any installed plugin's). A version
created with ``template`` (``POST .../versions``) must name one of them; the run worker then
runs the template's own files (tektii_engine.worker)."""

from __future__ import annotations

import functools
from typing import Any

from ..http import Request, Response, Router, ok

TEMPLATE_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "defaults"],
    "properties": {
        "name": {"type": "string", "example": "ma-crossover"},
        "description": {"type": "string"},
        "defaults": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The environment variables the template reads (scenario config `env`) and their defaults;"
                           " an empty string is unset.",
        },
    },
}


@functools.cache
def offered() -> dict[str, Any]:
    """The templates by name, loaded once per process."""
    from tektii_core.plugins import Plugins

    return Plugins(hooks=["register_templates"]).templates


def name_schema() -> dict[str, Any]:
    """The JSON schema of a version's ``template``: one of the offered names, or null."""
    return {"type": ["string", "null"], "enum": [*offered(), None]}


def list_templates(req: Request) -> Response:
    """List the strategy templates versions can be created from"""
    return ok({"templates": [t.to_api() for t in offered().values()]})


def register(router: Router) -> None:
    template = router.schema("Template", TEMPLATE_SCHEMA)
    router.add("GET", "/v1/templates", list_templates, operation_id="listTemplates", tag="templates", auth=False,
               response_schema={"type": "object", "required": ["templates"],
                                "properties": {"templates": {"type": "array", "items": template}}})

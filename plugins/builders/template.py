"""The `template` builder: `version upload --template NAME` creates the version from one of the
platform's templates (the list is the platform's, `GET /v1/templates`) and builds no image:
the version is READY once created, and the platform runs the template's own files."""

from __future__ import annotations

from typing import Any

from tektii_core import hookimpl
from tektii_core.contracts import Availability, TektiiError


class TemplateBuilder:
    name = "template"
    tool = "the platform"
    source = "template"
    description = "Creates the version from a platform template (version upload --template NAME); builds no image"

    def availability(self) -> Availability:
        return Availability(True)  # nothing to install: the platform holds the templates

    def check_template(self, client: Any, template: str) -> list[TektiiError]:
        offered = [t["name"] for t in client.get("/v1/templates")["data"]["templates"]]
        if template in offered:
            return []
        return [TektiiError(f"Unknown template {template!r} (available: {', '.join(offered)})")]


@hookimpl
def register_builders(register):
    register(TemplateBuilder(), order=50)

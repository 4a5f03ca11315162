"""The built-in strategy templates (ma-crossover, rsi-momentum; files in tektii_engine.templates)."""

from __future__ import annotations

from tektii_core import hookimpl


@hookimpl
def register_templates(register):
    from tektii_engine.templates import BUILTIN_TEMPLATES

    for template in BUILTIN_TEMPLATES:
        register(template.name, template.directory, description=template.description, defaults=template.defaults)

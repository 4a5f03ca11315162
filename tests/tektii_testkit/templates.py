"""The built-in templates' pure logic modules, imported by path (templates are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def load_logic(template: str, module: str) -> ModuleType:
    """Import `module`.py of `template` under a private name (templates are not packages)."""
    name = f"_template_{module}"
    if name in sys.modules:
        return sys.modules[name]
    from tektii_engine.templates import template_dir

    spec = importlib.util.spec_from_file_location(name, template_dir(template) / f"{module}.py")
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded

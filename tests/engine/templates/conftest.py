"""Helpers for the template tests: load a template's pure logic module by path."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tektii_engine.templates import template_dir


def load_logic(template: str, module: str) -> ModuleType:
    """Import `module`.py of `template` under a private name (templates are not packages)."""
    name = f"_template_{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, template_dir(template) / f"{module}.py")
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture(scope="session")
def ma():
    return load_logic("ma-crossover", "ma_crossover")


@pytest.fixture(scope="session")
def rsi():
    return load_logic("rsi-momentum", "rsi_momentum")

"""Every hook specification is documented in docs/ and exercised by at least one test."""

from __future__ import annotations

import inspect
from pathlib import Path

from tektii_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent


def hook_names() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "tektii_spec")]


def test_there_are_hookspecs():
    assert {"register_commands", "register_formatters", "register_auth_providers", "register_builders",
            "register_runtimes", "resolve_api_url"} <= set(hook_names())


def test_every_hookspec_has_a_docstring_and_docs_section():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    for name in hook_names():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name
        assert f"### {name}(" in docs, f"docs/plugins.md has no section for {name}"


def test_every_hookspec_is_exercised_by_a_test():
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]
    for name in hook_names():
        assert any(name in text for text in sources), f"no test mentions {name}"

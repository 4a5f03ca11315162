"""Every hook specification is documented in docs/ and exercised by at least one test, and the
signatures written in the docs are the real ones (as datasette's docs test checks its hooks):
each ``### hook(args)`` heading names the spec's arguments, and the ``register(...)`` signature
in the section and in the spec's docstring is the signature of the hook's registrar."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from tektii_core import hookspecs
from tektii_core.registrars import REGISTRARS

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_MD = (ROOT / "docs" / "plugins.md").read_text()


def hook_names() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "tektii_spec")]


def docs_section(name: str) -> str:
    """The text of docs/plugins.md under ``### name(...)``, up to the next heading."""
    match = re.search(rf"^### {name}\((?P<args>[^)]*)\)(?P<body>.*?)(?=^#|\Z)", PLUGINS_MD, re.S | re.M)
    assert match, f"docs/plugins.md has no section for {name}"
    return match.group(0)


def documented_register(text: str) -> list[tuple[str, str, object]]:
    """The first ``register(...)`` signature in `text` (Markdown or reST code) as (name, kind, default)."""
    match = re.search(r"`+register(\(.*?\))`+", text, re.S)
    assert match, f"no register(...) signature in {text[:80]!r}"
    args = ast.parse(f"def register{' '.join(match.group(1).split())}: pass").body[0].args  # type: ignore[attr-defined]
    positional = [(a.arg, "POSITIONAL_OR_KEYWORD") for a in args.args]
    defaults = [inspect.Parameter.empty] * (len(args.args) - len(args.defaults)) + [ast.literal_eval(d) for d in args.defaults]
    found = [(name, kind, default) for (name, kind), default in zip(positional, defaults)]
    found += [(a.arg, "KEYWORD_ONLY", inspect.Parameter.empty if d is None else ast.literal_eval(d))
              for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return found


def registrar_signature(registrar: type) -> list[tuple[str, str, object]]:
    params = list(inspect.signature(registrar.__call__).parameters.values())[1:]  # without self
    return [(p.name, p.kind.name, p.default) for p in params]


def test_there_are_hookspecs():
    assert {"register_commands", "register_formatters", "register_auth_providers", "register_builders",
            "register_runtimes", "register_execution_backends", "resolve_api_url"} <= set(hook_names())


def test_every_hookspec_has_a_docstring_and_docs_section():
    for name in hook_names():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name
        assert f"### {name}(" in PLUGINS_MD, f"docs/plugins.md has no section for {name}"


def test_documented_hook_arguments_are_the_specs():
    for name in hook_names():
        heading = re.search(rf"^### {name}\(([^)]*)\)", PLUGINS_MD, re.M)
        assert heading, name
        documented = [a.strip() for a in heading.group(1).split(",") if a.strip()]
        assert documented == list(inspect.signature(getattr(hookspecs, name)).parameters), name


def test_every_register_hook_has_a_registrar():
    register_hooks = {name for name in hook_names() if name.startswith("register_")}
    assert {r.hook for r in REGISTRARS} == register_hooks
    for registrar in REGISTRARS:
        annotation = inspect.signature(getattr(hookspecs, registrar.hook)).parameters["register"].annotation
        assert annotation == registrar.__name__, f"{registrar.hook}(register) is not typed as {registrar.__name__}"


@pytest.mark.parametrize("registrar", REGISTRARS, ids=lambda r: r.hook)
def test_documented_register_signature_is_the_registrars(registrar):
    real = registrar_signature(registrar)
    assert documented_register(docs_section(registrar.hook)) == real, f"docs/plugins.md, {registrar.hook}"
    assert documented_register(getattr(hookspecs, registrar.hook).__doc__) == real, f"hookspecs.{registrar.hook}"


def test_a_wrongly_documented_signature_is_caught():
    from tektii_core.registrars import FormatterRegistrar

    assert documented_register("`register(name, render, description='')`") != registrar_signature(FormatterRegistrar)
    assert documented_register("`register(name, renderer, *, description='')`") != registrar_signature(FormatterRegistrar)
    assert documented_register("`register(name, render, *, description='')`") == registrar_signature(FormatterRegistrar)


def test_every_hookspec_is_exercised_by_a_test():
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]
    for name in hook_names():
        assert any(name in text for text in sources), f"no test mentions {name}"

"""The ``register`` callbacks that the ``register_*`` hooks hand to plugins, one class per hook,
and the one rule for two plugins that register the same name.

Each registrar's ``__call__`` has the signature documented in docs/plugins.md (the tests compare
them), so ``register("csv", render)`` and ``register(name="csv", render=render)`` both work.

The collision rule, the same for every kind: an installed (entry-point) plugin overrides a
built-in of the same name, and the override is reported (``tektii plugins``, ``-v``); two
built-ins or two installed plugins with the same name keep the first and print a warning.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TextIO, TypeVar

import attrs

from tektii_core.contracts import Template

if TYPE_CHECKING:
    import argparse

    from tektii_core.cli.context import Context
    from tektii_core.contracts import AuthProvider, Builder, ExecutionBackend, Runtime, TemplateBuilder
    from tektii_core.output import Output

T = TypeVar("T")

Render = Callable[["Output", TextIO, bool], None]
"""A formatter: writes an ``Output`` to the text stream; the flag says whether it is a terminal."""

RunCommand = Callable[["Context", "argparse.Namespace"], "Output | int | None"]
AddArguments = Callable[["argparse.ArgumentParser"], Any]


@attrs.frozen
class CommandSpec:
    """A noun (``parent`` is None) or a verb under the noun ``parent``."""

    name: str
    help: str
    run: RunCommand | None = None
    arguments: AddArguments | None = None
    parent: str | None = None
    description: str | None = None
    examples: tuple[str, ...] = ()


@attrs.frozen
class Formatter:
    name: str
    render: Render
    description: str = ""


@attrs.frozen
class RankedBuilder:
    builder: Builder | TemplateBuilder
    order: int


@attrs.frozen
class Registration(Generic[T]):
    item: T
    plugin: str  # the plugin name that registered it, as `tektii plugins` shows it
    builtin: bool


@attrs.frozen
class Override:
    """An installed plugin's registration that replaced a built-in one of the same name."""

    kind: str  # "formatter", "runtime", ...
    name: str
    plugin: str
    builtin_plugin: str

    def message(self) -> str:
        return f"{self.kind} {self.name!r} from plugin {self.plugin!r} overrides the built-in one from {self.builtin_plugin!r}"

    def to_api(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "plugin": self.plugin, "overrides": self.builtin_plugin}


class Registrar(Generic[T]):
    """Collects one hook's registrations by name and applies the collision rule."""

    hook: ClassVar[str]
    kind: ClassVar[str]

    def __init__(self, builtin_plugins: Collection[str]) -> None:
        self._builtin_plugins = builtin_plugins
        self.plugin = "?"  # set by the plugin manager before it calls each plugin's hook implementation
        self.registrations: dict[str, Registration[T]] = {}
        self.overrides: list[Override] = []

    def add(self, name: str, item: T) -> None:
        new = Registration(item, self.plugin, self.plugin in self._builtin_plugins)
        old = self.registrations.get(name)
        if old is None:
            self.registrations[name] = new
        elif old.builtin and not new.builtin:
            self.registrations[name] = new  # keeps the built-in's place in the order
            self.overrides.append(Override(self.kind, name, new.plugin, old.plugin))
        elif new.builtin and not old.builtin:
            self.overrides.append(Override(self.kind, name, old.plugin, new.plugin))
        else:
            print(f"Warning: {self.kind} {name!r} is registered by plugin {old.plugin!r} and again by {new.plugin!r};"
                  f" keeping the one from {old.plugin!r}", file=sys.stderr)

    def items(self) -> list[T]:
        """What was registered, in registration order, collisions resolved."""
        return [r.item for r in self.registrations.values()]


class CommandRegistrar(Registrar[CommandSpec]):
    hook = "register_commands"
    kind = "command"

    def __call__(self, name: str, *, help: str, run: RunCommand | None = None, arguments: AddArguments | None = None,
                 parent: str | None = None, description: str | None = None, examples: Iterable[str] = ()) -> None:
        spec = CommandSpec(name, help, run, arguments, parent, description, tuple(examples))
        self.add(f"{parent} {name}" if parent else name, spec)


class FormatterRegistrar(Registrar[Formatter]):
    hook = "register_formatters"
    kind = "formatter"

    def __call__(self, name: str, render: Render, *, description: str = "") -> None:
        self.add(name, Formatter(name, render, description))


class AuthProviderRegistrar(Registrar["AuthProvider"]):
    hook = "register_auth_providers"
    kind = "auth provider"

    def __call__(self, provider: AuthProvider) -> None:
        self.add(provider.name, provider)


class BuilderRegistrar(Registrar[RankedBuilder]):
    hook = "register_builders"
    kind = "builder"

    def __call__(self, builder: Builder | TemplateBuilder, *, order: int = 100) -> None:
        self.add(builder.name, RankedBuilder(builder, order))


class RuntimeRegistrar(Registrar["Runtime"]):
    hook = "register_runtimes"
    kind = "runtime"

    def __call__(self, runtime: Runtime) -> None:
        self.add(runtime.name, runtime)


class ExecutionBackendRegistrar(Registrar["ExecutionBackend"]):
    hook = "register_execution_backends"
    kind = "execution backend"

    def __call__(self, backend: ExecutionBackend) -> None:
        self.add(backend.name, backend)


class TemplateRegistrar(Registrar[Template]):
    hook = "register_templates"
    kind = "template"

    def __call__(self, name: str, directory: Path, *, description: str = "",
                 defaults: Mapping[str, str] | None = None) -> None:
        self.add(name, Template(name, Path(directory), description, dict(defaults or {})))


REGISTRARS: tuple[type[Registrar[Any]], ...] = (
    CommandRegistrar, FormatterRegistrar, AuthProviderRegistrar, BuilderRegistrar, RuntimeRegistrar,
    ExecutionBackendRegistrar, TemplateRegistrar,
)
"""One per ``register_*`` hook."""

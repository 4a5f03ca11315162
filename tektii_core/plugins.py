"""The plugin manager: built-in plugins, then the entry-point group `tektii`.

`Plugins` is the typed facade the rest of the core uses; it collects what plugins
register through the `register_*` hooks with the registrars of registrars.py, which also
decide between two plugins that register the same name.

Environment:
- TEKTII_DISABLE_PLUGINS: comma-separated plugin names not to load (see `tektii plugins`).
- TEKTII_NO_ENTRY_POINTS=1: load only the built-in plugins.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from tektii_core import __version__, cache, hookspecs
from tektii_core.errors import TektiiError
from tektii_core.registrars import (
    REGISTRARS,
    AuthProviderRegistrar,
    BuilderRegistrar,
    CommandRegistrar,
    CommandSpec,
    ExecutionBackendRegistrar,
    FormatterRegistrar,
    Override,
    Registrar,
    Render,
    RuntimeRegistrar,
    TemplateRegistrar,
)

if TYPE_CHECKING:
    from tektii_core.contracts import AuthProvider, Builder, ExecutionBackend, Runtime, Template, TemplateBuilder

R = TypeVar("R", bound=Registrar[Any])

ENTRY_POINT_GROUP = "tektii"
DISABLE_ENV = "TEKTII_DISABLE_PLUGINS"
NO_ENTRY_POINTS_ENV = "TEKTII_NO_ENTRY_POINTS"
BUILTIN_DIST = "tektii-cli"

# name -> module; registered exactly like third-party plugins. The part of the name before the
# first dot says which hook the module implements (BUILTIN_KINDS), so that a caller that needs only
# some hooks imports only those modules.
BUILTIN_PLUGINS = {
    "formatters.table": "tektii_plugins.formatters.table",
    "formatters.json": "tektii_plugins.formatters.json",
    "formatters.csv": "tektii_plugins.formatters.csv",
    "auth.flag_env": "tektii_plugins.auth.flag_env",
    "auth.config_file": "tektii_plugins.auth.config_file",
    "auth.keyring": "tektii_plugins.auth.keyring",
    "auth.credential_helper": "tektii_plugins.auth.credential_helper",
    "commands.strategy": "tektii_plugins.commands.strategy",
    "commands.auth": "tektii_plugins.commands.auth",
    "commands.config": "tektii_plugins.commands.config",
    "commands.platform": "tektii_plugins.commands.platform",
    "commands.plugins": "tektii_plugins.commands.plugins",
    "commands.version": "tektii_plugins.commands.version",
    "commands.data": "tektii_plugins.commands.data",
    "commands.scenario": "tektii_plugins.commands.scenario",
    "commands.sweep": "tektii_plugins.commands.sweep",
    "commands.backtest": "tektii_plugins.commands.backtest",
    "builders.docker": "tektii_plugins.builders.docker",
    "builders.buildx": "tektii_plugins.builders.buildx",
    "builders.podman": "tektii_plugins.builders.podman",
    "builders.template": "tektii_plugins.builders.template",
    "templates.builtin": "tektii_plugins.templates.builtin",
    "runtimes.process": "tektii_plugins.runtimes.process",
    "runtimes.docker": "tektii_plugins.runtimes.docker",
    "execution.local": "tektii_plugins.execution.local",
    "execution.ray": "tektii_plugins.execution.ray",
    "local_platform": "tektii_plugins.local_platform",
}


BUILTIN_KINDS = {
    "formatters": "register_formatters",
    "auth": "register_auth_providers",
    "commands": "register_commands",
    "builders": "register_builders",
    "runtimes": "register_runtimes",
    "execution": "register_execution_backends",
    "templates": "register_templates",
    "local_platform": "resolve_api_url",
}


def builtin_hook(name: str) -> str:
    """The hook the built-in plugin `name` implements, from its name's prefix."""
    return BUILTIN_KINDS[name.partition(".")[0]]


def _warn(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def entry_point_index() -> list[dict[str, str]]:
    """The `tektii` entry points of installed distributions; scanned once per environment change."""
    fingerprint = cache.environment_fingerprint()
    cached = cache.read("entry-points.json", fingerprint)
    if cached is not None:
        return cached
    from importlib.metadata import distributions

    found = []
    seen = set()
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP and (ep.name, ep.value) not in seen:
                seen.add((ep.name, ep.value))
                found.append({"name": ep.name, "value": ep.value, "dist": dist.metadata["Name"], "version": dist.version})
    cache.write("entry-points.json", fingerprint, found)
    return found


def _load(value: str) -> object:
    module_name, _, attr = value.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def create_plugin_manager(hooks: Iterable[str] | None = None) -> tuple[pluggy.PluginManager, dict[str, dict[str, str]]]:
    """A plugin manager with the plugins loaded; and per plugin name its distribution and version.

    With `hooks`, only the built-in plugins that implement one of them are imported (installed
    plugins are always loaded: what they implement is known only once they are imported).
    A built-in that fails to import is an error; a broken installed plugin is a warning.
    """
    pm = pluggy.PluginManager("tektii")
    pm.add_hookspecs(hookspecs)
    wanted = None if hooks is None else set(hooks)
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    origins: dict[str, dict[str, str]] = {}
    # (plugin name, "module" or "module:attribute", origin)
    candidates: list[tuple[str, str, dict[str, str]]] = [
        (name, module, {"dist": BUILTIN_DIST, "version": __version__}) for name, module in BUILTIN_PLUGINS.items()
        if wanted is None or builtin_hook(name) in wanted
    ]
    if os.environ.get(NO_ENTRY_POINTS_ENV, "") not in ("1", "true", "yes"):
        candidates += [(ep["name"], ep["value"], {"dist": ep["dist"], "version": ep["version"]})
                       for ep in entry_point_index()]
    for name, target, origin in candidates:
        if name in disabled or pm.has_plugin(name):
            continue
        builtin = origin["dist"] == BUILTIN_DIST
        try:
            plugin = _load(target)
        except Exception as exc:
            if builtin:  # the installation is broken: say so instead of missing a command
                raise TektiiError(f"built-in plugin {name!r} failed to load: {type(exc).__name__}: {exc}",
                                  hint=f"Reinstall {BUILTIN_DIST} (pip install --force-reinstall {BUILTIN_DIST})") from exc
            # a broken third-party plugin must not break the CLI
            _warn(f"plugin {name!r} ({origin['dist']}) failed to load: {type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            _warn(f"plugin {name!r} ({origin['dist']}) was not registered: {exc}")
            continue
        origins[name] = origin
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # A hook name that no specification knows is almost always a typo; name the plugin and go on.
        _warn(str(exc))
    return pm, origins


class Plugins:
    """Typed access to what the loaded plugins provide.

    `Plugins()` loads every plugin (the CLI); `Plugins(hooks=["register_runtimes"])` only the
    built-ins implementing those hooks (the platform's scheduler, the engine's worker).
    """

    def __init__(self, hooks: Iterable[str] | None = None) -> None:
        self.hooks = None if hooks is None else frozenset(hooks)
        self.pm, self.origins = create_plugin_manager(self.hooks)
        self._registrars: dict[type[Registrar[Any]], Registrar[Any]] = {}

    def _registrations(self, registrar_type: type[R]) -> R:
        """The registrar of one hook, filled on first use: each plugin's implementation is called
        with it in pluggy's call order (last registered first, honouring tryfirst/trylast),
        the registrar told which plugin calls."""
        if registrar_type in self._registrars:
            return self._registrars[registrar_type]  # type: ignore[return-value]
        if self.hooks is not None and registrar_type.hook not in self.hooks:
            raise RuntimeError(f"these plugins were loaded for {sorted(self.hooks)}, not {registrar_type.hook}")
        builtins = {name for name, origin in self.origins.items() if origin["dist"] == BUILTIN_DIST}
        registrar = registrar_type(builtins)
        for impl in reversed(getattr(self.pm.hook, registrar_type.hook).get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue  # nothing to wrap: each implementation is called on its own
            registrar.plugin = impl.plugin_name
            impl.function(*[{"register": registrar}[arg] for arg in impl.argnames])
        self._registrars[registrar_type] = registrar
        return registrar

    @property
    def commands(self) -> list[CommandSpec]:
        """Nouns and verbs in registration order."""
        return self._registrations(CommandRegistrar).items()

    @property
    def formatters(self) -> dict[str, Render]:
        return {f.name: f.render for f in self._registrations(FormatterRegistrar).items()}

    @property
    def auth_providers(self) -> list[AuthProvider]:
        """In the order they are asked (ascending `priority`)."""
        return sorted(self._registrations(AuthProviderRegistrar).items(), key=lambda p: p.priority)

    @property
    def builders(self) -> list[Builder | TemplateBuilder]:
        """Builders in the documented order of preference (ascending `order`, then registration)."""
        ranked = self._registrations(BuilderRegistrar).items()
        return [r.builder for _, r in sorted(enumerate(ranked), key=lambda item: (item[1].order, item[0]))]

    def builder(self, name: str) -> Builder | TemplateBuilder:
        for builder in self.builders:
            if builder.name == name:
                return builder
        names = ", ".join(b.name for b in self.builders)
        raise TektiiError(f"Unknown builder {name!r}", hint=f"Available builders: {names}")

    @property
    def runtimes(self) -> dict[str, Runtime]:
        return {r.name: r for r in self._registrations(RuntimeRegistrar).items()}

    def runtime(self, name: str) -> Runtime:
        runtimes = self.runtimes
        if name not in runtimes:
            raise TektiiError(f"Unknown runtime {name!r}; available: {', '.join(sorted(runtimes)) or 'none'}")
        return runtimes[name]

    @property
    def execution_backends(self) -> dict[str, ExecutionBackend]:
        return {b.name: b for b in self._registrations(ExecutionBackendRegistrar).items()}

    def execution_backend(self, name: str) -> ExecutionBackend:
        backends = self.execution_backends
        if name not in backends:
            names = ", ".join(sorted(backends)) or "none"
            raise TektiiError(f"Unknown execution backend {name!r}", hint=f"Available execution backends: {names}")
        return backends[name]

    @property
    def templates(self) -> dict[str, Template]:
        """By name, in registration order."""
        return {t.name: t for t in self._registrations(TemplateRegistrar).items()}

    def template(self, name: str) -> Template:
        templates = self.templates
        if name not in templates:
            raise TektiiError(f"Unknown template {name!r}", hint=f"Available templates: {', '.join(sorted(templates))}")
        return templates[name]

    def resolve_api_url(self, settings: dict[str, Any]) -> str | None:
        return self.pm.hook.resolve_api_url(settings=settings)

    @property
    def overrides(self) -> list[Override]:
        """Every built-in registration an installed plugin replaced, over all loaded hooks."""
        found: list[Override] = []
        for registrar_type in REGISTRARS:
            if self.hooks is None or registrar_type.hook in self.hooks:
                found += self._registrations(registrar_type).overrides
        return found

    def describe(self) -> list[dict[str, Any]]:
        """Each loaded plugin with its distribution, version and the hooks it implements."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            callers = self.pm.get_hookcallers(plugin) or []
            rows.append({
                "name": name,
                "distribution": self.origins.get(name, {}).get("dist", "?"),
                "version": self.origins.get(name, {}).get("version", "?"),
                "hooks": sorted(c.name for c in callers),
            })
        return rows

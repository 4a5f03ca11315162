"""The plugin manager: built-in plugins, then the entry-point group `tektii`.

`Plugins` is the typed facade the rest of the core uses; it collects what plugins
register through the `register_*` hooks (see hookspecs.py).

Environment:
- TEKTII_DISABLE_PLUGINS: comma-separated plugin names not to load (see `tektii plugins`).
- TEKTII_NO_ENTRY_POINTS=1: load only the built-in plugins.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pluggy

from tektii_core import __version__, cache, hookspecs
from tektii_core.errors import TektiiError

ENTRY_POINT_GROUP = "tektii"
DISABLE_ENV = "TEKTII_DISABLE_PLUGINS"
NO_ENTRY_POINTS_ENV = "TEKTII_NO_ENTRY_POINTS"
BUILTIN_DIST = "tektii-cli"

# name -> module; registered exactly like third-party plugins.
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
    "runtimes.process": "tektii_plugins.runtimes.process",
    "runtimes.docker": "tektii_plugins.runtimes.docker",
    "execution.local": "tektii_plugins.execution.local",
    "local_platform": "tektii_plugins.local_platform",
}


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


def create_plugin_manager() -> tuple[pluggy.PluginManager, dict[str, dict[str, str]]]:
    """A plugin manager with every plugin loaded; and per plugin name its distribution and version."""
    pm = pluggy.PluginManager("tektii")
    pm.add_hookspecs(hookspecs)
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    origins: dict[str, dict[str, str]] = {}
    # (plugin name, "module" or "module:attribute", origin)
    candidates: list[tuple[str, str, dict[str, str]]] = [
        (name, module, {"dist": BUILTIN_DIST, "version": __version__}) for name, module in BUILTIN_PLUGINS.items()
    ]
    if os.environ.get(NO_ENTRY_POINTS_ENV, "") not in ("1", "true", "yes"):
        candidates += [(ep["name"], ep["value"], {"dist": ep["dist"], "version": ep["version"]})
                       for ep in entry_point_index()]
    for name, target, origin in candidates:
        if name in disabled or pm.has_plugin(name):
            continue
        try:
            plugin = _load(target)
        except ModuleNotFoundError as exc:
            if origin["dist"] == BUILTIN_DIST and exc.name and exc.name.startswith("tektii_plugins"):
                continue  # a built-in that this installation does not ship
            _warn(f"plugin {name!r} ({origin['dist']}) failed to load: {exc}")
            continue
        except Exception as exc:  # a broken third-party plugin must not break the CLI
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
    """Typed access to what the loaded plugins provide."""

    def __init__(self) -> None:
        self.pm, self.origins = create_plugin_manager()

    def _collect(self, hook: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        items: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        getattr(self.pm.hook, hook)(register=lambda *a, **kw: items.append((a, kw)))
        return items

    @cached_property
    def formatters(self) -> dict[str, Callable[..., None]]:
        return {a[0]: a[1] for a, _ in self._collect("register_formatters")}

    @cached_property
    def formatter_descriptions(self) -> dict[str, str]:
        return {a[0]: kw.get("description", "") for a, kw in self._collect("register_formatters")}

    @cached_property
    def auth_providers(self) -> list[Any]:
        return sorted((a[0] for a, _ in self._collect("register_auth_providers")), key=lambda p: p.priority)

    @cached_property
    def builders(self) -> list[Any]:
        """Builders in the documented order of preference (ascending `order`)."""
        found = [(kw.get("order", 100), i, a[0]) for i, (a, kw) in enumerate(self._collect("register_builders"))]
        return [builder for _, _, builder in sorted(found)]

    def builder(self, name: str) -> Any:
        for builder in self.builders:
            if builder.name == name:
                return builder
        names = ", ".join(b.name for b in self.builders)
        raise TektiiError(f"Unknown builder {name!r}", hint=f"Available builders: {names}")

    @cached_property
    def runtimes(self) -> dict[str, Any]:
        return {a[0].name: a[0] for a, _ in self._collect("register_runtimes")}

    @cached_property
    def execution_backends(self) -> dict[str, Any]:
        return {a[0].name: a[0] for a, _ in self._collect("register_execution_backends")}

    def execution_backend(self, name: str) -> Any:
        backends = self.execution_backends
        if name not in backends:
            names = ", ".join(sorted(backends)) or "none"
            raise TektiiError(f"Unknown execution backend {name!r}", hint=f"Available execution backends: {names}")
        return backends[name]

    @cached_property
    def commands(self) -> list[dict[str, Any]]:
        return [{"name": a[0], **kw} for a, kw in self._collect("register_commands")]

    def resolve_api_url(self, settings: dict[str, Any]) -> str | None:
        return self.pm.hook.resolve_api_url(settings=settings)

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

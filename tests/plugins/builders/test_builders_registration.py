"""The builder plugins register through the hook like any third-party plugin, in the
documented order (docker 10, buildx 20, podman 30, buildah 40)."""

from __future__ import annotations

import pluggy

from tektii_core import hookspecs
from tektii_core.contracts import Builder
from tektii_plugins.builders import buildx, docker, podman


def test_registered_in_documented_order():
    manager = pluggy.PluginManager("tektii")
    manager.add_hookspecs(hookspecs)
    for module in (podman, docker, buildx):
        manager.register(module)
    registered = []
    manager.hook.register_builders(register=lambda builder, *, order=100: registered.append((order, builder)))
    assert sorted((order, builder.name) for order, builder in registered) == [
        (10, "docker"),
        (20, "buildx"),
        (30, "podman"),
        (40, "buildah"),
    ]
    for _, builder in registered:
        assert isinstance(builder, Builder)
        assert builder.description

"""The plugin manager in-process: which built-ins a caller loads, the registrars' signatures and
the collision rule as the engine's worker and the platform's scheduler see it."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from tektii_core import plugins as plugin_manager
from tektii_core.plugins import BUILTIN_PLUGINS, Plugins, builtin_hook
from tektii_core.registrars import FormatterRegistrar


def test_each_builtin_implements_the_hook_its_name_says():
    for name, module in BUILTIN_PLUGINS.items():
        loaded = plugin_manager._load(module)
        hooks = {n for n, f in inspect.getmembers(loaded) if hasattr(f, "tektii_impl")}
        assert hooks == {builtin_hook(name)}, name


def test_register_takes_the_documented_names_as_keywords_or_positions():
    def render(output, stream, tty):
        stream.write("yaml\n")

    formatters = FormatterRegistrar(builtin_plugins=set())
    formatters.plugin = "a-plugin"
    formatters(name="yaml", render=render)
    formatters("toml", render, description="TOML")
    assert [(r.item.name, r.item.render, r.item.description, r.plugin) for r in formatters.registrations.values()] == [
        ("yaml", render, "", "a-plugin"), ("toml", render, "TOML", "a-plugin")]
    with pytest.raises(TypeError):
        formatters("ini", render, "positional description")  # documented as keyword-only


def test_the_worker_and_scheduler_import_only_the_plugins_they_need():
    program = ("import json, sys\nfrom tektii_core.plugins import Plugins\n"
               "p = Plugins(hooks=['register_execution_backends', 'register_runtimes'])\n"
               "print(json.dumps({'loaded': sorted(p.origins), 'runtimes': sorted(p.runtimes),"
               " 'backends': sorted(p.execution_backends), 'ray': 'ray' in sys.modules,"
               " 'modules': sorted(m for m in sys.modules if m.startswith('tektii'))}))\n")
    found = json.loads(subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                                      timeout=60, env={"TEKTII_NO_ENTRY_POINTS": "1"}).stdout)
    assert found["loaded"] == ["execution.local", "execution.ray", "runtimes.docker", "runtimes.process"]
    assert found["runtimes"] == ["docker", "process"] and found["backends"] == ["local", "ray"]
    assert not found["ray"]  # the ray backend imports ray only when it is used
    assert not [m for m in found["modules"] if m.startswith(("tektii_plugins.commands", "tektii_plugins.formatters",
                                                             "tektii_plugins.builders", "tektii_platform"))]


def test_asking_for_a_hook_that_was_not_loaded_is_a_programming_error():
    runtimes_only = Plugins(hooks=["register_runtimes"])
    with pytest.raises(RuntimeError, match="not register_commands"):
        _ = runtimes_only.commands


def test_an_installed_runtime_and_backend_replace_the_builtins_for_the_engine(monkeypatch):
    monkeypatch.setenv("EXAMPLE_OVERRIDE_BUILTINS", "1")
    engine = Plugins(hooks=["register_runtimes", "register_execution_backends"])
    assert engine.runtime("process").description == "Refuses to start strategies (example override)"
    assert engine.execution_backend("local").description == "Runs nothing (example override)"
    assert engine.runtime("docker").name == "docker"  # the built-in, nothing replaced it
    assert {(o.kind, o.name, o.plugin) for o in engine.overrides} == {
        ("runtime", "process", "example"), ("execution backend", "local", "example")}
    monkeypatch.delenv("EXAMPLE_OVERRIDE_BUILTINS")
    assert Plugins(hooks=["register_runtimes"]).runtime("process").description.startswith("Runs a strategy file")

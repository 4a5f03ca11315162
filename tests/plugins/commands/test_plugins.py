"""The plugin mechanism with real distributions: the installed example package and ones made on the fly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def make_distribution(root: Path, name: str, module_source: str) -> None:
    """A real (unpacked) distribution on a sys.path entry: importlib.metadata finds its entry point."""
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(module_source)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tektii]\n{name} = {module}\n")


def test_plugins_lists_builtins_and_the_example_package(cli):
    result = cli("--output", "json", "plugins")
    assert result.code == 0, result.err
    data = json.loads(result.out)["data"]
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["example"]["distribution"] == "tektii-example-plugin"
    assert by_name["example"]["version"] == "0.3.0"
    assert by_name["example"]["hooks"] == ["register_auth_providers", "register_builders", "register_commands",
                                           "register_execution_backends", "register_formatters", "register_runtimes",
                                           "register_templates"]
    assert by_name["commands.strategy"]["distribution"] == "tektii-cli"
    assert "markdown" in data["formatters"]
    assert {"ma-crossover", "rsi-momentum", "buy-and-hold"} <= set(data["templates"])
    template = next(b for b in data["builders"] if b["name"] == "template")
    assert by_name["builders.template"]["hooks"] == ["register_builders"] and template["available"]
    assert data["overrides"] == []  # the example plugin overrides nothing unless asked to
    tarball = next(b for b in data["builders"] if b["name"] == "tarball")
    assert tarball == {"name": "tarball", "description": "Archives the build context (example third-party builder)",
                       "available": False, "reason": "set EXAMPLE_TARBALL_DIR to enable"}


def test_plugins_table_shows_availability_reasons(cli, tmp_path):
    result = cli("plugins")
    assert result.code == 0
    assert "example" in result.out and "tektii-example-plugin" in result.out
    assert "no: set EXAMPLE_TARBALL_DIR to enable" in result.out
    enabled = cli("plugins", env={"EXAMPLE_TARBALL_DIR": str(tmp_path)})
    assert "no: set EXAMPLE_TARBALL_DIR" not in enabled.out


def test_plugin_command_formatter_and_verb_under_a_builtin_noun(user_cli):
    assert user_cli("hello", "there").out.strip() == "Hello, there!"
    user_cli("strategy", "create", "--name", "counted")
    counted = user_cli("--output", "markdown", "strategy", "count")
    assert counted.code == 0, counted.err
    assert counted.out.splitlines()[:3] == ["| Field | Value |", "|---|---|", "| Strategies | 1 |"]


def test_plugin_auth_provider_takes_precedence_by_priority(user_cli, tmp_path):
    key = user_cli.env.pop("TEKTII_API_KEY")
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    status = user_cli("--output", "json", "auth", "status", env={"EXAMPLE_TEKTII_KEY_FILE": str(key_file)})
    assert status.code == 0, status.err
    assert json.loads(status.out)["data"]["keySource"] == f"example key file {key_file}"
    missing = user_cli("auth", "status", env={"EXAMPLE_TEKTII_KEY_FILE": str(tmp_path / "nope")})
    assert missing.code == 1 and missing.err.startswith("Error: EXAMPLE_TEKTII_KEY_FILE")


OVERRIDES = [
    {"kind": "command", "name": "config list", "plugin": "example", "overrides": "commands.config"},
    {"kind": "formatter", "name": "csv", "plugin": "example", "overrides": "formatters.csv"},
    {"kind": "auth provider", "name": "credential-helper", "plugin": "example", "overrides": "auth.credential_helper"},
    {"kind": "builder", "name": "docker", "plugin": "example", "overrides": "builders.docker"},
    {"kind": "runtime", "name": "process", "plugin": "example", "overrides": "runtimes.process"},
    {"kind": "execution backend", "name": "local", "plugin": "example", "overrides": "execution.local"},
]


def test_an_installed_plugin_overrides_the_builtin_of_the_same_name_and_says_so(cli):
    env = {"EXAMPLE_OVERRIDE_BUILTINS": "1"}
    data = json.loads(cli("--output", "json", "plugins", env=env).out)["data"]
    assert data["overrides"] == OVERRIDES
    assert [b["name"] for b in data["builders"]].count("docker") == 1
    docker = next(b for b in data["builders"] if b["name"] == "docker")
    assert docker["description"] == "Archives the build context instead of building with docker (example override)"
    process = next(r for r in data["runtimes"] if r["name"] == "process")
    assert process["reason"] == "the example plugin replaced the process runtime"

    table = cli("plugins", env=env)
    assert "Built-ins overridden by installed plugins:" in table.out
    assert any(line.split() == ["runtime", "process", "example", "runtimes.process"] for line in table.out.splitlines())
    assert "overridden" not in cli("plugins").out

    listed = cli("-v", "config", "list", env=env)
    assert listed.code == 0, listed.err
    assert listed.out == "config list, as the example plugin does it\n"
    assert "command 'config list' from plugin 'example' overrides the built-in one from 'commands.config'" in listed.err
    assert "Warning" not in listed.err
    shown = cli("--output", "csv", "config", "get", "output", env=env)  # the example's csv renders Markdown
    assert shown.out.splitlines()[:2] == ["| Field | Value |", "|---|---|"]
    assert cli("--output", "csv", "config", "get", "output").out.startswith("field,value")


def test_two_installed_plugins_with_one_name_keep_one_and_warn(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "markdown-too", "from tektii_core import hookimpl\n\n@hookimpl\n"
                      "def register_formatters(register):\n    register('markdown', lambda o, s, t: s.write('too\\n'))\n")
    result = cli("--output", "markdown", "config", "get", "output", env={"PYTHONPATH": str(site)})
    assert result.code == 0, result.err
    warning = [line for line in result.err.splitlines() if line.startswith("Warning: formatter 'markdown'")]
    assert len(warning) == 1 and "'example'" in warning[0] and "'markdown-too'" in warning[0], result.err
    kept = warning[0].rsplit("keeping the one from ", 1)[1].strip("'")
    assert (result.out == "too\n") == (kept == "markdown-too")


def test_a_builtin_that_fails_to_load_is_an_error(cli):
    # A built-in module that is missing from the installation, as after a broken upgrade.
    program = ("import sys\nfrom tektii_core import plugins\n"
               "plugins.BUILTIN_PLUGINS['commands.ghost'] = 'tektii_plugins.commands.ghost'\n"
               "from tektii_core.cli.main import main\nsys.exit(main(['plugins']))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=cli.env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "Error: built-in plugin 'commands.ghost' failed to load: ModuleNotFoundError: "
        "No module named 'tektii_plugins.commands.ghost'")
    assert "Traceback" not in done.stderr


def test_disable_env_and_no_entry_points(cli):
    disabled = json.loads(cli("--output", "json", "plugins", env={"TEKTII_DISABLE_PLUGINS": "example,formatters.csv"}).out)
    names = {p["name"] for p in disabled["data"]["plugins"]}
    assert "example" not in names and "formatters.csv" not in names and "formatters.table" in names
    off = cli("--output", "json", "plugins", env={"TEKTII_NO_ENTRY_POINTS": "1"})
    assert "example" not in {p["name"] for p in json.loads(off.out)["data"]["plugins"]}
    gone = cli("hello", env={"TEKTII_NO_ENTRY_POINTS": "1"})
    assert gone.code == 2 and "unknown command 'hello'" in gone.err


def test_broken_plugin_warns_and_the_cli_still_works(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "broken-plugin", "raise RuntimeError('boom at import')\n")
    result = cli("--output", "json", "plugins", env={"PYTHONPATH": str(site)})
    assert result.code == 0
    assert "Warning: plugin 'broken-plugin' (broken-plugin) failed to load: RuntimeError: boom at import" in result.err
    assert "broken-plugin" not in {p["name"] for p in json.loads(result.out)["data"]["plugins"]}


def test_misspelt_hook_is_reported(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "typo-plugin",
                      "from tektii_core import hookimpl\n\n@hookimpl\ndef register_formater(register):\n    pass\n")
    result = cli("plugins", env={"PYTHONPATH": str(site)})
    assert result.code == 0
    assert "register_formater" in result.err and "Warning:" in result.err


def test_entry_point_index_is_refreshed_when_a_distribution_is_installed(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site)}
    assert "late-plugin" not in cli("plugins", env=env).out
    make_distribution(site, "late-plugin", "from tektii_core import hookimpl\n\n@hookimpl\n"
                      "def register_formatters(register):\n    register('late', lambda o, s, t: s.write('late\\n'))\n")
    assert "late-plugin" in cli("plugins", env=env).out
    assert cli("--output", "late", "config", "list", env=env).out == "late\n"


@pytest.mark.parametrize("argv", [["--help"], ["strategy", "--help"], ["strategy", "create", "--help"]])
def test_cached_help_equals_the_parsers_help(cli, argv):
    first = cli(*argv)  # builds the parser, then writes the cache
    second = cli(*argv)  # served from the cache
    assert first.code == second.code == 0
    assert first.out == second.out
    assert "examples:" in first.out


def test_resolve_api_url_from_a_plugin_wins_over_the_local_platform(cli, tmp_path, platform_server):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "company-platform", "from tektii_core import hookimpl\n\n@hookimpl\n"
                      f"def resolve_api_url(settings):\n    return {platform_server.url!r}\n")
    env = {"PYTHONPATH": str(site), "TEKTII_API_KEY": platform_server.new_user("company")}
    result = cli("--output", "json", "auth", "status", env=env)
    assert result.code == 0, result.err
    assert json.loads(result.out)["data"]["apiUrl"] == platform_server.url
    assert not (cli.home / "data" / "platform.json").exists()  # the local platform was never started


def test_register_runtimes_from_a_plugin_is_listed_with_its_availability(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "vm-runtime", "from tektii_core import hookimpl\n"
                      "from tektii_core.contracts import Availability\n\n"
                      "class VM:\n    name = 'vm'\n    description = 'Firecracker microVMs'\n"
                      "    def availability(self):\n        return Availability(False, 'no /dev/kvm')\n"
                      "    def start(self, launch):\n        raise RuntimeError('unavailable: no /dev/kvm')\n\n"
                      "@hookimpl\ndef register_runtimes(register):\n    register(VM())\n")
    data = json.loads(cli("--output", "json", "plugins", env={"PYTHONPATH": str(site)}).out)["data"]
    assert {"name": "vm", "description": "Firecracker microVMs", "available": False, "reason": "no /dev/kvm"} in data["runtimes"]


def test_a_plugin_template_is_uploaded_and_written_like_a_builtin(user_cli, tmp_path):
    """register_templates: the example plugin's buy-and-hold is a template of the platform (the
    template builder checks it against GET /v1/templates) and of `strategy init`."""
    from tektii_core.plugins import Plugins

    sid = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "plugin-template").out)["data"]["id"]
    result = user_cli("version", "upload", sid, "--template", "buy-and-hold", "--git-sha", "abc1234", cwd=tmp_path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:3] == ["Validating inputs...", "→ Detected version: abc1234", "Creating version in API..."]
    assert "Connecting to Docker..." not in lines and "✓ Version uploaded successfully!" in lines
    assert "  Image: template buy-and-hold" in lines
    version_id = next(line.split(": ")[1] for line in lines if line.startswith("  Version ID: "))
    version = json.loads(user_cli("--output", "json", "version", "get", sid, version_id).out)["data"]
    assert (version["template"], version["builder"], version["state"]) == ("buy-and-hold", "template", "READY")
    bad = user_cli("version", "upload", sid, "--template", "nope", cwd=tmp_path)
    assert bad.code == 1 and bad.err.startswith("Error: Unknown template 'nope' (available: ") and "buy-and-hold" in bad.err

    written = user_cli("strategy", "init", "buy-and-hold", str(tmp_path / "project"))
    assert written.code == 0, written.err
    source = Plugins(hooks=["register_templates"]).template("buy-and-hold").directory
    assert (tmp_path / "project" / "main.py").read_text() == (source / "main.py").read_text()
    assert (tmp_path / "project" / "Dockerfile").is_file()

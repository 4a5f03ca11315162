"""`tektii --help` and ordinary commands load nothing heavy: docker, requests, numpy, pyarrow,
aiohttp, the platform and the engine load only when a command needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["docker", "requests", "numpy", "pyarrow", "aiohttp", "tektii_platform", "tektii_engine", "cryptography",
         "optuna", "sqlalchemy"]
PROBE = """
import contextlib, io, json, sys
from tektii_core.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:  # argparse prints help and exits when the cache is cold
        code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def loaded(cli, *argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=cli.env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    return set(result["modules"])


def test_help_from_the_cache_loads_neither_pluggy_nor_attrs(cli):
    loaded(cli, "--help")  # the first run builds the help cache
    modules = loaded(cli, "--help")
    assert not modules & {*HEAVY, "pluggy", "attrs", "cattrs"}, modules & {*HEAVY, "pluggy", "attrs", "cattrs"}


def test_a_command_loads_only_what_it_needs(cli):
    modules = loaded(cli, "config", "list")
    assert not modules & set(HEAVY), modules & set(HEAVY)
    assert "pluggy" in modules  # it did load the plugins

"""The installed `tektii` console script, run in a private config, cache and data directory."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
TEKTII = shutil.which("tektii", path=str(BIN)) or "tektii"


@dataclass
class Result:
    code: int
    out: str
    err: str


def ok_json(result: Result) -> dict:
    """The `data` of a `--output json` command that must have succeeded."""
    assert result.code == 0, result.err + result.out
    assert "Traceback" not in result.err
    return json.loads(result.out)["data"]


class CLI:
    """Runs the installed `tektii` console script in a private config and cache directory."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
                 tty: bool = False, cwd: Path | None = None, timeout: float = 600) -> Result:
        full_env = {**self.env, **(env or {})}
        full_env = {k: v for k, v in full_env.items() if v is not None}
        if tty:
            return self._run_tty(list(args), full_env, cwd)
        done = subprocess.run([TEKTII, *args], capture_output=True, text=True, env=full_env, input=input,
                              cwd=cwd, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def _run_tty(self, args: list[str], env: dict[str, str], cwd: Path | None) -> Result:
        main, secondary = pty.openpty()
        proc = subprocess.Popen([TEKTII, *args], stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env={**env, "COLUMNS": "200"}, cwd=cwd)
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
        os.close(main)
        return Result(proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err)


def base_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TEKTII_") or k == "TEKTII_REQUIRE_DOCKER"}
    return {**keep, "TEKTII_CONFIG_DIR": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
            "TEKTII_DATA_DIR": str(home / "data"), "HOME": str(home)}

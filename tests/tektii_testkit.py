"""Helpers shared by test modules (importable as `tektii_testkit`: tests/ is on sys.path through
the root conftest). Kept out of conftest.py, whose module name is not unique across folders."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests


def require(ok: bool, reason: str) -> None:
    """Skip a test whose real component is missing, but fail it where CI requires every component
    (TEKTII_REQUIRE_DOCKER=1 after scripts/provision)."""
    if ok:
        return
    if os.environ.get("TEKTII_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (required: TEKTII_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


def docker_running() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def docker_client_or_skip():
    """A Docker client with the provisioned base image, or skip/fail with the reason."""

    import docker

    reason = None
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means "no docker here"
        reason = f"Docker is not available: {err}"
    else:
        try:
            client.images.get("python:3.11-slim")
        except docker.errors.ImageNotFound:
            reason = "python:3.11-slim is not provisioned (run scripts/provision)"
    require(reason is None, reason or "")
    return client


BASE_IMAGE = "python:3.11-slim"  # the local stand-in scripts/provision builds


def containers_tool_ready(tool: str, *flags: str) -> None:
    if shutil.which(tool) is None:
        require(False, f"{tool} is not installed (run scripts/provision)")
    name = f"docker.io/library/{BASE_IMAGE}"
    probe = ["image", "exists", name] if tool == "podman" else ["inspect", "--type", "image", name]
    found = subprocess.run([tool, *flags, *probe], capture_output=True, text=True, timeout=60)
    if found.returncode != 0:
        require(False, f"{BASE_IMAGE} is not in {tool}'s containers-storage (run scripts/provision)")


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    """The response is the error envelope with this status and code; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) - {"hint"} == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


BIN = Path(sys.executable).parent
TEKTII = shutil.which("tektii", path=str(BIN)) or "tektii"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


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


class Platform:
    """A real platform server (`tektii platform serve`) on 127.0.0.1 with its own data directory;
    it can be killed (SIGKILL) and started again on the same directory and port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, start: bool = True):
        self.data_dir = data_dir
        self.env = {**os.environ, "TEKTII_DATA_DIR": str(data_dir), **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "platform.log"
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the server keeps its own descriptor
            self.proc = subprocess.Popen([TEKTII, "platform", "serve", "--port", str(self.port), "--data-dir",
                                          str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"platform exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("platform did not become healthy within 30 s")

    def new_user(self, name: str = "tester", *, admin: bool = False) -> str:
        """Create a user (an admin, who may write market data, if asked) through the platform's
        admin command; returns its API key."""
        done = subprocess.run([sys.executable, "-m", "tektii_platform", "user", "create", name, "--data-dir",
                               str(self.data_dir), *(["--admin"] if admin else [])],
                              capture_output=True, text=True, check=True, env=self.env)
        key = [w for w in done.stdout.split() if w.startswith("tk_")]
        assert key, done.stdout
        return key[0]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()




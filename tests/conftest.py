"""Fixtures shared by the whole suite: the real `tektii` entry point and a real platform server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tektii_testkit import CLI, Platform, base_env, docker_client_or_skip, docker_running, require


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    home = tmp_path / "home"
    home.mkdir()
    return CLI(home, base_env(home))


@pytest.fixture(scope="session")
def platform_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("platform")
    server = Platform(root / "data")
    yield server
    server.stop()


@pytest.fixture
def user_cli(cli: CLI, platform_server: Platform) -> CLI:
    """The CLI pointed at the shared test platform, logged in as a fresh user."""
    cli.env.update({"TEKTII_API_URL": platform_server.url, "TEKTII_API_KEY": platform_server.new_user("tester")})
    return cli


@pytest.fixture
def admin_cli(cli: CLI, platform_server: Platform) -> CLI:
    """The CLI pointed at the shared test platform as a fresh admin (who may write market data)."""
    cli.env.update({"TEKTII_API_URL": platform_server.url, "TEKTII_API_KEY": platform_server.new_user("admin", admin=True)})
    return cli


@pytest.fixture(scope="session")
def docker_engine() -> None:
    require(docker_running(), "no Docker engine running")


@pytest.fixture(scope="session")
def registry_binary() -> None:
    require(shutil.which("docker-registry") is not None, "docker-registry is not installed")


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    """The local stand-in for python:3.11-slim that scripts/provision builds."""
    present = subprocess.run(["docker", "image", "inspect", "python:3.11-slim"], capture_output=True).returncode == 0
    require(present, "python:3.11-slim is not provisioned (run scripts/provision)")
    return "python:3.11-slim"


@pytest.fixture(scope="session")
def docker_client():
    """A Docker SDK client of a running engine that has the provisioned python:3.11-slim."""
    return docker_client_or_skip()

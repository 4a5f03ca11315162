"""The real components a test needs (Docker, the provisioned base image, a free port): skip
when one is missing, fail where CI requires them all."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

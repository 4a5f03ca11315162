"""Fixtures for the builder tests: a real registry with the platform's token auth, the spec's
example strategy, and the real engines (docker, podman, buildah).

A test that needs an engine skips when it is missing, or fails when TEKTII_REQUIRE_DOCKER=1
(CI sets it after scripts/provision).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tektii_testkit import BASE_IMAGE, Log, RegistryEnv, require, start_registry_env

# The spec's example Dockerfile, verbatim (examples/ keeps the one copy).
EXAMPLE_DOCKERFILE = (Path(__file__).parents[3] / "examples" / "momentum-strategy" / "Dockerfile").read_text()


@pytest.fixture(scope="session")
def registry_env(tmp_path_factory) -> Iterator[RegistryEnv]:
    env = start_registry_env(tmp_path_factory.mktemp("registry"))
    yield env
    env.registry.stop()
    env.tokens.stop()


@pytest.fixture
def example_strategy(tmp_path) -> Path:
    """The spec's example strategy: Dockerfile, requirements.txt (a small pure-Python
    package), main.py."""
    root = tmp_path / "my-strategy"
    root.mkdir()
    (root / "Dockerfile").write_text(EXAMPLE_DOCKERFILE)
    (root / "requirements.txt").write_text("six==1.16.0\n")
    (root / "main.py").write_text('import six\n\nprint("strategy up, six", six.__version__)\n')
    return root


@pytest.fixture
def arm64_context(tmp_path) -> Path:
    """A real linux/arm64 image: FROM scratch and a file, so building needs no emulation.

    The file is unique per test: Docker's classic builder would otherwise reuse a cached COPY
    layer of an earlier linux/amd64 build of the same context, and report amd64."""
    root = tmp_path / "arm"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (root / "hello.txt").write_text(f"hello from arm64 ({uuid.uuid4().hex})\n")
    return root


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture(scope="session")
def docker_ready() -> None:
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means "no docker here"
        require(False, f"Docker is not available: {err}")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        require(False, f"{BASE_IMAGE} is not provisioned in Docker (run scripts/provision)")
    finally:
        client.close()


@pytest.fixture
def docker_images() -> Iterator[list[str]]:
    """Tags to remove from Docker after the test."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=60)


@pytest.fixture
def storage_images() -> Iterator[list[tuple[list[str], str]]]:
    """(podman flags, reference) pairs to remove from containers-storage after the test."""
    refs: list[tuple[list[str], str]] = []
    yield refs
    for flags, ref in refs:
        subprocess.run(["podman", *flags, "rmi", "-f", ref], capture_output=True, timeout=120)

"""Fixtures for the docker runtime tests: a real daemon, a probe image, a stand-in gateway.

Tests that need Docker skip when it is unavailable, or fail when TEKTII_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tektii_testkit import StandInGateway, serve_gateway

PROBE_DIR = Path(__file__).parent / "probe"


@pytest.fixture(scope="session")
def probe_image(docker_client) -> Iterator[str]:
    digest = hashlib.sha256()
    for name in ("Dockerfile", "probe.py"):
        digest.update((PROBE_DIR / name).read_bytes())
    # Content and session in the tag: two test sessions on one daemon never remove each other's.
    tag = f"tektii-test/probe:{digest.hexdigest()[:12]}-{uuid.uuid4().hex[:6]}"
    docker_client.images.build(path=str(PROBE_DIR), tag=tag, pull=False, rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def run_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def assert_no_containers(docker_client, run_id):
    """After the test, no container of this run may be left, whatever happened."""

    def check() -> None:
        left = docker_client.containers.list(all=True, filters={"label": f"org.tektii.run-id={run_id}"})
        assert left == [], f"containers left behind: {[c.name for c in left]}"

    yield check
    check()


@pytest.fixture
def gateway() -> Iterator[StandInGateway]:
    # A short private directory: Unix socket paths are limited to 108 bytes, and the
    # whole directory is mounted into the relay.
    directory = Path(tempfile.mkdtemp(prefix="gw-"))
    stand_in = StandInGateway(socket=directory / "gateway.sock")
    loop, thread, runners = serve_gateway(stand_in, tcp=True)
    yield stand_in
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    shutil.rmtree(directory, ignore_errors=True)

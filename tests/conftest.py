"""Fixtures shared by the whole suite: the real `tektii` entry point and a real platform server
(as its own process, and in-process as `api`), on SQLite or, with TEKTII_TEST_DATABASE=postgres,
on PostgreSQL (docs/testing.md, "Both databases")."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tektii_testkit import CLI, Api, Platform, base_env, docker_client_or_skip, docker_running, require
from tektii_testkit.databases import (
    DATABASE_URL_ENV,
    database_kind,
    drop_platform_database,
    new_platform_database,
    platform_databases_on,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "own_database(reason): the test picks its databases itself (old SQLite files, "
                                       "or both kinds through postgres_url): the TEKTII_TEST_DATABASE=postgres pass "
                                       "leaves it out")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if database_kind() != "postgres":
        return
    dropped = [item for item in items if item.get_closest_marker("own_database")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("own_database")]


@pytest.fixture(scope="session", autouse=True)
def platform_databases(request: pytest.FixtureRequest) -> Iterator[str]:
    """The kind of database of the platforms tests start: "sqlite", or "postgres" (a fresh
    database each on the session's `postgres_server`) under TEKTII_TEST_DATABASE=postgres."""
    kind = database_kind()
    if kind == "sqlite":
        yield kind
        return
    with platform_databases_on(request.getfixturevalue("postgres_server")):
        yield kind


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
    server.close()


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


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """A real platform server (waitress on 127.0.0.1) in this process, in a temporary data
    directory (and its own PostgreSQL database under TEKTII_TEST_DATABASE=postgres)."""
    from tektii_platform.server import RunningServer

    url = new_platform_database()
    if url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)
    data_dir = tmp_path / "data"
    server = RunningServer(data_dir, "127.0.0.1", 0)
    thread = server.start_thread()
    client = Api(server, data_dir)
    try:
        yield client
    finally:
        client.http.close()
        server.stop()
        thread.join(timeout=30)
        drop_platform_database(url)
        assert not thread.is_alive(), "server did not shut down"


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of the test session's own on a free loopback port (tests/tektii_clusters.py)."""
    from tektii_clusters import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head and two 1-CPU worker nodes in network namespaces, this process connected to it
    as a Ray Client driver (tests/tektii_clusters.py, docs/testing.md). Per module: ~20 s to
    start, and its dozen processes should not outlive the tests that use it."""
    from tektii_clusters import RayCluster

    with RayCluster() as cluster:
        import ray

        cluster.connect()
        try:
            cluster.wait_for_nodes(3)
            yield cluster
        finally:
            ray.shutdown()

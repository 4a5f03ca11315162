"""Fixtures for the docker runtime tests: a real daemon, a probe image, a stand-in gateway.

Tests that need Docker skip when it is unavailable, or fail when TEKTII_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

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


@attrs.define
class StandInGateway:
    """A real aiohttp server in a thread, as a stand-in for the engine's gateway."""

    socket: Path
    requests: list[dict] = attrs.field(factory=list)
    tcp_port: int | None = None
    loop: asyncio.AbstractEventLoop | None = None
    runner: object = None

    def serve(self, sock) -> None:
        """StrategyLaunch.serve_socket: also serve on a listening socket the runtime opened."""
        from aiohttp import web

        asyncio.run_coroutine_threadsafe(web.SockSite(self.runner, sock).start(), self.loop).result(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.tcp_port}"


def _serve_gateway(gateway: StandInGateway, tcp: bool) -> tuple[asyncio.AbstractEventLoop, threading.Thread, list]:
    from aiohttp import WSMsgType, web

    async def account(request: web.Request) -> web.Response:
        gateway.requests.append(
            {
                "path": request.path,
                "authorization": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"equity": "100000", "currency": "USD"})

    async def ws(request: web.Request) -> web.WebSocketResponse:
        gateway.requests.append({"path": request.path, "websocket": True})
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await socket.send_str(message.data)
        return socket

    app = web.Application()
    app.router.add_get("/v1/account", account)
    app.router.add_get("/v1/ws", ws)
    loop = asyncio.new_event_loop()
    gateway.loop = loop
    ready = threading.Event()
    runners: list = []

    async def start() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, str(gateway.socket)).start()
        if tcp:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            gateway.tcp_port = site._server.sockets[0].getsockname()[1]
        runners.append(runner)
        gateway.runner = runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    return loop, thread, runners


@pytest.fixture
def gateway() -> Iterator[StandInGateway]:
    # A short private directory: Unix socket paths are limited to 108 bytes, and the
    # whole directory is mounted into the relay.
    directory = Path(tempfile.mkdtemp(prefix="gw-"))
    stand_in = StandInGateway(socket=directory / "gateway.sock")
    loop, thread, runners = _serve_gateway(stand_in, tcp=True)
    yield stand_in
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    shutil.rmtree(directory, ignore_errors=True)

"""Stand-ins of the test's own for what a component under test talks to: the engine's gateway
(for the runtimes' relay and sandbox) and a builder's log consumer."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import attrs


class Log(list):
    """Collects log lines; callable, so it can be passed as a builder's `log`."""

    def __call__(self, line: str) -> None:
        assert "\n" not in line, "log lines come one at a time"
        self.append(line)


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


def serve_gateway(gateway: StandInGateway, tcp: bool) -> tuple[asyncio.AbstractEventLoop, threading.Thread, list]:
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

"""A byte-level TCP <-> Unix-socket relay (stdlib only).

Runs inside the gateway sidecar container, which has no network but loopback: it
listens on 127.0.0.1:8080 of its own network namespace (shared with the strategy
container) and forwards every connection to the engine's Unix socket, which is
bind-mounted into the sidecar. HTTP and WebSocket pass through untouched because
the relay only copies bytes.

The same code also serves the other direction (a Unix socket forwarding to a TCP
address) for a host-side bridge when the engine only listens on TCP.

Configuration inside the container comes from the environment:
``RELAY_LISTEN`` (default ``tcp:127.0.0.1:8080``) and ``RELAY_TARGET``
(default ``unix:/run/tektii/gateway.sock``). Endpoints are ``tcp:HOST:PORT`` or
``unix:PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

READY_LINE = "tektii-relay ready"
_CHUNK = 64 * 1024


async def _open(endpoint: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        # Pass the half-close on so request/response protocols see end-of-stream.
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


def _handler(target: str):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await _open(target)
        except OSError as err:
            print(
                f"tektii-relay: cannot reach {target}: {err}",
                file=sys.stderr,
                flush=True,
            )
            await _close(writer)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            await _close(up_writer)
            await _close(writer)

    return handle


async def start_server(listen: str, target: str) -> asyncio.AbstractServer:
    """Start forwarding connections accepted on `listen` to `target`."""
    kind, _, rest = listen.partition(":")
    if kind == "unix":
        return await asyncio.start_unix_server(_handler(target), path=rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.start_server(_handler(target), host, int(port))


async def _serve(listen: str, target: str) -> None:
    server = await start_server(listen, target)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{READY_LINE} {listen} -> {target}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    listen = os.environ.get("RELAY_LISTEN", "tcp:127.0.0.1:8080")
    target = os.environ.get("RELAY_TARGET", "unix:/run/tektii/gateway.sock")
    asyncio.run(_serve(listen, target))


if __name__ == "__main__":
    main()

"""The relay's byte forwarding (in process) and the relay image build cache (real docker)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid

import docker.errors
import pytest

from tektii_engine.runtimes import relay, relay_image


def test_relay_forwards_bytes_both_ways_with_half_close(tmp_path):
    async def scenario() -> tuple[bytes, bytes]:
        received = bytearray()

        async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Reads until the client half-closes, then answers: needs EOF to pass through.
            received.extend(await reader.read())
            writer.write(b"got %d bytes" % len(received))
            await writer.drain()
            writer.close()

        socket_path = tmp_path / "up.sock"
        server = await asyncio.start_unix_server(upstream, path=str(socket_path))
        forward = await relay.start_server("tcp:127.0.0.1:0", f"unix:{socket_path}")
        port = forward.sockets[0].getsockname()[1]
        payload = os.urandom(3 * 1024 * 1024)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        forward.close()
        server.close()
        return bytes(received) == payload, answer

    intact, answer = asyncio.run(scenario())
    assert intact
    assert answer == b"got 3145728 bytes"


def test_relay_closes_the_client_when_the_target_is_down(tmp_path):
    async def scenario() -> bytes:
        forward = await relay.start_server("tcp:127.0.0.1:0", f"unix:{tmp_path / 'missing.sock'}")
        port = forward.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        forward.close()
        return data

    assert asyncio.run(scenario()) == b""


@pytest.fixture
def private_relay_tag(docker_client, monkeypatch):
    tag = f"tektii-test/gateway-relay:{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(relay_image, "RELAY_IMAGE", tag)
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


def test_relay_image_is_built_once_and_rebuilt_when_stale(docker_client, private_relay_tag):
    # A stale image under the tag (no content-hash label) must be replaced.
    docker_client.images.get("python:3.11-slim").tag(private_relay_tag)
    lines: list[str] = []
    assert relay_image.ensure_relay_image(docker_client, lines.append) == private_relay_tag
    built = docker_client.images.get(private_relay_tag)
    assert built.labels[relay_image.HASH_LABEL] == relay_image.content_hash()
    assert built.id != docker_client.images.get("python:3.11-slim").id
    assert lines == [f"Building gateway relay image {private_relay_tag}..."]
    # Current: no second build.
    assert relay_image.ensure_relay_image(docker_client, lines.append) == private_relay_tag
    assert docker_client.images.get(private_relay_tag).id == built.id
    assert len(lines) == 1


def test_relay_image_needs_the_provisioned_base(docker_client, private_relay_tag, monkeypatch):
    monkeypatch.setattr(relay_image, "BASE_IMAGE", "tektii-test/no-such-base:1")
    with pytest.raises(relay_image.TektiiError) as raised:
        relay_image.ensure_relay_image(docker_client)
    assert raised.value.message == "Base image tektii-test/no-such-base:1 is not available locally"
    assert "scripts/provision" in raised.value.hint

"""The registry's token realm cannot be pointed elsewhere by a request, a Host that is not the
platform's is refused (DNS rebinding), and a platform back on another port keeps uploads and
pulls working."""

from __future__ import annotations

import pytest
import requests
from tektii_testkit import (
    Listener,
    Platform,
    assert_error,
    call,
    cli_for,
    free_port,
    new_strategy,
    registry_realm,
    upload_tiny_image,
)

PUBLIC_NAME = "tektii.team.example"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, docker_engine, base_image, registry_binary):
    server = Platform(tmp_path_factory.mktemp("host") / "data", env={"TEKTII_PUBLIC_NAMES": PUBLIC_NAME})
    yield server
    server.stop()


def test_a_forged_host_cannot_capture_registry_credentials(platform, tmp_path):
    listener = Listener()
    try:
        forged = {"Host": f"127.0.0.1:{listener.port}"}
        # The attack: an unauthenticated first request naming the attacker's listener, which
        # used to start the registry with the listener as its token realm.
        for path in ("/v1/registry/token?service=tektii-registry", "/healthz", "/v1/me"):
            error = assert_error(requests.get(platform.url + path, headers=forged, timeout=10), 400, "invalid_host")
            assert f"127.0.0.1:{listener.port}" in error["message"]
        assert registry_realm(platform) == f"{platform.url}/v1/registry/token"
        # A victim uploads: the Docker daemon's credential exchange goes to the platform only.
        key = platform.new_user("victim")
        strategy_id = new_strategy(platform, key, "victim-strategy")
        upload_tiny_image(cli_for(platform, tmp_path / "home", key), strategy_id, tmp_path / "project")
        assert listener.requests == []
    finally:
        listener.close()


@pytest.mark.parametrize("host", ["rebind.attacker.example:{port}", "rebind.attacker.example", "127.0.0.1:{other}",
                                  "localhost:{other}", "[::1]:{other}", "127.0.0.1:{port}@evil", ""])
def test_dns_rebinding_and_foreign_hosts_are_refused(platform, host):
    value = host.format(port=platform.port, other=platform.port + 1)
    response = requests.get(platform.url + "/healthz", headers={"Host": value}, timeout=10)
    assert_error(response, 400, "invalid_host")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}", PUBLIC_NAME])
def test_the_platforms_own_names_are_served(platform, host):
    response = requests.get(platform.url + "/healthz", headers={"Host": host.format(port=platform.port)}, timeout=10)
    assert response.status_code == 200, response.text


def test_restart_on_another_port_then_upload_and_pull(tmp_path, docker_engine, base_image, registry_binary):
    server = Platform(tmp_path / "data")
    try:
        key = server.new_user("mover")
        strategy_id = new_strategy(server, key, "moving")
        first = upload_tiny_image(cli_for(server, tmp_path / "home", key), strategy_id, tmp_path / "p1", "one")
        server.stop()
        old_url = server.url
        server.port = free_port()  # the old port is taken by someone else now, as 8470 can be
        server.url = f"http://127.0.0.1:{server.port}"
        server.start()
        assert registry_realm(server) == f"{server.url}/v1/registry/token" != f"{old_url}/v1/registry/token"
        # An upload right after the restart (the Docker daemon authenticates through the realm) ...
        upload_tiny_image(cli_for(server, tmp_path / "home", key), strategy_id, tmp_path / "p2", "two")
        # ... and a pull of the image uploaded before it (the daemon asks the registry even when it
        # has the image), with credentials the platform issues now.
        created = call(server, "POST", f"/v1/strategies/{strategy_id}/versions", key, json={"gitSha": "pull1"})
        assert created.status_code == 201, created.text
        push = created.json()["data"]["push"]
        import docker

        client = docker.from_env(timeout=120)
        try:
            client.images.pull(first["image"], auth_config={"username": push["username"], "password": push["password"]})
        finally:
            client.close()
    finally:
        server.stop()

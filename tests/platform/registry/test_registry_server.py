"""The real distribution registry behind the platform's token auth, spoken to over HTTP.

Pushes here use the registry's own HTTP API (blob upload, manifest put) so that these tests
need no container engine; tests/builders push with docker, podman and buildah.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import requests

from tektii_core.errors import TektiiError
from tektii_platform.registry.process import LocalRegistry, _alive
from tektii_platform.registry.tokens import TokenIssuer


def token_for(env, username: str, password: str, scope: str) -> requests.Response:
    return requests.get(
        env.tokens.realm,
        params={"service": env.registry.issuer.service, "scope": scope},
        auth=(username, password),
        timeout=10,
    )


def blob(content: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(content).hexdigest(), content


def tiny_image(architecture: str) -> tuple[dict, list[tuple[str, bytes]]]:
    """An OCI image manifest with one small layer, and its blobs."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = f"hello {architecture}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer_digest, layer = blob(gzip.compress(raw.getvalue(), mtime=0))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config_digest, config = blob(
        json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "config": {},
            }
        ).encode()
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}],
    }
    return manifest, [(config_digest, config), (layer_digest, layer)]


def push_http(env, token: str, repository: str, tag: str, architecture: str = "amd64") -> requests.Response:
    """Upload blobs and the manifest; returns the first response that was not a success."""
    headers = {"Authorization": f"Bearer {token}"}
    base = env.registry.url
    manifest, blobs = tiny_image(architecture)
    for digest, content in blobs:
        started = requests.post(f"{base}/v2/{repository}/blobs/uploads/", headers=headers, timeout=10)
        if started.status_code != 202:
            return started
        location = started.headers["Location"]
        location = location if location.startswith("http") else base + location
        done = requests.put(
            location,
            params={"digest": digest},
            data=content,
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=10,
        )
        if done.status_code != 201:
            return done
    return requests.put(
        f"{base}/v2/{repository}/manifests/{tag}",
        data=json.dumps(manifest),
        headers={**headers, "Content-Type": manifest["mediaType"]},
        timeout=10,
    )


def test_serves_on_loopback_with_token_challenge(registry_env):
    registry = registry_env.registry
    assert registry.running
    assert registry.address.startswith("127.0.0.1:")
    response = requests.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert f'realm="{registry_env.tokens.realm}"' in challenge
    assert f'service="{registry.issuer.service}"' in challenge
    assert registry.healthy()
    config = json.loads((registry.data_dir / "config.json").read_text())
    assert config["storage"]["filesystem"]["rootdirectory"] == str(registry.data_dir / "storage")


def test_push_with_issued_credentials_then_catalog_and_manifest(registry_env):
    username, password = registry_env.tokens.add_account("user_a", {"strat_a/ver_1": {"push", "pull"}})
    response = token_for(registry_env, username, password, "repository:strat_a/ver_1:push,pull")
    assert response.status_code == 200
    pushed = push_http(registry_env, response.json()["token"], "strat_a/ver_1", "abc1234")
    assert pushed.status_code == 201, pushed.text
    digest = pushed.headers["Docker-Content-Digest"]

    assert "strat_a/ver_1" in registry_env.registry.client.catalog()
    assert registry_env.registry.client.tags("strat_a/ver_1") == ["abc1234"]
    info = registry_env.registry.client.manifest("strat_a/ver_1", "abc1234")
    assert info.digest == digest
    assert info.platforms == ("linux/amd64",)
    assert info.size == sum(part["size"] for part in [info.raw["config"], *info.raw["layers"]])
    assert registry_env.registry.client.manifest("strat_a/ver_1", digest).digest == digest


def test_credentials_cannot_push_to_another_repository(registry_env):
    username, password = registry_env.tokens.add_account("user_a", {"strat_a/ver_2": {"push", "pull"}})
    # The token endpoint answers, but grants nothing for the other user's repository ...
    response = token_for(registry_env, username, password, "repository:strat_b/ver_1:push,pull")
    assert response.status_code == 200
    # ... so the registry refuses the upload.
    refused = push_http(registry_env, response.json()["token"], "strat_b/ver_1", "x")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "DENIED" or "insufficient_scope" in refused.headers.get("WWW-Authenticate", "")
    assert "strat_b/ver_1" not in registry_env.registry.client.catalog()


def test_wrong_password_gets_no_token(registry_env):
    username, _ = registry_env.tokens.add_account("user_a", {"strat_a/ver_3": {"push", "pull"}})
    response = token_for(registry_env, username, "not-the-password", "repository:strat_a/ver_3:push")
    assert response.status_code == 401


def test_token_signed_by_another_key_is_rejected(registry_env, tmp_path):
    stranger = TokenIssuer(
        tmp_path / "other-keys", issuer=registry_env.registry.issuer.issuer, service=registry_env.registry.issuer.service
    )
    token = stranger.issue("mallory", {"*": {"*"}}, "repository:strat_a/ver_9:push,pull")["token"]
    assert push_http(registry_env, token, "strat_a/ver_9", "x").status_code == 401


def test_manifest_of_missing_repository_is_a_clear_error(registry_env):
    with pytest.raises(TektiiError, match="Not found in the registry"):
        registry_env.registry.client.manifest("strat_none/ver_none", "latest")


def test_port_is_kept_across_restarts(tmp_path, registry_env):
    registry = LocalRegistry(tmp_path / "reg", registry_env.tokens.realm, issuer=registry_env.registry.issuer)
    registry.start()
    try:
        first = registry.address
        registry.stop()
        assert not registry.running
        registry.stop()  # twice is fine
        registry.start()
        assert registry.address == first and registry.healthy()
    finally:
        registry.stop()


def test_missing_binary_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker-registry on it
    registry = LocalRegistry(tmp_path / "reg", "http://127.0.0.1:1/token")
    with pytest.raises(TektiiError) as caught:
        registry.start()
    assert "not installed" in caught.value.message
    assert caught.value.hint == "Install the CNCF distribution registry: apt-get install docker-registry"
    assert not registry.running


def test_a_port_in_use_is_reported(tmp_path, registry_env):
    # Another process (here the first registry) holds the port: never mistake it for ours.
    port = int(registry_env.registry.address.rsplit(":", 1)[1])
    clash = LocalRegistry(
        tmp_path / "clash", registry_env.tokens.realm, issuer=registry_env.registry.issuer, port=port, startup_timeout=10
    )
    with pytest.raises(TektiiError, match=f"Port {port} for the image registry is already in use"):
        clash.start()
    assert not clash.running


def test_a_registry_that_exits_at_start_is_reported(tmp_path, registry_env):
    registry = LocalRegistry(
        tmp_path / "broken", registry_env.tokens.realm, issuer=registry_env.registry.issuer, startup_timeout=10
    )
    # A certificate bundle the registry cannot read makes it exit during start-up.
    registry.issuer = TokenIssuer(tmp_path / "keys", service="s", issuer="i")
    registry.issuer.cert_path.write_text("not a certificate")
    with pytest.raises(TektiiError, match="exited at start") as caught:
        registry.start()
    # the registry's own reason, not a stack trace
    assert "token auth requires at least one token signing root certificate" in caught.value.message
    assert not registry.running


@pytest.fixture(autouse=True)
def _registry_binary_present():
    if not any(Path(p, "docker-registry").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        from tektii_testkit import require

        require(False, "docker-registry is not installed (run scripts/provision)")


def test_a_registry_left_running_by_a_killed_platform_is_replaced(tmp_path, registry_env):
    # The platform process died without stop(): its registry still holds the port.
    orphaned = LocalRegistry(tmp_path / "reg", registry_env.tokens.realm, issuer=registry_env.registry.issuer)
    orphaned.start()
    address, pid = orphaned.address, orphaned._process.pid
    orphaned._process = None  # forgotten, as by a process that was killed

    successor = LocalRegistry(tmp_path / "reg", registry_env.tokens.realm, issuer=registry_env.registry.issuer)
    try:
        successor.start()
        assert successor.address == address  # image references keep working
        assert successor._process.pid != pid
        assert not _alive(pid)
    finally:
        successor.stop()
    assert not (tmp_path / "reg" / "registry.pid").exists()

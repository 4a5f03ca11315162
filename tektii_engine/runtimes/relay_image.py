"""Build (once) and find the gateway relay image, ``tektii/gateway-relay:<version>``.

The image is built locally from ``relay.Dockerfile`` and ``relay.py`` on top of the
provisioned ``python:3.11-slim``; it is never pulled. A label holds the hash of those
two files, so an image built from older relay code is rebuilt on next use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tektii_core import __version__
from tektii_core.contracts import LogFn, TektiiError

RELAY_REPOSITORY = "tektii/gateway-relay"
RELAY_IMAGE = f"{RELAY_REPOSITORY}:{__version__}"
BASE_IMAGE = "python:3.11-slim"
HASH_LABEL = "org.tektii.relay.content-hash"

_HERE = Path(__file__).resolve().parent
_FILES = ("relay.Dockerfile", "relay.py")
_build_lock = threading.Lock()


def content_hash() -> str:
    """sha256 over the files the relay image is built from."""
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update(name.encode() + b"\0")
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()


_api_versions: dict[str, str] = {}  # DOCKER_HOST -> the API version negotiated with it


def docker_client(timeout: int = 120) -> Any:
    """A Docker SDK client, or TektiiError("Docker not running") when there is no daemon.

    The API version is negotiated once per daemon and process (a run makes several clients;
    each negotiation is a round trip on its critical path)."""
    import docker
    import docker.errors

    host = os.environ.get("DOCKER_HOST", "")
    try:
        client = docker.from_env(timeout=timeout, version=_api_versions.get(host, "auto"))
        client.ping()
        _api_versions[host] = client.api.api_version
    except (docker.errors.DockerException, OSError) as err:
        raise TektiiError(
            "Docker not running",
            hint=f"Start the Docker daemon ({err.__class__.__name__}: {err})",
        ) from err
    return client


def _image_labels(client: Any, reference: str) -> dict[str, str] | None:
    import docker.errors

    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    return dict(image.labels or {})


def relay_image_current(client: Any) -> bool:
    """Whether the relay image exists and was built from the current relay files."""
    labels = _image_labels(client, RELAY_IMAGE)
    return labels is not None and labels.get(HASH_LABEL) == content_hash()


def base_image_present(client: Any) -> bool:
    return _image_labels(client, BASE_IMAGE) is not None


def ensure_relay_image(client: Any | None = None, log: LogFn | None = None) -> str:
    """Make sure the relay image exists and is current; build it if not. Returns its tag."""
    import docker.errors

    client = client or docker_client()
    with _build_lock:
        if relay_image_current(client):
            return RELAY_IMAGE
        if not base_image_present(client):
            raise TektiiError(
                f"Base image {BASE_IMAGE} is not available locally",
                hint="Provision it with scripts/provision (Docker Hub is not used)",
            )
        if log:
            log(f"Building gateway relay image {RELAY_IMAGE}...")
        with tempfile.TemporaryDirectory(prefix="tektii-relay-") as context:
            for name in _FILES:
                shutil.copy2(_HERE / name, Path(context) / name)
            try:
                client.images.build(
                    path=context,
                    dockerfile="relay.Dockerfile",
                    tag=RELAY_IMAGE,
                    labels={HASH_LABEL: content_hash()},
                    pull=False,
                    rm=True,
                    forcerm=True,
                )
            except (docker.errors.BuildError, docker.errors.APIError) as err:
                raise TektiiError(f"Could not build the gateway relay image: {err}") from err
    return RELAY_IMAGE

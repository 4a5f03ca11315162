"""The one way tektii connects to the Docker Engine (the docker builder, the docker runtime's
sandbox, the run worker): the Docker SDK's ``docker.from_env()``, which honours DOCKER_HOST,
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. The SDK is imported on the first call, never at import."""

from __future__ import annotations

import os
import shutil
from typing import Any

from tektii_core.contracts import TektiiError

DOCKER_NOT_RUNNING = "Docker not running"
DOCKER_HINT = "Start Docker Desktop or the Docker daemon."


_api_versions: dict[str, str] = {}  # DOCKER_HOST -> the API version negotiated with it


def docker_client(timeout: int = 120) -> Any:
    """A connected Docker client, or TektiiError("Docker not running") when no daemon answers.

    The API version is negotiated once per daemon and process (a run makes several clients;
    each negotiation is a round trip on its critical path)."""
    import docker

    host = os.environ.get("DOCKER_HOST", "")
    try:
        client = docker.from_env(timeout=timeout, version=_api_versions.get(host, "auto"))
        client.ping()
        _api_versions[host] = client.api.api_version
    except Exception as err:  # DockerException, or requests' connection errors when the socket is gone mid-call
        raise not_running() from err
    return client


def not_running() -> TektiiError:
    return TektiiError(DOCKER_NOT_RUNNING, hint=DOCKER_HINT)


def docker_installed() -> bool:
    """Whether this machine has Docker at all (its CLI or daemon, or a DOCKER_HOST), running or not."""
    return bool(os.environ.get("DOCKER_HOST") or shutil.which("docker") or shutil.which("dockerd"))

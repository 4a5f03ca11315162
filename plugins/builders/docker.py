"""The `docker` builder: Docker Engine through the Docker SDK (docker-py), connected by
tektii_engine.docker_client (honours DOCKER_HOST). The SDK and the helper are imported inside
the methods so that loading the plugin costs nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tektii_core import hookimpl
from tektii_core.contracts import (
    Availability,
    BuiltImage,
    LogFn,
    PushCredentials,
    TektiiError,
)

from .common import (
    StepTracker,
    clean_line,
    push_error,
    push_target,
    split_reference,
)

PING_TIMEOUT = 3  # seconds; availability must stay cheap
WORK_TIMEOUT = 3600  # a build step may print nothing for minutes (e.g. a quiet pip install)
_STEP = re.compile(r"^Step (\d+/\d+) : (.*)$")


def _client(timeout: int = WORK_TIMEOUT) -> Any:
    from tektii_engine.docker_client import docker_client

    return docker_client(timeout)


class _Lines:
    """Reassembles the daemon's `stream` chunks into whole lines for `log`."""

    def __init__(self, log: LogFn):
        self.tracker = StepTracker(_STEP, log)  # names a failing step
        self.buffer = ""

    def feed(self, text: str) -> None:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        if self.buffer:
            self._emit(self.buffer)
            self.buffer = ""

    def _emit(self, line: str) -> None:
        line = clean_line(line.rstrip("\r"))
        if line:
            self.tracker(line)


class DockerBuilder:
    name = "docker"
    tool = "Docker"
    description = "Docker Engine through the Docker SDK (honours DOCKER_HOST)"

    def availability(self) -> Availability:
        from tektii_engine.docker_client import docker_installed

        try:
            _client(timeout=PING_TIMEOUT).close()
        except TektiiError as err:
            return Availability(False, err.message, installed=docker_installed(), hint=err.hint or "")
        except ImportError:
            return Availability(False, "the docker Python package is not installed (pip install docker)")
        return Availability(True)

    def build(self, *, dockerfile: Path, context: Path, tag: str, platform: str, log: LogFn) -> BuiltImage:
        from docker.errors import APIError, DockerException

        client = _client()
        lines = _Lines(log)
        image_id = None
        try:
            # Absolute: docker-py sends a Dockerfile outside the context along with it.
            stream = client.api.build(
                path=str(Path(context).resolve()),
                dockerfile=str(Path(dockerfile).resolve()),
                tag=tag,
                platform=platform,
                rm=True,
                forcerm=True,
                pull=False,  # base images come from the local store (no Docker Hub here)
                decode=True,
            )
            for event in stream:
                if "stream" in event:
                    lines.feed(event["stream"])
                elif "error" in event:
                    lines.flush()
                    message = " ".join(str(event["error"]).split())
                    raise TektiiError(f"Image build failed{lines.tracker.where}: {message}")
                elif "status" in event:  # a base image pull
                    log(" ".join(str(event[k]) for k in ("id", "status") if event.get(k)))
                elif "aux" in event and isinstance(event["aux"], dict):
                    image_id = event["aux"].get("ID", image_id)
            lines.flush()
            return self.inspect(client, tag, fallback_id=image_id)
        except APIError as err:
            raise TektiiError(f"Image build failed: {err.explanation or err}") from None
        except DockerException as err:
            raise TektiiError(f"Image build failed: {err}") from None
        except TektiiError:
            raise
        except OSError as err:  # the daemon went away mid-build
            from tektii_engine.docker_client import not_running

            raise not_running() from err
        finally:
            client.close()

    def find(self, reference: str) -> BuiltImage | None:
        """The image `reference` if the daemon has it (the run worker reuses a template's image)."""
        client = _client()
        try:
            return self.inspect(client, reference)
        except TektiiError:
            return None
        finally:
            client.close()

    @staticmethod
    def inspect(client: Any, reference: str, *, fallback_id: str | None = None) -> BuiltImage:
        from docker.errors import ImageNotFound

        try:
            data = client.api.inspect_image(reference)
        except ImageNotFound:
            raise TektiiError(f"The build reported success but no image {reference} exists") from None
        return BuiltImage(
            reference=reference,
            os=data.get("Os", ""),
            architecture=data.get("Architecture", "") + (f"/{data['Variant']}" if data.get("Variant") else ""),
            size=data.get("Size"),
            image_id=data.get("Id") or fallback_id,
        )

    def push(self, *, image: BuiltImage, credentials: PushCredentials, log: LogFn) -> str:
        from docker.errors import APIError, DockerException

        client = _client()
        target = push_target(image, credentials)
        repository, tag = split_reference(target)
        try:
            if image.reference != target:
                client.api.tag(image.image_id or image.reference, repository, tag)
            digest = None
            seen: dict[str, str] = {}
            auth = {"username": credentials.username, "password": credentials.password}
            for event in client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth):
                if "error" in event:
                    raise push_error(credentials, str(event["error"]))
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = aux["Digest"]
                status, layer = event.get("status"), event.get("id")
                # One line per layer state change ("Layer already exists", "Pushed"), not
                # every progress tick.
                if status and layer and seen.get(layer) != status:
                    seen[layer] = status
                    if status not in ("Pushing", "Waiting"):
                        log(f"{layer}: {status}")
                elif status and not layer:
                    log(status)
            if not digest:
                raise TektiiError(f"Push to {target} finished without a digest")
            return digest
        except APIError as err:
            raise push_error(credentials, str(err.explanation or err)) from None
        except DockerException as err:
            raise push_error(credentials, str(err)) from None
        finally:
            client.close()


@hookimpl
def register_builders(register):
    register(DockerBuilder(), order=10)

"""The `buildx` builder: `docker buildx build --platform linux/amd64 --load` through subprocess.

This is the spec's advice for Apple Silicon (cross-building for linux/amd64). The image is
loaded into Docker's store, inspected and pushed with the docker CLI, which logs in with the
issued credentials into a throw-away DOCKER_CONFIG so the user's own config is not touched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

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
    child_env,
    is_docker_down,
    last_error_line,
    push_error,
    push_target,
    stream,
)

_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_STEP = re.compile(r"^#\d+ \[(?:[^\]]*\s)?(\d+/\d+)\] (.*)$")


def _not_running() -> TektiiError:
    from tektii_engine.docker_client import not_running

    return not_running()


class BuildxBuilder:
    name = "buildx"
    tool = "Docker"
    description = "docker buildx build --platform linux/amd64 --load (cross-builds on Apple Silicon)"

    def availability(self) -> Availability:
        docker = shutil.which("docker")
        if docker is None:
            return Availability(False, "docker CLI not installed (apt-get install docker.io)", installed=False)
        try:
            done = subprocess.run([docker, "buildx", "version"], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return Availability(False, "docker buildx version did not answer within 10s")
        if done.returncode != 0:
            return Availability(
                False,
                "the docker buildx plugin is missing (`docker buildx version` failed; install docker-buildx or Docker Desktop)",
                installed=False,
            )
        return Availability(True)

    def _docker(self) -> str:
        docker = shutil.which("docker")
        if docker is None:
            raise TektiiError("docker CLI not installed", hint="apt-get install docker.io")
        return docker

    def build(self, *, dockerfile: Path, context: Path, tag: str, platform: str, log: LogFn) -> BuiltImage:
        argv = [
            self._docker(),
            "buildx",
            "build",
            "--platform",
            platform,
            "--load",
            "-t",
            tag,
            "-f",
            str(Path(dockerfile).resolve()),
            str(Path(context).resolve()),
        ]
        watch = StepTracker(_STEP, log)
        result = stream(argv, watch)
        if result.returncode != 0:
            error = last_error_line(result.tail)
            if is_docker_down(error):
                raise _not_running()
            raise TektiiError(f"Image build failed{watch.where}: {' '.join(error.split())}")
        return self.inspect(tag)

    def inspect(self, reference: str) -> BuiltImage:
        done = subprocess.run(
            [self._docker(), "image", "inspect", "--format", "{{json .}}", reference],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            if is_docker_down(done.stderr):
                raise _not_running()
            raise TektiiError(f"docker could not inspect {reference}: {done.stderr.strip()}")
        data = json.loads(done.stdout)
        return BuiltImage(
            reference=reference,
            os=data.get("Os", ""),
            architecture=data.get("Architecture", "") + (f"/{data['Variant']}" if data.get("Variant") else ""),
            size=data.get("Size"),
            image_id=data.get("Id"),
        )

    def push(self, *, image: BuiltImage, credentials: PushCredentials, log: LogFn) -> str:
        docker = self._docker()
        target = push_target(image, credentials)
        with tempfile.TemporaryDirectory(prefix="tektii-docker-config-") as config:
            env = child_env(DOCKER_CONFIG=config)
            login = stream(
                [docker, "login", "--username", credentials.username, "--password-stdin", credentials.registry],
                log,
                env=env,
                stdin_data=credentials.password + "\n",
            )
            if login.returncode != 0:
                raise push_error(credentials, last_error_line(login.tail))
            if image.reference != target:
                tagged = subprocess.run(
                    [docker, "tag", image.reference, target], capture_output=True, text=True, env=env, timeout=60
                )
                if tagged.returncode != 0:
                    raise TektiiError(f"docker tag {image.reference} {target} failed: {tagged.stderr.strip()}")
            result = stream([docker, "push", target], log, env=env)
            if result.returncode != 0:
                raise push_error(credentials, last_error_line(result.tail))
        for line in reversed(result.tail):
            match = _DIGEST.search(line)
            if match:
                return match.group(1)
        raise TektiiError(f"docker push {target} reported no digest")


@hookimpl
def register_builders(register):
    register(BuildxBuilder(), order=20)

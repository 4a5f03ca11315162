"""The `podman` and `buildah` builders: daemonless builds through subprocess.

Both keep images in containers-storage (shared between them) and push with their own push
command. Where overlay mounts or OCI isolation are not possible (inside an unprivileged
container, say), set

    TEKTII_BUILDAH_STORAGE_DRIVER=vfs      # a separate image store, <graphroot>-vfs
    TEKTII_BUILDAH_ISOLATION=chroot        # RUN steps in a chroot instead of an OCI runtime

The vfs store lives beside the default one (podman refuses to open one store with two
drivers), so base images must be copied into it: `TEKTII_BUILDAH_STORAGE_DRIVER=vfs
scripts/provision` does that. With vfs and no isolation given, chroot is used. See
docs/builders.md.
"""

from __future__ import annotations

import base64
import json
import os
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

from .common import StepTracker, is_loopback_registry, last_error_line, push_error, push_target, stream

STORAGE_DRIVER_ENV = "TEKTII_BUILDAH_STORAGE_DRIVER"
ISOLATION_ENV = "TEKTII_BUILDAH_ISOLATION"
_STEP = re.compile(r"^STEP (\d+/\d+): (.*)$")


def storage_dirs(driver: str) -> tuple[Path, Path]:
    """(graphroot, runroot) of the separate store used for `driver`."""
    if os.geteuid() == 0:
        return Path(f"/var/lib/containers/storage-{driver}"), Path(f"/run/containers/storage-{driver}")
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    run = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return data / f"containers/storage-{driver}", run / f"containers-storage-{driver}-{os.geteuid()}"


def global_flags() -> list[str]:
    """Storage flags every podman/buildah call gets (empty: the system's storage.conf)."""
    driver = os.environ.get(STORAGE_DRIVER_ENV, "").strip()
    if not driver:
        return []
    root, runroot = storage_dirs(driver)
    return ["--storage-driver", driver, "--root", str(root), "--runroot", str(runroot)]


def isolation_flags() -> list[str]:
    isolation = os.environ.get(ISOLATION_ENV, "").strip()
    if not isolation and os.environ.get(STORAGE_DRIVER_ENV, "").strip() == "vfs":
        isolation = "chroot"  # where only vfs works, OCI isolation does not either
    return ["--isolation", isolation] if isolation else []


class _ContainersToolBuilder:
    """What podman and buildah share; subclasses name the tool and its build verb."""

    name: str
    description: str
    tool: str
    build_verb: tuple[str, ...]

    def availability(self) -> Availability:
        if shutil.which(self.tool) is None:
            return Availability(False, f"{self.tool} not installed (apt-get install {self.tool})", installed=False)
        return Availability(True)

    def _argv(self, *args: str) -> list[str]:
        executable = shutil.which(self.tool)
        if executable is None:
            raise TektiiError(f"{self.tool} not installed", hint=f"apt-get install {self.tool}")
        return [executable, *global_flags(), *args]

    def build(self, *, dockerfile: Path, context: Path, tag: str, platform: str, log: LogFn) -> BuiltImage:
        argv = self._argv(
            *self.build_verb,
            "--platform",
            platform,
            "--pull=missing",  # base images come from the local store; never ask Docker Hub
            "--layers",  # reuse cached steps, so an unchanged rebuild gives the same layers
            *isolation_flags(),
            "-t",
            tag,
            "-f",
            str(Path(dockerfile).resolve()),
            str(Path(context).resolve()),
        )
        watch = StepTracker(_STEP, log)
        result = stream(argv, watch)
        if result.returncode != 0:
            raise TektiiError(f"Image build failed{watch.where}: {_strip_error(last_error_line(result.tail))}")
        return self.inspect(tag)

    def inspect(self, reference: str) -> BuiltImage:
        data = self._inspect_json(reference)
        return BuiltImage(
            reference=reference,
            os=data["os"],
            architecture=data["architecture"] + (f"/{data['variant']}" if data.get("variant") else ""),
            size=data.get("size"),
            image_id=data.get("id"),
        )

    def _inspect_json(self, reference: str) -> dict:
        raise NotImplementedError

    def _run_json(self, *args: str) -> object:
        done = subprocess.run(self._argv(*args), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise TektiiError(f"{self.tool} could not inspect the image: {_strip_error(done.stderr.strip())}")
        return json.loads(done.stdout)

    def push(self, *, image: BuiltImage, credentials: PushCredentials, log: LogFn) -> str:
        target = push_target(image, credentials)
        with tempfile.TemporaryDirectory(prefix="tektii-push-") as tmp:
            # Credentials go in a private auth file rather than --creds, so the password
            # never shows in the process list.
            authfile = Path(tmp) / "auth.json"
            secret = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
            authfile.write_text(json.dumps({"auths": {credentials.registry: {"auth": secret}}}))
            authfile.chmod(0o600)
            digestfile = Path(tmp) / "digest"
            argv = self._argv(
                "push",
                "--authfile",
                str(authfile),
                "--digestfile",
                str(digestfile),
                *(["--tls-verify=false"] if is_loopback_registry(credentials.registry) else []),
                image.reference,
                f"docker://{target}",
            )
            result = stream(argv, log)
            if result.returncode != 0:
                raise push_error(credentials, last_error_line(result.tail))
            digest = digestfile.read_text().strip() if digestfile.exists() else ""
        if not digest.startswith("sha256:"):
            raise TektiiError(f"{self.tool} push to {target} reported no digest")
        return digest


def _strip_error(line: str) -> str:
    return re.sub(r"^(error:\s*)+", "", line, flags=re.IGNORECASE)


class PodmanBuilder(_ContainersToolBuilder):
    name = "podman"
    description = "podman build (daemonless; vfs storage and chroot isolation supported)"
    tool = "podman"
    build_verb = ("build",)

    def _inspect_json(self, reference: str) -> dict:
        found = self._run_json("image", "inspect", reference)
        data = found[0] if isinstance(found, list) and found else {}
        return {
            "os": data.get("Os", ""),
            "architecture": data.get("Architecture", ""),
            "variant": data.get("Variant", ""),
            "size": data.get("Size"),
            "id": "sha256:" + data["Id"] if data.get("Id") else None,
        }


class BuildahBuilder(_ContainersToolBuilder):
    name = "buildah"
    description = "buildah bud (daemonless; vfs storage and chroot isolation supported)"
    tool = "buildah"
    build_verb = ("bud",)

    def _inspect_json(self, reference: str) -> dict:
        data = self._run_json("inspect", "--type", "image", reference)
        assert isinstance(data, dict)
        config = data.get("OCIv1") or {}
        return {
            "os": config.get("os", ""),
            "architecture": config.get("architecture", ""),
            "variant": config.get("variant", ""),
            "size": None,  # buildah does not report an image size; the registry's manifest does
            "id": "sha256:" + data["FromImageID"] if data.get("FromImageID") else None,
        }


@hookimpl
def register_builders(register):
    register(PodmanBuilder(), order=30)
    register(BuildahBuilder(), order=40)

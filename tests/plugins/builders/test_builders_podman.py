"""The podman and buildah builders: real builds in containers-storage, real pushes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from tektii_testkit import BASE_IMAGE, containers_tool_ready, require

from tektii_core.contracts import PushCredentials, TektiiError
from tektii_plugins.builders import podman as podman_module
from tektii_plugins.builders.podman import BuildahBuilder, PodmanBuilder

BUILDERS = {"podman": PodmanBuilder, "buildah": BuildahBuilder}


@pytest.fixture(params=sorted(BUILDERS))
def builder(request, storage_images):
    containers_tool_ready(request.param)
    return BUILDERS[request.param]()


def blob_uploads(log_text: str, repository: str) -> list[str]:
    """The registry's own access-log lines for blob uploads into `repository`."""
    return re.findall(rf'"(?:POST|PATCH|PUT) /v2/{re.escape(repository)}/blobs/uploads/[^"]*" 20\d', log_text)


def test_builds_pushes_and_reuses_layers(builder, registry_env, example_strategy, log, unique, storage_images):
    tag = f"localhost/tektii-test/{builder.name}-{unique}:abc1234"
    storage_images.append(([], tag))
    assert builder.availability().ok
    image = builder.build(
        dockerfile=example_strategy / "Dockerfile", context=example_strategy, tag=tag, platform="linux/amd64", log=log
    )
    assert (image.os, image.architecture) == ("linux", "amd64")
    assert image.image_id and image.image_id.startswith("sha256:")
    assert any(line.startswith("STEP 4/6: RUN pip install -r requirements.txt") for line in log)
    if builder.name == "podman":
        assert image.size and image.size > 10_000_000

    repository = f"strat_{unique}/ver_{builder.name}"
    credentials = registry_env.credentials(repository)
    log.clear()
    digest = builder.push(image=image, credentials=credentials, log=log)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert "Writing manifest to image destination" in log

    assert repository in registry_env.registry.client.catalog()
    info = registry_env.registry.client.manifest(repository, "abc1234")
    assert info.digest == digest
    assert info.platforms == ("linux/amd64",)

    # The unchanged image again: the registry's own log shows no blob upload this time.
    registry_log = registry_env.registry.log_path
    first_push = registry_log.read_text()
    assert blob_uploads(first_push, repository), "the first push uploads blobs"
    assert builder.push(image=image, credentials=credentials, log=log) == digest
    second_push = registry_log.read_text()[len(first_push) :]
    assert f"HEAD /v2/{repository}/blobs/" in second_push
    assert blob_uploads(second_push, repository) == []


def test_refused_push_and_wrong_password(builder, registry_env, arm64_context, log, unique, storage_images):
    tag = f"localhost/tektii-test/{builder.name}-refused-{unique}:v1"
    storage_images.append(([], tag))
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/amd64", log=log
    )
    mine = registry_env.credentials(f"strat_{unique}/ver_mine")
    other = PushCredentials(mine.registry, f"strat_other{unique}/ver_x", mine.username, mine.password)
    with pytest.raises(TektiiError) as caught:
        builder.push(image=image, credentials=other, log=log)
    assert caught.value.message == (
        f"The registry refused the push to {other.registry}/{other.repository}: "
        "denied: requested access to the resource is denied"
    )
    wrong = PushCredentials(mine.registry, mine.repository, mine.username, "wrong")
    with pytest.raises(TektiiError) as caught:
        builder.push(image=image, credentials=wrong, log=log)
    assert caught.value.message.startswith(f"The registry refused the push to {mine.registry}/{mine.repository}")
    assert "unauthorized" in caught.value.message
    assert other.repository not in registry_env.registry.client.catalog()


def test_arm64_image_reports_arm64(builder, arm64_context, log, unique, storage_images):
    tag = f"localhost/tektii-test/{builder.name}-arm-{unique}:v1"
    storage_images.append(([], tag))
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/arm64", log=log
    )
    assert (image.os, image.architecture) == ("linux", "arm64")


def test_failing_step_is_named(builder, tmp_path, log, unique, storage_images):
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo about to fail && exit 3\n")
    tag = f"localhost/tektii-test/{builder.name}-fail-{unique}:v1"
    with pytest.raises(TektiiError) as caught:
        builder.build(dockerfile=tmp_path / "Dockerfile", context=tmp_path, tag=tag, platform="linux/amd64", log=log)
    assert caught.value.message.startswith("Image build failed at step 2/2 (RUN echo about to fail && exit 3): ")
    assert "exit status 3" in caught.value.message
    assert "about to fail" in log


@pytest.mark.parametrize("tool", sorted(BUILDERS))
def test_missing_executable_is_explained(tool, tmp_path, monkeypatch, log):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither podman nor buildah on it
    builder = BUILDERS[tool]()
    assert builder.availability().ok is False
    assert builder.availability().reason == f"{tool} not installed (apt-get install {tool})"
    with pytest.raises(TektiiError, match=f"{tool} not installed"):
        builder.build(dockerfile=tmp_path / "Dockerfile", context=tmp_path, tag="x:y", platform="linux/amd64", log=log)


@pytest.fixture
def vfs_store(monkeypatch):
    """The vfs image store (beside the default one) with the base image, as
    `TEKTII_BUILDAH_STORAGE_DRIVER=vfs scripts/provision` leaves it."""
    for tool in ("podman", "buildah", "skopeo", "docker"):
        if shutil.which(tool) is None:
            require(False, f"{tool} is not installed (run scripts/provision)")
    monkeypatch.setenv(podman_module.STORAGE_DRIVER_ENV, "vfs")
    monkeypatch.setenv(podman_module.ISOLATION_ENV, "chroot")
    flags = podman_module.global_flags()
    root, runroot = podman_module.storage_dirs("vfs")
    name = f"docker.io/library/{BASE_IMAGE}"
    present = subprocess.run(["podman", *flags, "image", "exists", name], capture_output=True, timeout=60)
    if present.returncode != 0:
        copied = subprocess.run(
            ["skopeo", "copy", "--quiet", f"docker-daemon:{BASE_IMAGE}", f"containers-storage:[vfs@{root}+{runroot}]{name}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if copied.returncode != 0:
            require(False, f"cannot put {BASE_IMAGE} into the vfs store: {copied.stderr.strip()}")
    return flags


@pytest.mark.parametrize("tool", sorted(BUILDERS))
def test_vfs_storage_and_chroot_isolation(tool, vfs_store, example_strategy, log, unique, storage_images, registry_env):
    builder = BUILDERS[tool]()
    tag = f"localhost/tektii-test/{tool}-vfs-{unique}:v1"
    storage_images.append((vfs_store, tag))
    image = builder.build(
        dockerfile=example_strategy / "Dockerfile", context=example_strategy, tag=tag, platform="linux/amd64", log=log
    )
    assert (image.os, image.architecture) == ("linux", "amd64")
    # the image is in the vfs store, and only there
    listed = subprocess.run(
        ["podman", *vfs_store, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, timeout=60
    )
    assert tag in listed.stdout.split()
    default = subprocess.run(["podman", "image", "exists", tag], capture_output=True, timeout=60)
    assert default.returncode == 1
    credentials = registry_env.credentials(f"strat_{unique}/ver_vfs_{tool}")
    digest = builder.push(image=image, credentials=credentials, log=log)
    assert registry_env.registry.client.manifest(credentials.repository, "v1").digest == digest


def test_vfs_implies_chroot_isolation_unless_told(monkeypatch):
    monkeypatch.delenv(podman_module.ISOLATION_ENV, raising=False)
    monkeypatch.setenv(podman_module.STORAGE_DRIVER_ENV, "vfs")
    assert podman_module.isolation_flags() == ["--isolation", "chroot"]
    monkeypatch.setenv(podman_module.ISOLATION_ENV, "oci")
    assert podman_module.isolation_flags() == ["--isolation", "oci"]
    monkeypatch.delenv(podman_module.STORAGE_DRIVER_ENV)
    monkeypatch.delenv(podman_module.ISOLATION_ENV)
    assert podman_module.isolation_flags() == [] and podman_module.global_flags() == []

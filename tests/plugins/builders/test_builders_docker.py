"""The docker builder against the real Docker engine and the real registry."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tektii_core.contracts import BuiltImage, PushCredentials, TektiiError
from tektii_plugins.builders.docker import DockerBuilder


@pytest.fixture
def builder(docker_ready) -> DockerBuilder:
    return DockerBuilder()


def test_builds_pushes_and_the_registry_has_it(builder, registry_env, example_strategy, log, unique, docker_images):
    tag = f"tektii-test/docker-{unique}:abc1234"
    docker_images.append(tag)
    assert builder.availability().ok

    image = builder.build(
        dockerfile=example_strategy / "Dockerfile", context=example_strategy, tag=tag, platform="linux/amd64", log=log
    )
    assert (image.os, image.architecture) == ("linux", "amd64")
    assert image.size and image.size > 10_000_000
    assert image.image_id.startswith("sha256:")
    assert any(line.startswith("Step 4/6 : RUN pip install -r requirements.txt") for line in log)
    assert not any("\x1b[" in line for line in log), "terminal colour codes are stripped"
    # the image is the strategy: requirements installed, main.py as its command
    ran = subprocess.run(["docker", "run", "--rm", "--network", "none", tag], capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "strategy up, six 1.16.0", ran.stderr

    repository = f"strat_{unique}/ver_1"
    credentials = registry_env.credentials(repository)
    docker_images.append(f"{credentials.registry}/{repository}:abc1234")
    log.clear()
    digest = builder.push(image=image, credentials=credentials, log=log)
    assert digest.startswith("sha256:")
    assert any(line.endswith(": Pushed") for line in log)

    assert repository in registry_env.registry.client.catalog()
    info = registry_env.registry.client.manifest(repository, "abc1234")
    assert info.digest == digest
    assert info.platforms == ("linux/amd64",)
    assert info.size > 10_000_000

    # Unchanged image, pushed again: the daemon reports every layer as already there.
    log.clear()
    assert builder.push(image=image, credentials=credentials, log=log) == digest
    layer_lines = [line for line in log if ": " in line and not line.startswith("abc1234")]
    reused = [line for line in layer_lines if line.endswith(": Layer already exists")]
    assert reused and not any(line.endswith(": Pushed") for line in log)


def test_credentials_of_one_repository_cannot_push_another(builder, registry_env, arm64_context, log, unique, docker_images):
    tag = f"tektii-test/docker-scope-{unique}:v1"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/amd64", log=log
    )
    mine = registry_env.credentials(f"strat_{unique}/ver_mine", subject="user_a")
    theirs = PushCredentials(mine.registry, f"strat_other{unique}/ver_x", mine.username, mine.password)
    docker_images.append(f"{mine.registry}/{theirs.repository}:v1")
    with pytest.raises(TektiiError) as caught:
        builder.push(image=image, credentials=theirs, log=log)
    assert caught.value.message.startswith(f"The registry refused the push to {theirs.registry}/{theirs.repository}")
    assert "\n" not in caught.value.message
    assert theirs.repository not in registry_env.registry.client.catalog()


def test_wrong_password_is_refused(builder, registry_env, arm64_context, log, unique, docker_images):
    tag = f"tektii-test/docker-pw-{unique}:v1"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/amd64", log=log
    )
    good = registry_env.credentials(f"strat_{unique}/ver_pw")
    bad = PushCredentials(good.registry, good.repository, good.username, "wrong-password")
    docker_images.append(f"{good.registry}/{good.repository}:v1")
    with pytest.raises(TektiiError, match="The registry refused the push"):
        builder.push(image=image, credentials=bad, log=log)


def test_unreachable_registry_is_one_clear_line(builder, arm64_context, log, unique, docker_images):
    tag = f"tektii-test/docker-down-{unique}:v1"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/amd64", log=log
    )
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    docker_images.append(f"{closed}/strat_x/ver_y:v1")
    with pytest.raises(TektiiError) as caught:
        builder.push(image=image, credentials=PushCredentials(closed, "strat_x/ver_y", "u", "p"), log=log)
    assert caught.value.message.startswith(f"Cannot reach the registry at {closed}")
    assert "\n" not in caught.value.message


def test_arm64_image_reports_arm64(builder, arm64_context, log, unique, docker_images):
    tag = f"tektii-test/docker-arm-{unique}:v1"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/arm64", log=log
    )
    assert image == BuiltImage(tag, "linux", "arm64", image.size, image.image_id)


def test_dockerfile_outside_the_context(builder, example_strategy, tmp_path, log, unique, docker_images):
    # tektii version upload --dockerfile ./docker/Dockerfile.prod --context ./src
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    (docker_dir / "Dockerfile.prod").write_text("FROM python:3.11-slim\nCOPY main.py /app/main.py\n")
    tag = f"tektii-test/docker-ctx-{unique}:v1"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=docker_dir / "Dockerfile.prod", context=example_strategy, tag=tag, platform="linux/amd64", log=log
    )
    assert image.architecture == "amd64"
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", tag, "cat", "/app/main.py"], capture_output=True, text=True, timeout=60
    )
    assert out.stdout == (example_strategy / "main.py").read_text()


def test_failing_step_is_named(builder, tmp_path, log, unique, docker_images):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN echo about to fail && exit 3\n")
    tag = f"tektii-test/docker-fail-{unique}:v1"
    docker_images.append(tag)
    with pytest.raises(TektiiError) as caught:
        builder.build(dockerfile=tmp_path / "Dockerfile", context=tmp_path, tag=tag, platform="linux/amd64", log=log)
    message = caught.value.message
    assert message.startswith("Image build failed at step 2/2 (RUN echo about to fail && exit 3)")
    assert "returned a non-zero code: 3" in message
    assert "about to fail" in log


def test_docker_not_running(tmp_path, monkeypatch, example_strategy, log):
    closed = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # a socket file nobody listens on any more
        sock.bind(str(closed))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{closed}")
    builder = DockerBuilder()
    availability = builder.availability()
    assert not availability.ok
    assert availability.reason.startswith("Docker not running")
    with pytest.raises(TektiiError) as caught:
        builder.build(
            dockerfile=example_strategy / "Dockerfile",
            context=example_strategy,
            tag="tektii-test/never:v1",
            platform="linux/amd64",
            log=log,
        )
    assert caught.value.message == "Docker not running"
    assert caught.value.hint == "Start Docker Desktop or the Docker daemon."


def test_importing_the_plugin_does_not_import_docker():
    code = (
        "import sys, tektii_plugins.builders.docker, tektii_plugins.builders.buildx, "
        "tektii_plugins.builders.podman; "
        "print(sorted(m for m in ('docker', 'requests', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

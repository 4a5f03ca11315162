"""The buildx builder against a stand-in `docker` executable first on PATH.

The buildx plugin is not packaged here, so the stand-in (a process-boundary fake) records
every invocation and plays `docker buildx` by running the real engine's `docker build` with
the same platform, tag, Dockerfile and context; every other command (image inspect, login,
tag, push) goes to the real docker CLI, so the image and the push are real.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tektii_core.contracts import TektiiError
from tektii_plugins.builders.buildx import BuildxBuilder

STAND_IN = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["STANDIN_RECORD"], "a") as record:
        record.write(json.dumps(args) + "\\n")
    real = os.environ.get("STANDIN_REAL_DOCKER")
    if args[:1] == ["buildx"]:
        if os.environ.get("STANDIN_NO_BUILDX") == "1" or not real:
            print("docker: 'buildx' is not a docker command.", file=sys.stderr)
            sys.exit(1)
        if args[1:2] == ["version"]:
            print("github.com/docker/buildx v0.0.0-standin")
            sys.exit(0)
        if args[1:2] == ["build"]:
            rest = args[2:]
            platform = rest[rest.index("--platform") + 1]
            assert "--load" in rest
            tag = rest[rest.index("-t") + 1]
            dockerfile = rest[rest.index("-f") + 1]
            os.environ["DOCKER_BUILDKIT"] = "0"
            os.execv(real, [real, "build", "--platform", platform, "-t", tag, "-f", dockerfile, rest[-1]])
        sys.exit(2)
    os.execv(real, [real, *args])
""")


@pytest.fixture
def stand_in(tmp_path, monkeypatch) -> Path:
    """Puts the stand-in first on PATH; returns the file its invocations are recorded in."""
    real = shutil.which("docker")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(0o755)
    record = tmp_path / "invocations.jsonl"
    record.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    if real:
        monkeypatch.setenv("STANDIN_REAL_DOCKER", real)
    return record


def invocations(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_missing_buildx_plugin_is_explained(stand_in, monkeypatch):
    monkeypatch.setenv("STANDIN_NO_BUILDX", "1")
    availability = BuildxBuilder().availability()
    assert availability.ok is False
    assert availability.reason.startswith("the docker buildx plugin is missing (`docker buildx version` failed")
    assert invocations(stand_in) == [["buildx", "version"]]


def test_missing_docker_cli_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert BuildxBuilder().availability().reason == "docker CLI not installed (apt-get install docker.io)"


def test_builds_with_buildx_arguments_and_pushes(
    stand_in, docker_ready, registry_env, example_strategy, log, unique, docker_images
):
    builder = BuildxBuilder()
    assert builder.availability().ok
    tag = f"tektii-test/buildx-{unique}:abc1234"
    docker_images.append(tag)
    image = builder.build(
        dockerfile=example_strategy / "Dockerfile", context=example_strategy, tag=tag, platform="linux/amd64", log=log
    )
    calls = invocations(stand_in)
    assert calls[1] == [
        "buildx",
        "build",
        "--platform",
        "linux/amd64",
        "--load",
        "-t",
        tag,
        "-f",
        str(example_strategy / "Dockerfile"),
        str(example_strategy),
    ]
    assert calls[2][:3] == ["image", "inspect", "--format"] and calls[2][-1] == tag
    assert (image.os, image.architecture) == ("linux", "amd64")
    assert any("Successfully tagged " + tag in line for line in log), "build output is streamed"

    repository = f"strat_{unique}/ver_buildx"
    credentials = registry_env.credentials(repository)
    target = f"{credentials.registry}/{repository}:abc1234"
    docker_images.append(target)
    log.clear()
    digest = builder.push(image=image, credentials=credentials, log=log)
    pushes = invocations(stand_in)[3:]
    assert pushes[0] == ["login", "--username", credentials.username, "--password-stdin", credentials.registry]
    assert all(credentials.password not in " ".join(call) for call in pushes), "password only on stdin"
    assert pushes[1] == ["tag", tag, target]
    assert pushes[2] == ["push", target]
    assert registry_env.registry.client.manifest(repository, "abc1234").digest == digest
    assert registry_env.registry.client.manifest(repository, "abc1234").platforms == ("linux/amd64",)


def test_arm64_build_reports_arm64(stand_in, docker_ready, arm64_context, log, unique, docker_images):
    tag = f"tektii-test/buildx-arm-{unique}:v1"
    docker_images.append(tag)
    image = BuildxBuilder().build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/arm64", log=log
    )
    assert invocations(stand_in)[0][2:4] == ["--platform", "linux/arm64"]
    assert (image.os, image.architecture) == ("linux", "arm64")


def test_failed_push_is_one_line(stand_in, docker_ready, registry_env, arm64_context, log, unique, docker_images):
    from tektii_core.contracts import PushCredentials

    tag = f"tektii-test/buildx-refused-{unique}:v1"
    docker_images.append(tag)
    image = BuildxBuilder().build(
        dockerfile=arm64_context / "Dockerfile", context=arm64_context, tag=tag, platform="linux/amd64", log=log
    )
    good = registry_env.credentials(f"strat_{unique}/ver_b")
    wrong = PushCredentials(good.registry, good.repository, good.username, "wrong")
    with pytest.raises(TektiiError) as caught:
        BuildxBuilder().push(image=image, credentials=wrong, log=log)
    assert caught.value.message.startswith(f"The registry refused the push to {good.registry}/{good.repository}")
    assert "\n" not in caught.value.message

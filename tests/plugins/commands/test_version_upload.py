"""`tektii version upload | list | get | tree` end to end: real builders, the platform's real
registry, the real CLI. Covers every step and error of the spec's Step 2 and Step 3."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tektii_testkit import require

ROOT = Path(__file__).resolve().parents[3]
SPEC_DOCKERFILE = (ROOT / "examples" / "momentum-strategy" / "Dockerfile").read_text()  # the spec's, verbatim
SPEC_LINES = ["Validating inputs...", "Creating version in API...", "Verifying image platform..."]


def make_strategy(root: Path, *, git: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(SPEC_DOCKERFILE)
    (root / "requirements.txt").write_text("six==1.16.0\n")
    (root / "main.py").write_text('import six\nprint("momentum strategy", six.__version__)\n')
    if git:
        for cmd in (["init", "-q"], ["add", "."], ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "v1"]):
            subprocess.run(["git", *cmd], cwd=root, check=True)
    return root


def git_head(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def new_strategy(cli, name: str) -> str:
    return json.loads(cli("--output", "json", "strategy", "create", "--name", name).out)["data"]["id"]


def version(cli, strategy_id: str, version_id: str) -> dict:
    result = cli("--output", "json", "version", "get", strategy_id, version_id)
    assert result.code == 0, result.err
    return json.loads(result.out)["data"]


def registry_manifest(platform_data: Path, image: str) -> dict:
    """The manifest as the platform's registry serves it, read with a token the platform signs."""
    from tektii_platform.registry.tokens import TokenIssuer

    address, _, rest = image.partition("/")
    repository, _, digest = rest.partition("@")
    issuer = TokenIssuer(platform_data / "registry" / "token")
    token = issuer.token_for_access("test", [{"type": "repository", "name": repository, "actions": ["pull"]}])["token"]
    request = urllib.request.Request(f"http://{address}/v2/{repository}/manifests/{digest}", headers={
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def registry_catalog(platform_data: Path, address: str) -> list[str]:
    from tektii_platform.registry.tokens import TokenIssuer

    token = TokenIssuer(platform_data / "registry" / "token").token_for_access(
        "test", [{"type": "registry", "name": "catalog", "actions": ["*"]}])["token"]
    request = urllib.request.Request(f"http://{address}/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["repositories"]


def upload_ok(cli, strategy_id: str, cwd: Path, *args: str) -> tuple[str, str]:
    result = cli("version", "upload", strategy_id, *args, cwd=cwd)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    for expected in SPEC_LINES:
        assert expected in lines
    assert any(line.startswith("✓ Created version: ver_") for line in lines)
    assert "✓ Version uploaded successfully!" in lines
    assert "  Use this version ID when creating scenarios" in lines
    version_id = next(line.split(": ")[1] for line in lines if line.startswith("  Version ID: "))
    return version_id, result.out


@pytest.mark.parametrize("builder", ["docker", "podman", "buildah"])
def test_upload_the_spec_example_from_a_git_repository(user_cli, platform_server, base_image, registry_binary,
                                                        tmp_path, builder):
    require(subprocess.run(["which", builder], capture_output=True).returncode == 0, f"{builder} is not installed")
    repo = make_strategy(tmp_path / "momentum-strategy", git=True)
    sid = new_strategy(user_cli, f"momentum-{builder}")
    version_id, out = upload_ok(user_cli, sid, repo, "--builder", builder)
    head = git_head(repo)
    assert f"→ Detected version: {head[:7]}" in out.splitlines()
    assert f"  Git SHA: {head[:7]}" in out.splitlines()
    assert "Pushing image to 127.0.0.1:" in out
    v = version(user_cli, sid, version_id)
    assert v["state"] == "READY" and v["gitSha"] == head and v["gitDirty"] is False and v["builder"] == builder
    assert (v["os"], v["architecture"]) == ("linux", "amd64") and v["size"] > 10_000_000
    assert v["image"] == f"{v['imageRepository']}@{v['digest']}"
    assert f"  Image: {v['image']}" in out.splitlines()
    manifest = registry_manifest(platform_server.data_dir, v["image"])
    assert manifest["schemaVersion"] == 2 and manifest["layers"]
    address = v["image"].split("/")[0]
    assert f"strategies/{sid}" in registry_catalog(platform_server.data_dir, address)


def test_upload_from_a_plain_directory_falls_back_to_a_timestamp(user_cli, base_image, registry_binary, tmp_path):
    plain = make_strategy(tmp_path / "plain", git=False)
    sid = new_strategy(user_cli, "plain-dir")
    result = user_cli("version", "upload", sid, cwd=plain)
    assert result.code == 0, result.err
    assert "Warning: Failed to detect git SHA, using timestamp fallback" in result.err
    detected = next(line for line in result.out.splitlines() if line.startswith("→ Detected version: "))
    assert detected.removeprefix("→ Detected version: ").startswith("ts-")
    version_id = next(line.split(": ")[1] for line in result.out.splitlines() if line.startswith("  Version ID: "))
    v = version(user_cli, sid, version_id)
    assert v["gitSha"].startswith("ts-") and int(v["gitSha"][3:]) > 1_700_000_000 and v["gitDirty"] is None


def test_custom_paths_git_sha_dirty_tree_and_second_upload_reuses_layers(user_cli, base_image, registry_binary, tmp_path):
    repo = make_strategy(tmp_path / "repo", git=True)
    (repo / "docker").mkdir()
    prod = SPEC_DOCKERFILE.replace('CMD ["python", "main.py"]', 'CMD ["python", "app.py"]')
    (repo / "docker" / "Dockerfile.prod").write_text(prod)
    src = repo / "src"
    src.mkdir()
    (src / "requirements.txt").write_text("six==1.16.0\n")
    (src / "app.py").write_text("print('prod')\n")
    (repo / "untracked.txt").write_text("dirty\n")
    sid = new_strategy(user_cli, "custom-paths")
    first, _ = upload_ok(user_cli, sid, repo, "--dockerfile", "./docker/Dockerfile.prod", "--context", "./src",
                         "--git-sha", "abc1234def")
    v = version(user_cli, sid, first)
    assert v["gitSha"] == "abc1234def" and v["state"] == "READY"
    second = user_cli("-v", "version", "upload", sid, "--dockerfile", "./docker/Dockerfile.prod", "--context", "./src", cwd=repo)
    assert second.code == 0, second.err
    assert "(uncommitted changes)" in second.out
    assert "Layer already exists" in second.out  # unchanged code: the registry already holds every layer
    second_id = next(line.split(": ")[1] for line in second.out.splitlines() if line.startswith("  Version ID: "))
    assert version(user_cli, sid, second_id)["gitDirty"] is True


def test_missing_dockerfile_is_the_spec_error_and_creates_nothing(user_cli, tmp_path):
    sid = new_strategy(user_cli, "no-dockerfile")
    result = user_cli("version", "upload", sid, cwd=tmp_path)
    assert result.code == 1
    assert result.err.splitlines()[0] == "Error: Dockerfile not found at ./Dockerfile"
    assert "--dockerfile" in result.err.splitlines()[1]
    custom = user_cli("version", "upload", sid, "--dockerfile", "./docker/Dockerfile.prod", cwd=tmp_path)
    assert custom.err.splitlines()[0] == "Error: Dockerfile not found at ./docker/Dockerfile.prod"
    assert json.loads(user_cli("--output", "json", "version", "list", sid).out)["data"]["versions"] == []


def test_every_input_problem_at_once(user_cli, tmp_path):
    sid = new_strategy(user_cli, "many-problems")
    result = user_cli("version", "upload", sid, "--dockerfile", "nope/Dockerfile", "--context", "missing-dir",
                      "--parent", "ver_unknown", cwd=tmp_path)
    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first.startswith("Error: ")
    for part in ("Parent version ver_unknown is not a version of strategy", "Dockerfile not found at nope/Dockerfile",
                 "Build context missing-dir is not a directory"):
        assert part in first
    unknown = user_cli("version", "upload", "strat_nope", cwd=tmp_path)
    assert "Strategy strat_nope not found" in unknown.err


def test_docker_not_running(user_cli, tmp_path, registry_binary):
    repo = make_strategy(tmp_path / "s", git=False)
    sid = new_strategy(user_cli, "no-docker")
    closed = tmp_path / "closed.sock"
    result = user_cli("version", "upload", sid, "--builder", "docker", cwd=repo, env={"DOCKER_HOST": f"unix://{closed}"})
    assert result.code == 1
    assert result.err.splitlines() == ["Error: Docker not running", "Solution: Start Docker Desktop or the Docker daemon."]
    assert json.loads(user_cli("--output", "json", "version", "list", sid).out)["data"]["versions"] == []


def test_default_builder_does_not_switch_when_docker_is_stopped(user_cli, tmp_path, registry_binary):
    """Docker installed but its daemon unreachable (DOCKER_HOST at a dead socket): the spec's
    error, naming the other builders that are there, and no version is created."""
    import shutil

    repo = make_strategy(tmp_path / "s", git=False)
    sid = new_strategy(user_cli, "docker-stopped")
    closed = tmp_path / "closed.sock"
    result = user_cli("version", "upload", sid, cwd=repo, env={"DOCKER_HOST": f"unix://{closed}"})
    assert result.code == 1
    others = [f"`--builder {tool}`" for tool in ("podman", "buildah") if shutil.which(tool)]
    solution = "Solution: Start Docker Desktop or the Docker daemon."
    if others:
        solution += " Or build without Docker: " + " or ".join(others) + "."
    assert result.err.splitlines() == ["Error: Docker not running", solution]
    assert json.loads(user_cli("--output", "json", "version", "list", sid).out)["data"]["versions"] == []


DOCKER_WITHOUT_EMULATION = """#!/bin/sh
# Stand-in for `docker` on an Apple Silicon Mac without Rosetta: buildx builds for the native
# linux/arm64 whatever --platform says; every other command is the real docker.
if [ "$1" = buildx ] && [ "$2" = version ]; then echo "github.com/docker/buildx v0.12.1 stand-in"; exit 0; fi
if [ "$1" = buildx ] && [ "$2" = build ]; then
    shift 2
    for arg in "$@"; do
        shift
        case "$arg" in --load) ;; linux/amd64) set -- "$@" linux/arm64 ;; *) set -- "$@" "$arg" ;; esac
    done
    exec REAL_DOCKER build "$@"
fi
exec REAL_DOCKER "$@"
"""


def test_platform_mismatch_marks_the_version_failed(user_cli, docker_engine, registry_binary, tmp_path):
    import shutil

    arm = tmp_path / "arm"
    arm.mkdir()
    (arm / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (arm / "hello.txt").write_text(f"arm64 {tmp_path}\n")  # unique: the legacy builder's cache ignores --platform
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER_WITHOUT_EMULATION.replace("REAL_DOCKER", shutil.which("docker")))
    (bin_dir / "docker").chmod(0o755)
    sid = new_strategy(user_cli, "arm")
    env = {"PATH": f"{bin_dir}:{user_cli.env['PATH']}"}
    result = user_cli("version", "upload", sid, "--builder", "buildx", cwd=arm, env=env)
    assert result.code == 1, result.out
    assert result.err.splitlines()[1] == "Error: Image platform mismatch (expected linux/amd64, got linux/arm64)"
    assert result.err.splitlines()[0] == "Warning: Failed to detect git SHA, using timestamp fallback"
    assert "Rosetta" in result.err and "buildx" in result.err
    assert "Pushing image" not in result.out
    versions = json.loads(user_cli("--output", "json", "version", "list", sid).out)["data"]["versions"]
    assert len(versions) == 1 and versions[0]["state"] == "FAILED"
    assert versions[0]["failureReason"] == "Image platform mismatch (expected linux/amd64, got linux/arm64)"
    shown = user_cli("version", "get", sid, versions[0]["id"])
    assert "Failure Reason" in shown.out and "FAILED" in shown.out


def test_templates_parents_and_the_tree(user_cli, tmp_path):
    sid = new_strategy(user_cli, "tree")
    other = new_strategy(user_cli, "other-tree")

    def upload(*args: str) -> str:
        result = user_cli("--output", "json", "version", "upload", sid, *args, cwd=tmp_path)
        assert result.code == 0, result.err
        return json.loads(result.out)["data"]["id"]

    root = upload("--template", "ma-crossover", "--git-sha", "aaaaaaa")
    a = upload("--template", "ma-crossover", "--git-sha", "bbbbbbb", "--parent", root)
    b = upload("--template", "rsi-momentum", "--git-sha", "ccccccc", "--parent", root)
    a2 = upload("--template", "ma-crossover", "--git-sha", "ddddddd", "--parent", a)
    v = version(user_cli, sid, b)
    assert v["state"] == "READY" and v["template"] == "rsi-momentum" and v["parentId"] == root and v["image"] is None
    tree = user_cli("version", "tree", sid).out.splitlines()
    assert tree[0].startswith(root)
    assert tree[1].startswith(f"|-- {a}") and tree[2].startswith(f"|   `-- {a2}") and tree[3].startswith(f"`-- {b}")
    nodes = json.loads(user_cli("--output", "json", "version", "tree", sid).out)["data"]["versions"]
    assert {n["id"]: n["parentId"] for n in nodes} == {root: None, a: root, b: root, a2: a}
    foreign = user_cli("version", "upload", other, "--template", "ma-crossover", "--parent", a, cwd=tmp_path)
    assert foreign.code == 1 and f"Parent version {a} is not a version of strategy {other}" in foreign.err
    bad = user_cli("version", "upload", sid, "--template", "nope", cwd=tmp_path)
    assert bad.code == 1 and "Unknown template 'nope'" in bad.err


def test_version_list_paginates_and_other_users_see_nothing(user_cli, platform_server, tmp_path):
    sid = new_strategy(user_cli, "paged")
    for i in range(5):
        assert user_cli("version", "upload", sid, "--template", "rsi-momentum", "--git-sha", f"s{i}", cwd=tmp_path).code == 0
    page = json.loads(user_cli("--output", "json", "version", "list", sid, "--limit", "2").out)["data"]
    assert len(page["versions"]) == 2 and page["nextCursor"]
    rest = json.loads(user_cli("--output", "json", "version", "list", sid, "--limit", "10", "--cursor",
                               page["nextCursor"]).out)["data"]
    assert len(rest["versions"]) == 3 and rest["nextCursor"] is None
    other = {"TEKTII_API_KEY": platform_server.new_user("intruder")}
    assert user_cli("version", "list", sid, env=other).code == 1
    assert user_cli("version", "get", sid, page["versions"][0]["id"], env=other).code == 1


def test_push_credentials_are_scoped_to_the_strategy_repository(user_cli, platform_server, registry_binary, tmp_path):
    """Credentials issued for one strategy get no token for another user's (or strategy's) repository."""
    import requests

    key = user_cli.env["TEKTII_API_KEY"]
    api = platform_server.url
    headers = {"Authorization": f"Bearer {key}"}
    sid = new_strategy(user_cli, "scoped")
    created = requests.post(f"{api}/v1/strategies/{sid}/versions", json={"gitSha": "abc"}, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    push = created.json()["data"]["push"]
    basic = base64.b64encode(f"{push['username']}:{push['password']}".encode()).decode()

    def granted(scope: str) -> list:
        answer = requests.get(f"{api}/v1/registry/token", params={"service": "tektii-registry", "scope": scope},
                              headers={"Authorization": f"Basic {basic}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        payload = answer.json()["token"].split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["access"]

    assert granted(f"repository:strategies/{sid}:push,pull") == [
        {"type": "repository", "name": f"strategies/{sid}", "actions": ["pull", "push"]}]
    assert granted("repository:strategies/strat_someone_else:push,pull") == []
    wrong = requests.get(f"{api}/v1/registry/token", params={"scope": f"repository:strategies/{sid}:push"},
                         headers={"Authorization": "Basic " + base64.b64encode(b"push-x:wrong").decode()}, timeout=30)
    assert wrong.status_code == 401


def test_missing_registry_binary_says_what_to_install(cli, tmp_path):
    """A platform on a machine without docker-registry: the upload names the package, creates nothing."""
    import os
    import shutil

    from tektii_testkit import Platform

    bin_dir = tmp_path / "bin"  # PATH with the tools the platform needs, but no docker-registry
    bin_dir.mkdir()
    for tool in ("git", "docker"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    platform = Platform(tmp_path / "data", env={"PATH": f"{bin_dir}:{os.path.dirname(sys.executable)}"})
    try:
        cli.env.update({"TEKTII_API_URL": platform.url, "TEKTII_API_KEY": platform.new_user("no-registry")})
        repo = make_strategy(tmp_path / "s", git=False)
        sid = new_strategy(cli, "no-registry")
        result = cli("version", "upload", sid, cwd=repo)
        assert result.code == 1
        error = next(line for line in result.err.splitlines() if line.startswith("Error: "))
        assert "docker-registry" in error and "apt-get install docker-registry" in result.err
        assert json.loads(cli("--output", "json", "version", "list", sid).out)["data"]["versions"] == []
    finally:
        platform.stop()


def test_a_failing_build_marks_the_version_failed_with_the_step(user_cli, base_image, registry_binary, tmp_path):
    repo = make_strategy(tmp_path / "broken", git=False)
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\nRUN echo compiling && exit 3\n")
    sid = new_strategy(user_cli, "broken-build")
    result = user_cli("version", "upload", sid, "--builder", "docker", cwd=repo)
    assert result.code == 1
    error = next(line for line in result.err.splitlines() if line.startswith("Error: "))
    assert error.startswith("Error: Image build failed at step 2/2 (RUN echo compiling && exit 3)")
    [failed] = json.loads(user_cli("--output", "json", "version", "list", sid).out)["data"]["versions"]
    assert failed["state"] == "FAILED" and failed["image"] is None
    assert failed["failureReason"] == error.removeprefix("Error: ")


def test_the_configured_default_builder_is_used(user_cli, base_image, registry_binary, tmp_path):
    require(subprocess.run(["which", "buildah"], capture_output=True).returncode == 0, "buildah is not installed")
    assert user_cli("config", "set", "builder", "buildah").code == 0
    repo = make_strategy(tmp_path / "s", git=True)
    sid = new_strategy(user_cli, "default-builder")
    version_id, out = upload_ok(user_cli, sid, repo)
    assert "Connecting to buildah..." in out
    assert version(user_cli, sid, version_id)["builder"] == "buildah"
    assert user_cli("config", "set", "builder", "nope").err.startswith("Error: Unknown builder 'nope'")

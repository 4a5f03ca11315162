"""Scenario runs in the docker runtime: an image uploaded with `tektii version upload` (pulled
by the platform from its own registry with credentials it issues itself), a template built
into an image when Docker is available, and a cancelled run leaving no container behind."""

from __future__ import annotations

import json
import subprocess

import pytest
from tektii_testkit import SPEC_CONFIG, served, upload_ma_crossover, with_version

RUN_LABEL = "org.tektii.run-id"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, docker_engine, base_image, registry_binary):
    # No TEKTII_RUNTIME: the platform chooses (images and, with Docker up, templates: docker).
    yield from served(tmp_path_factory, TEKTII_MAX_CONCURRENT_RUNS="2")


@pytest.fixture(scope="module")
def uploaded(platform, tmp_path_factory):
    """(key, strategy id, version id) of the ma-crossover project uploaded as an image."""
    key = platform.new_user("docker-user", admin=True)
    platform.generate(key, "C:BTCUSD", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    _, strategy_id, version_id = upload_ma_crossover(platform, key, tmp_path_factory, "momentum-v1")
    return key, strategy_id, version_id


def containers(scenario_id: str) -> list[str]:
    done = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={scenario_id}"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def network_container_of(container: str) -> str:
    """The id of the container whose network namespace `container` runs in."""
    mode = subprocess.run(["docker", "inspect", "-f", "{{.HostConfig.NetworkMode}}", container],
                          capture_output=True, text=True, check=True).stdout.strip()
    return mode.removeprefix("container:")[:12]


def runtime_of(platform, scenario_id: str) -> str:
    return platform.scenario_row(scenario_id)["runtime"]


def untag_local_copies(image: str) -> None:
    """Remove the daemon's references to the version's repository (the image's layers may
    stay, shared with other tags): the run must then pull it from the platform's registry."""
    repository = image.split("@", 1)[0]
    inspected = json.loads(subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True,
                                          check=True).stdout)[0]
    refs = [r for r in inspected["RepoTags"] + inspected["RepoDigests"] if r.startswith(repository)]
    for ref in refs:  # untagging the last tag of a repository also drops its digest reference
        subprocess.run(["docker", "rmi", ref], capture_output=True)
    assert subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0


def test_uploaded_image_runs_the_spec_example(platform, uploaded):
    key, strategy_id, version_id = uploaded
    image = platform.ok("GET", f"/v1/strategies/{strategy_id}/versions/{version_id}", key)["image"]
    untag_local_copies(image)
    created = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))
    assert created["state"] == "PENDING"
    done = platform.wait(key, strategy_id, created["scenarioId"], timeout=900)
    assert done["state"] == "COMPLETE", done
    assert runtime_of(platform, created["scenarioId"]) == "docker"
    summary = {k: done[k] for k in ("scenarioId", "state", "totalReturn", "sharpeRatio", "maxDrawdownPct",
                                    "totalTrades", "winRatePct")}
    assert json.loads(json.dumps({"data": summary}))["data"]["totalTrades"] > 0
    logs = platform.ok("GET", f"/v1/strategies/{strategy_id}/scenarios/{created['scenarioId']}/logs", key)
    assert f"tektii: pulling {image}" in logs["lines"]  # from the platform's registry, with its own credentials
    assert any("fast SMA crossed" in line for line in logs["lines"])
    assert containers(created["scenarioId"]) == []


def test_cancelling_a_docker_run_removes_its_containers(platform, uploaded):
    key, strategy_id, version_id = uploaded
    scenario_id = platform.create(key, strategy_id, with_version(SPEC_CONFIG, version_id))["scenarioId"]
    platform.wait(key, strategy_id, scenario_id, states=("RUNNING",), progress=True, timeout=300)
    ours = containers(scenario_id) + [network_container_of(c) for c in containers(scenario_id)]
    assert len(set(ours)) == 2  # the strategy and its network container (a spare worker's may be unlabelled)
    requested = platform.ok("POST", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}/cancel", key)
    assert requested["cancelRequested"] is True
    assert platform.wait(key, strategy_id, scenario_id, timeout=60)["state"] == "CANCELLED"
    assert containers(scenario_id) == []
    assert not [c for c in ours if subprocess.run(["docker", "inspect", c], capture_output=True).returncode == 0]


def test_a_template_runs_in_docker_when_docker_is_available(platform, uploaded):
    key = uploaded[0]
    strategy_id = platform.strategy(key, "template-in-docker")
    version_id = platform.template_version(key, strategy_id, "rsi-momentum")
    config = with_version(SPEC_CONFIG, version_id, endTime="2024-01-03T00:00:00Z")
    scenario_id = platform.create(key, strategy_id, config)["scenarioId"]
    done = platform.wait(key, strategy_id, scenario_id, timeout=900)
    assert done["state"] == "COMPLETE", done
    assert runtime_of(platform, scenario_id) == "docker"
    images = subprocess.run(["docker", "images", "-q", "tektii-template/rsi-momentum"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert images, "the template image is built (and kept, by content hash)"
    assert containers(scenario_id) == []

"""The `docker` runtime plugin: registration, availability and the Runtime contract."""

from __future__ import annotations

import json

import pluggy

from tektii_core import hookspecs
from tektii_core.contracts import (
    RunningStrategy,
    Runtime,
    RuntimeLimits,
    StrategyLaunch,
)
from tektii_plugins.runtimes import docker as docker_plugin


def registered_runtimes() -> list:
    pm = pluggy.PluginManager("tektii")
    pm.add_hookspecs(hookspecs)
    pm.register(docker_plugin)
    found: list = []
    pm.hook.register_runtimes(register=found.append)
    return found


def test_plugin_registers_the_docker_runtime():
    [runtime] = registered_runtimes()
    assert isinstance(runtime, Runtime)
    assert runtime.name == "docker"


def test_unavailable_without_a_docker_daemon(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    availability = docker_plugin.DockerRuntime().availability()
    assert not availability.ok
    assert availability.reason.startswith("Docker not running")


def test_available_with_docker(docker_client):
    assert docker_plugin.DockerRuntime().availability().ok


def test_start_runs_a_launch_through_the_sandbox(docker_client, probe_image, gateway, run_id, assert_no_containers):
    lines: list[str] = []
    launch = StrategyLaunch(
        run_id=run_id,
        gateway_url=gateway.url,
        gateway_socket=gateway.socket,
        api_key="launch-key",
        log=lines.append,
        env={"PROBE": "http"},
        image=probe_image,
        # None means "the runtime's default"
        limits=RuntimeLimits(memory_mb=None, cpus=0.5, pids=None, wall_clock_s=60),
    )
    running = docker_plugin.DockerRuntime().start(launch)
    assert isinstance(running, RunningStrategy)
    assert running.wait(60) == 0, lines
    result = json.loads(running.log_tail(1).removeprefix("RESULT "))
    assert result["status"] == 200
    assert gateway.requests[0]["authorization"] == "Bearer launch-key"
    running.stop()
    assert running.poll() == 0

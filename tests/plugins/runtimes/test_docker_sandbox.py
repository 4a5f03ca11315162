"""The docker sandbox against a real Docker engine: reachability, isolation, limits, cleanup."""

from __future__ import annotations

import fcntl
import http.server
import json
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tektii_core.contracts import TektiiError
from tektii_engine.runtimes.sandbox import SandboxLimits, start_sandboxed

API_KEY = "test-key-123"
DIRECT_AND_RELAY = pytest.mark.parametrize("direct", [True, False], ids=["direct", "relay"])


def run_probe(image, gateway, run_id, action, *, limits=None, env=None, timeout=90, direct=True):
    """Direct: the gateway serves a socket opened in the sandbox, as the engine does; else the relay."""
    lines: list[str] = []
    sandbox = start_sandboxed(
        run_id=run_id,
        image=image,
        api_key=API_KEY,
        gateway_socket=gateway.socket,
        serve_socket=gateway.serve if direct else None,
        env={"PROBE": action, **(env or {})},
        limits=limits or SandboxLimits(memory_mb=256, cpus=1.0, pids=64, wall_clock_s=60),
        log=lines.append,
    )
    if sandbox.direct is not direct:
        sandbox.stop(timeout=1)
        pytest.fail(f"expected direct={direct}, got the other path: {lines}")
    code = sandbox.wait(timeout)
    if code is None:
        sandbox.stop(timeout=1)
        pytest.fail(f"probe {action} did not finish in {timeout} s: {lines}")
    return sandbox, code, lines


def result_of(lines: list[str]) -> dict:
    found = [json.loads(line[len("RESULT ") :]) for line in lines if line.startswith("RESULT ")]
    assert found, f"the probe printed no result: {lines}"
    return found[-1]


@DIRECT_AND_RELAY
def test_strategy_reaches_the_gateway_over_http(probe_image, gateway, run_id, assert_no_containers, direct):
    sandbox, code, lines = run_probe(probe_image, gateway, run_id, "http", direct=direct)
    assert code == 0, lines
    assert result_of(lines) == {
        "status": 200,
        "body": {"equity": "100000", "currency": "USD"},
    }
    assert gateway.requests == [{"path": "/v1/account", "authorization": f"Bearer {API_KEY}"}]
    assert sandbox.exit_reason is None


@DIRECT_AND_RELAY
def test_strategy_reaches_the_gateway_websocket(probe_image, gateway, run_id, assert_no_containers, direct):
    _, code, lines = run_probe(probe_image, gateway, run_id, "ws", direct=direct)
    assert code == 0, lines
    assert result_of(lines) == {
        "status": "HTTP/1.1 101 Switching Protocols",
        "opcode": 1,
        "echo": "hello through the relay",
    }


def test_strategy_gets_the_sdk_environment(probe_image, gateway, run_id, assert_no_containers):
    _, code, lines = run_probe(probe_image, gateway, run_id, "env", env={"MY_PARAM": "7"})
    assert code == 0, lines
    assert result_of(lines) == {
        "TEKTII_TRADING_GATEWAY_URL": "http://127.0.0.1:8080",
        "TRADING_GATEWAY_URL": "http://127.0.0.1:8080",
        "TEKTII_TRADING_GATEWAY_API_KEY": API_KEY,
        "TRADING_GATEWAY_API_KEY": API_KEY,
        "MY_PARAM": "7",
    }


def _docker_bridge_ip() -> str:
    """The IPv4 address of the host's docker0 interface (the default bridge gateway)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"docker0"))  # SIOCGIFADDR
    return socket.inet_ntoa(packed[20:24])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _http_server(host: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer((host, 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def registry():
    """A real CNCF distribution registry on the host's loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as root:
        config = Path(root) / "config.yml"
        config.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n"
        )
        process = subprocess.Popen(
            ["/usr/bin/docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail("the registry did not start")
            yield port
        finally:
            process.terminate()
            process.wait(10)


@DIRECT_AND_RELAY
def test_strategy_cannot_reach_host_services_registry_bridge_or_outside(
    probe_image, gateway, run_id, registry, assert_no_containers, direct
):
    host_api, host_port = _http_server("127.0.0.1")  # stands for the platform API
    bridge_ip = _docker_bridge_ip()
    bridge_service, bridge_port = _http_server(bridge_ip)
    try:
        # Each target is reachable from the host, so a failure inside is the sandbox's doing.
        for url in (
            f"http://127.0.0.1:{host_port}/",
            f"http://127.0.0.1:{registry}/v2/",
            f"http://{bridge_ip}:{bridge_port}/",
        ):
            assert urllib.request.urlopen(url, timeout=5).status == 200
        targets = [
            f"127.0.0.1:{host_port}",
            f"127.0.0.1:{registry}",
            f"{bridge_ip}:{bridge_port}",
            "192.0.2.1:80",  # TEST-NET-1: stands for any outside address
        ]
        _, code, lines = run_probe(
            probe_image,
            gateway,
            run_id,
            "connect",
            env={"PROBE_TARGETS": ",".join(targets + ["127.0.0.1:8080"])},
            direct=direct,
        )
    finally:
        host_api.shutdown()
        bridge_service.shutdown()
    assert code == 0, lines
    outcome = result_of(lines)
    assert outcome["127.0.0.1:8080"] == "connected"  # the gateway, as a control
    for target in targets:
        assert outcome[target] != "connected", f"{target} was reachable from the sandbox"
        assert outcome[target].startswith(("ConnectionRefusedError", "OSError")), outcome


@DIRECT_AND_RELAY
def test_namespace_has_only_loopback_and_no_route(probe_image, gateway, run_id, assert_no_containers, direct):
    _, code, lines = run_probe(probe_image, gateway, run_id, "netinfo", direct=direct)
    assert code == 0, lines
    assert result_of(lines) == {"interfaces": ["lo"], "routes": []}


def test_root_file_system_is_read_only_with_a_writable_tmp(probe_image, gateway, run_id, assert_no_containers):
    _, code, lines = run_probe(probe_image, gateway, run_id, "fs")
    assert code == 0, lines
    outcome = result_of(lines)
    assert outcome["/tmp/x"] == "written"
    for path in ("/app/x", "/usr/x", "/etc/x"):
        assert outcome[path] == "OSError: Read-only file system"


def test_no_capabilities_and_no_new_privileges(probe_image, gateway, run_id, assert_no_containers):
    _, code, lines = run_probe(probe_image, gateway, run_id, "caps")
    assert code == 0, lines
    outcome = result_of(lines)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(outcome[key], 16) == 0, outcome
    assert outcome["NoNewPrivs"] == "1"


@DIRECT_AND_RELAY
def test_both_containers_are_hardened(docker_client, probe_image, gateway, run_id, assert_no_containers, direct):
    sandbox = start_sandboxed(
        run_id=run_id,
        image=probe_image,
        api_key=API_KEY,
        gateway_socket=gateway.socket,
        serve_socket=gateway.serve if direct else None,
        env={"PROBE": "sleep"},
        limits=SandboxLimits(memory_mb=128, cpus=0.5, pids=40, wall_clock_s=60),
    )
    try:
        strategy = docker_client.api.inspect_container(sandbox.container_id)["HostConfig"]
        relay_inspected = docker_client.api.inspect_container(sandbox.relay_id)
        relay, relay_user = relay_inspected["HostConfig"], relay_inspected["Config"]["User"]
    finally:
        sandbox.stop(timeout=1)
    assert relay["NetworkMode"] == "none"
    assert strategy["NetworkMode"] == f"container:{sandbox.relay_id}"
    for config in (strategy, relay):
        assert config["CapDrop"] == ["ALL"]
        assert config["SecurityOpt"] == ["no-new-privileges"]
        assert config["ReadonlyRootfs"] is True
        assert not config["Privileged"]
    if direct:  # the holder of the namespace sees nothing of the host
        assert not relay["Binds"] and relay["PidsLimit"] == 4
        assert relay_user == "65534:65534"  # nobody
    else:
        assert relay["Binds"][0].endswith(":/run/tektii:ro")
    assert strategy["Memory"] == 128 * 1024 * 1024
    assert strategy["NanoCpus"] == 500_000_000
    assert strategy["PidsLimit"] == 40
    assert set(strategy["Tmpfs"]) == {"/tmp"}


def test_pids_limit_stops_a_fork_bomb(probe_image, gateway, run_id, assert_no_containers):
    limits = SandboxLimits(memory_mb=256, cpus=1.0, pids=24, wall_clock_s=60)
    _, code, lines = run_probe(probe_image, gateway, run_id, "pids", limits=limits)
    assert code == 0, lines
    outcome = result_of(lines)
    assert outcome["error"] == "can't start new thread"
    assert 0 < outcome["started"] < 24


def test_memory_limit_kills_a_hog(probe_image, gateway, run_id, assert_no_containers):
    limits = SandboxLimits(memory_mb=96, cpus=1.0, pids=64, wall_clock_s=120)
    sandbox, code, lines = run_probe(probe_image, gateway, run_id, "mem", limits=limits)
    assert code == 137, lines
    assert sandbox.exit_reason == "strategy exceeded its memory limit of 96 MB and was killed"
    assert "allocated 16 MB" in lines
    assert not any(line == "allocated 160 MB" for line in lines)
    assert sandbox.log_tail(1) == f"tektii: {sandbox.exit_reason}"


def test_wall_clock_limit_stops_the_strategy(probe_image, gateway, run_id, assert_no_containers):
    limits = SandboxLimits(memory_mb=128, cpus=1.0, pids=64, wall_clock_s=2)
    sandbox, code, lines = run_probe(probe_image, gateway, run_id, "sleep", limits=limits, timeout=60)
    assert code == 137
    assert sandbox.exit_reason == "strategy exceeded its wall-clock limit of 2 s and was stopped"
    assert lines[0] == "sleeping"


def test_output_lines_are_streamed_to_the_log(probe_image, gateway, run_id, assert_no_containers):
    sandbox, code, lines = run_probe(probe_image, gateway, run_id, "output")
    assert code == 0
    # stdout and stderr are separate pipes: each stream keeps its order, not their interleaving.
    stdout = [f"out {i}" for i in range(5)] + ["no newline at the end"]
    stderr = [f"err {i}" for i in range(5)]
    assert sorted(lines) == sorted(stdout + stderr)
    assert [line for line in lines if line in stdout] == stdout
    assert [line for line in lines if line in stderr] == stderr
    assert sandbox.log_tail(100).splitlines() == lines
    assert sandbox.log_tail(2).splitlines() == lines[-2:]


def test_crash_ends_with_its_exit_code_and_traceback(probe_image, gateway, run_id, assert_no_containers):
    sandbox, code, _ = run_probe(probe_image, gateway, run_id, "crash")
    assert code == 1
    assert sandbox.exit_reason == "strategy exited with code 1"
    tail = sandbox.log_tail(5)
    assert "RuntimeError: strategy blew up" in tail
    assert tail.endswith("tektii: strategy exited with code 1")
    assert_no_containers()


def test_stop_removes_everything_and_is_idempotent(probe_image, gateway, run_id, assert_no_containers):
    lines: list[str] = []
    sandbox = start_sandboxed(
        run_id=run_id,
        image=probe_image,
        api_key=API_KEY,
        gateway_socket=gateway.socket,
        env={"PROBE": "sleep"},
        log=lines.append,
    )
    for _ in range(100):
        if lines:
            break
        time.sleep(0.1)
    assert sandbox.poll() is None
    sandbox.stop(timeout=2)
    assert sandbox.poll() is not None
    assert sandbox.exit_reason == "stopped by the engine"
    assert_no_containers()
    sandbox.stop()  # a second stop is a no-op
    assert sandbox.log_tail(50).startswith("sleeping")


def test_normal_exit_removes_both_containers(probe_image, gateway, run_id, assert_no_containers):
    _, code, _ = run_probe(probe_image, gateway, run_id, "http")
    assert code == 0
    assert_no_containers()


def test_missing_image_is_an_error_and_leaves_nothing(docker_client, gateway, run_id, assert_no_containers):
    with pytest.raises(TektiiError, match="not available locally"):
        start_sandboxed(
            run_id=run_id,
            image="tektii-test/does-not-exist:1",
            api_key=API_KEY,
            gateway_socket=gateway.socket,
        )


def test_unreachable_registry_image_is_an_error(docker_client, gateway, run_id, assert_no_containers):
    with socket.socket() as s:  # a free loopback port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TektiiError, match="Could not pull strategy image"):
        start_sandboxed(
            run_id=run_id,
            image=f"127.0.0.1:{port}/strat/ver:1",
            api_key=API_KEY,
            gateway_socket=gateway.socket,
        )


def test_without_root_the_relay_is_used_even_when_the_engine_could_serve(
    monkeypatch, probe_image, gateway, run_id, assert_no_containers
):
    monkeypatch.setattr("tektii_engine.runtimes.sandbox.os.geteuid", lambda: 1000)
    lines: list[str] = []
    sandbox = start_sandboxed(
        run_id=run_id,
        image=probe_image,
        api_key=API_KEY,
        gateway_socket=gateway.socket,
        serve_socket=gateway.serve,
        env={"PROBE": "http"},
        log=lines.append,
    )
    assert not sandbox.direct
    assert sandbox.wait(60) == 0, lines
    assert result_of(lines)["status"] == 200


def test_tcp_only_gateway_is_bridged(probe_image, gateway, run_id, assert_no_containers):
    lines: list[str] = []
    sandbox = start_sandboxed(
        run_id=run_id,
        image=probe_image,
        api_key=API_KEY,
        gateway_url=gateway.url,
        env={"PROBE": "http"},
        log=lines.append,
    )
    assert sandbox.wait(60) == 0, lines
    assert result_of(lines)["status"] == 200

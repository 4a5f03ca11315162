"""Real clusters for the scale-out tests: a PostgreSQL server and a Ray cluster of three nodes in
network namespaces of the test's own (docs/testing.md). Both are context managers that tear
down everything they made, also when starting them fails half way; every wait is bounded.

Both need root (the CI machine runs the suite as root after scripts/provision): PostgreSQL's
initdb refuses root, so it runs as the `postgres` user; namespaces, veths, the bridge and the
iptables rule are root's."""

from __future__ import annotations

import glob
import importlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tektii_testkit import docker_running, free_port, require

_BIN = Path(sys.executable).parent


def import_required(module: str, reason: str) -> Any:
    """Import an optional extra's module at a test module's top: skipped without it, but a
    failure where CI requires every component (TEKTII_REQUIRE_DOCKER=1, as tektii_testkit.require)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("TEKTII_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} (required: TEKTII_REQUIRE_DOCKER=1)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def _run(*cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done


def _wait(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(interval)


class _Started:
    """A context manager over `_start()` and `close()`; close() also runs when starting fails half
    way, so whatever was made is torn down."""

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


# --- PostgreSQL ------------------------------------------------------------------------------

def postgres_bindir() -> Path | None:
    """The newest Debian server binaries (/usr/lib/postgresql/N/bin), else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer(_Started):
    """`initdb` into a temporary directory and a server on a free port of `listen` (loopback by
    default), reachable with a password from `clients` (CIDRs, 127.0.0.1/32 always)."""

    def __init__(self, *, listen: str = "127.0.0.1", clients: tuple[str, ...] = ()):
        bindir = postgres_bindir()
        require(bindir is not None, "PostgreSQL's server binaries are not installed (run scripts/provision)")
        self.bindir: Path = bindir  # type: ignore[assignment]
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            require(_has_user("postgres"), "there is no postgres user (run scripts/provision)")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.host, self.clients = listen, ("127.0.0.1/32", *clients)
        self.user, self.password = "tektii", secrets.token_urlsafe(16)
        self.root: Path | None = None
        self.port = 0

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def url(self, database: str = "postgres", host: str | None = None) -> str:
        return f"postgresql://{self.user}:{self.password}@{host or self.host}:{self.port}/{database}"

    def _start(self) -> None:
        # Its own short directory: pytest's tmp dirs are root's 0700, which postgres cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="tektii-pg-"))
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        _run(*self.as_postgres, str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user,
             f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", timeout=120)
        hba = ["local all all scram-sha-256"] + [f"host all all {cidr} scram-sha-256" for cidr in self.clients]
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        for attempt in range(3):  # the free port can be taken between finding and binding it
            self.port = free_port()
            settings = {
                "listen_addresses": f"'{self.host}'", "port": self.port,
                "unix_socket_directories": f"'{self.data}'",
                # a test database: durability is not what is tested
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": 100, "shared_buffers": "'32MB'",
            }
            with open(self.data / "postgresql.auto.conf", "a") as conf:
                conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
            done = _run(*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.root / "server.log"), "-w", "-t", "60", "start", timeout=90, check=False)
            if done.returncode == 0:
                return
            log = (self.root / "server.log").read_text(errors="replace")
            if "could not bind" not in log or attempt == 2:
                raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()}\n{log[-2000:]}")

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.root is None:
            return
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            _run(*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30",
                 "stop", timeout=60, check=False)
        if pidfile.exists():  # did not stop in time: the postmaster and its children
            try:
                pid = int(pidfile.read_text().split()[0])
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- Ray ----------------------------------------------------------------------------------------

SUBNET_PREFIX = "10.231"
HEAD, WORKERS = "head", ("w1", "w2")
CLIENT_PORT = 10001  # Ray Client's server on the head (ray[client])


@dataclass
class RayNode:
    name: str
    netns: str
    ip: str
    veth: str
    resources: dict[str, float]


class RayCluster(_Started):
    """A Ray head and two worker nodes with 1 CPU each, each node in a network namespace of its
    own on a bridge, 10.231.N.0/24 (N picked free). The host side of the bridge has
    10.231.N.254, from where the driver (this process) reaches the head's Ray Client server:
    `ray.init(address=cluster.client_address)`. Worker nodes advertise `docker: 1` when the
    Docker engine runs. Every process of a node runs in its namespace, so teardown finds them all
    with `ip netns pids` and nothing else is touched."""

    def __init__(self, *, memory_mb: int = 3072, object_store_mb: int = 100, head_cpus: int = 1):
        require(os.geteuid() == 0, "the Ray cluster fixture needs root (network namespaces)")
        require(shutil.which("ip") is not None and shutil.which("iptables") is not None,
                "iproute2/iptables are not installed (run scripts/provision)")
        require((_BIN / "ray").exists(), "ray is not installed in this environment (scripts/setup: the ray extra)")
        self.memory_mb, self.object_store_mb = memory_mb, object_store_mb
        self.head_cpus = head_cpus  # 0: runs go to the worker nodes only (benchmarks/bench_scale_out.py)
        self.docker = docker_running()
        self.octet: int | None = None
        self.bridge = ""
        self.nodes: dict[str, RayNode] = {}
        self.temp_dir: Path | None = None
        self._forward_rule: list[str] | None = None
        # A loaded 2-core machine takes longer than Ray's 30 s for a raylet to register.
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_raylet_start_wait_time_s": "120"}

    @property
    def host_ip(self) -> str:
        return f"{SUBNET_PREFIX}.{self.octet}.254"

    @property
    def gcs_address(self) -> str:
        return f"{self.nodes[HEAD].ip}:6379"

    @property
    def client_address(self) -> str:
        return f"ray://{self.nodes[HEAD].ip}:{CLIENT_PORT}"

    def _start(self) -> None:
        reap_stale_clusters()
        self._network()
        self.temp_dir = Path(tempfile.mkdtemp(prefix="tkray"))  # short: Ray's unix socket paths
        self._start_node(HEAD)
        for name in WORKERS:  # one after the other: two `ray start` at once hang now and then
            self._start_node(name)

    # -- network ------------------------------------------------------------------------------
    def _network(self) -> None:
        self.octet = self._claim_bridge()
        net = f"{SUBNET_PREFIX}.{self.octet}"
        _run("ip", "addr", "add", f"{net}.254/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        # With br_netfilter, bridged frames pass FORWARD, whose policy Docker sets to DROP.
        self._forward_rule = forward_rule(self.bridge)
        _run("iptables", "-I", *self._forward_rule[:1], "1", *self._forward_rule[1:])
        for index, name in enumerate((HEAD, *WORKERS), start=1):
            node = RayNode(name, f"tkr{self.octet}-{name}-{os.getpid()}", f"{net}.{index}", f"tkr{self.octet}{name}",
                           {"docker": 1.0} if name != HEAD and self.docker else {})
            self.nodes[name] = node
            _run("ip", "netns", "add", node.netns)
            _run("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
            _run("ip", "link", "set", node.veth, "master", self.bridge, "up")
            _run("ip", "-n", node.netns, "addr", "add", f"{node.ip}/24", "dev", "eth0")
            _run("ip", "-n", node.netns, "link", "set", "eth0", "up")
            _run("ip", "-n", node.netns, "link", "set", "lo", "up")

    def _claim_bridge(self) -> int:
        """A free 10.231.N.0/24: creating the bridge tkrbN is the claim (it fails when another
        run has it); a subnet with a route on this machine is somebody else's."""
        octets = list(range(1, 254))
        random.shuffle(octets)
        for octet in octets:
            if _run("ip", "route", "show", f"{SUBNET_PREFIX}.{octet}.0/24", check=False).stdout.strip():
                continue
            if _run("ip", "link", "add", f"tkrb{octet}", "type", "bridge", check=False).returncode == 0:
                self.bridge = f"tkrb{octet}"
                return octet
        raise RuntimeError(f"no free {SUBNET_PREFIX}.N.0/24 for the Ray cluster")

    # -- nodes --------------------------------------------------------------------------------------
    def _start_node(self, name: str) -> None:
        node = self.nodes[name]
        cpus = str(self.head_cpus) if name == HEAD else "1"
        common = ["--node-ip-address", node.ip, "--num-cpus", cpus, "--memory", str(self.memory_mb * 2**20),
                  "--object-store-memory", str(self.object_store_mb * 2**20), "--temp-dir", str(self.temp_dir),
                  "--disable-usage-stats"]
        if name == HEAD:
            role = ["--head", "--port", "6379", "--ray-client-server-port", str(CLIENT_PORT), "--include-dashboard", "false"]
        else:
            role = ["--address", self.gcs_address]
        if node.resources:
            common += ["--resources", json.dumps(node.resources)]
        try:
            done = subprocess.run(["ip", "netns", "exec", node.netns, str(_BIN / "ray"), "start", *role, *common],
                                  capture_output=True, text=True, timeout=150, env=self.env)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"ray start on {name} did not return within 150 s\n{self.logs('raylet*')}") from exc
        if done.returncode != 0:
            raise RuntimeError(f"ray start on {name} failed: {done.stderr[-3000:]}\n{self.logs('raylet*')}")

    def pids(self, name: str) -> list[int]:
        out = _run("ip", "netns", "pids", self.nodes[name].netns, check=False).stdout
        return [int(p) for p in out.split()]

    def raylet_pid(self, name: str) -> int:
        for pid in self.pids(name):
            try:
                if b"raylet/raylet" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        raise RuntimeError(f"no raylet runs on {name}")

    def kill_raylet(self, name: str) -> None:
        os.kill(self.raylet_pid(name), signal.SIGKILL)

    def stop_node(self, name: str) -> None:
        """Every process of the node (SIGTERM, then SIGKILL after 3 s)."""
        _end_all(lambda: self.pids(name), name)

    def restart_node(self, name: str) -> None:
        self.stop_node(name)
        self._start_node(name)

    def restore_nodes(self, names: Iterable[str]) -> None:
        """Start again each of these nodes whose raylet a test killed, then wait until every node
        of the cluster is alive (for the next test of the module)."""
        for name in names:
            try:
                self.raylet_pid(name)
            except RuntimeError:
                self.restart_node(name)
        self.wait_for_nodes(len(self.nodes))

    def connect(self, attempts: int = 3) -> None:
        """`ray.init` this process as a Ray Client driver. Retried: under load the head's client
        server sometimes loses the per-driver server it starts ("Starting Ray client server
        failed"); the last failure comes with the client server's logs."""
        import ray

        for attempt in range(attempts):
            try:
                ray.init(address=self.client_address, logging_level="WARNING")
                return
            except ConnectionAbortedError as exc:  # the server side failed; a wrong address is not retried
                ray.shutdown()
                if attempt == attempts - 1:
                    logs = self.logs("ray_client_server*")
                    raise RuntimeError(f"could not connect to {self.client_address}: {exc}\n{logs}") from exc

    def logs(self, pattern: str, tail: int = 2000) -> str:
        """The tails of the nodes' log files matching `pattern` (for failure messages)."""
        if self.temp_dir is None:
            return ""
        found = sorted(self.temp_dir.glob(f"session_*/logs/{pattern}"))
        return "\n".join(f"== {path.name}\n{path.read_text(errors='replace')[-tail:]}" for path in found)

    def wait_for_nodes(self, count: int = 3, timeout: float = 60) -> None:
        """Until the connected driver sees `count` live nodes (ray.init must have run)."""
        import ray

        _wait(lambda: sum(n["Alive"] for n in ray.nodes()) >= count, timeout, f"{count} Ray nodes alive", 0.5)

    def node_names(self) -> dict[str, str]:
        """Ray node id -> our node name (for the connected driver)."""
        import ray

        by_ip = {n.ip: n.name for n in self.nodes.values()}
        return {n["NodeID"]: by_ip[n["NodeManagerAddress"]] for n in ray.nodes() if n["NodeManagerAddress"] in by_ip}

    # -- teardown -----------------------------------------------------------------------------------
    def close(self) -> None:
        errors = []
        for name in reversed(list(self.nodes)):
            node = self.nodes[name]
            try:
                self.stop_node(name)
            except Exception as exc:  # noqa: BLE001 - go on tearing down the rest
                errors.append(f"{name}: {exc}")
            _run("ip", "netns", "del", node.netns, check=False)  # takes its end of the veth along
            _run("ip", "link", "del", node.veth, check=False)
        self.nodes = {}
        if self._forward_rule:
            _run("iptables", "-D", *self._forward_rule, check=False)
            self._forward_rule = None
        if self.bridge:
            _run("ip", "link", "del", self.bridge, check=False)
            self.bridge = ""
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None
        if errors:
            raise RuntimeError("Ray cluster teardown: " + "; ".join(errors))


def forward_rule(bridge: str) -> list[str]:
    """The FORWARD rule that lets frames between the bridge's ports through."""
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT", "-m", "comment", "--comment", "tektii-test-ray"]


_NETNS = re.compile(r"tkr(\d+)-(head|w1|w2)-(\d+)")


def reap_stale_clusters() -> None:
    """Tear down what a killed test process left (its pid is in the namespaces' names): the
    nodes' processes, the namespaces, the bridge and its FORWARD rule. A live owner's cluster,
    or another tool's namespace, is not touched."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for name in names:
        match = _NETNS.fullmatch(name)
        if match is None or _alive(int(match[3])):
            continue
        _end_all(lambda name=name: [int(p) for p in _run("ip", "netns", "pids", name, check=False).stdout.split()], name)
        _run("ip", "netns", "del", name, check=False)
        bridge = f"tkrb{match[1]}"
        rule = forward_rule(bridge)
        while _run("iptables", "-C", *rule, check=False).returncode == 0:
            _run("iptables", "-D", *rule, check=False)
        _run("ip", "link", "del", bridge, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _end_all(pids, what: str) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        for pid in pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            _wait(lambda: not pids(), grace, f"{what}'s processes ended")
            return
        except TimeoutError:
            if sig == signal.SIGKILL:
                raise

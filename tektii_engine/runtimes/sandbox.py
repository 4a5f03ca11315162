"""Run a strategy image so that it reaches the engine's API and nothing else.

Topology (see docs/runtimes.md)::

    network container  (--network none, cap_drop ALL, read-only): owns the namespace
      direct: a bare holder (namespace.py); the engine's listening socket on
        127.0.0.1:8080 is opened inside the namespace (setns, needs root), so the
        strategy connects straight to the engine
      relay (rootless engines, or an engine that cannot serve a socket): the relay
        listens on 127.0.0.1:8080 and forwards each connection to the engine's Unix
        socket (its directory bind-mounted read-only); runs as our uid
    strategy container  (network_mode container:<network>, cap_drop ALL,
      no-new-privileges, read-only root with a tmpfs /tmp, memory/CPU/pids limits)
      TEKTII_TRADING_GATEWAY_URL=http://127.0.0.1:8080

The namespace has only a loopback interface and no route, so the platform API, the
registry, the host's loopback services and the internet are unreachable. Both
containers are removed when the strategy exits, crashes, is stopped, exceeds its
wall-clock limit, or when the Python process exits.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from tektii_core.contracts import LogFn, TektiiError
from tektii_engine.docker_client import docker_client
from tektii_engine.runlog import LineSplitter
from tektii_engine.runtimes import namespace, relay
from tektii_engine.runtimes.namespace import (
    GATEWAY_PORT,
    ROLE_LABEL,
    RUN_LABEL,
    Holder,
    container_name,
    engine_can_enter_namespaces,
    hardening,
)
from tektii_engine.runtimes.relay_image import ensure_relay_image

GATEWAY_URL_IN_SANDBOX = f"http://127.0.0.1:{GATEWAY_PORT}"
_SOCKET_DIR_IN_RELAY = "/run/tektii"
_RELAY_READY_TIMEOUT_S = 20.0
_TAIL_LINES = 2000


@attrs.frozen
class SandboxLimits:
    """Resource limits of one strategy container; None means no limit."""

    memory_mb: int | None = 512
    cpus: float | None = 1.0
    pids: int | None = 256
    wall_clock_s: float | None = None
    tmp_mb: int = 64  # the writable /tmp (a tmpfs, counted against memory)


def gateway_env(api_key: str) -> dict[str, str]:
    """The variables the `tektii` SDK reads, pointing at the relay inside the sandbox."""
    return {
        "TEKTII_TRADING_GATEWAY_URL": GATEWAY_URL_IN_SANDBOX,
        "TRADING_GATEWAY_URL": GATEWAY_URL_IN_SANDBOX,
        "TEKTII_TRADING_GATEWAY_API_KEY": api_key,
        "TRADING_GATEWAY_API_KEY": api_key,
    }


def _ensure_image(client: Any, image: str, log: LogFn) -> None:
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    first = image.split("/", 1)[0]
    # Only pull from an explicit registry host (the platform's); never from Docker Hub.
    if "/" not in image or not ("." in first or ":" in first or first == "localhost"):
        raise TektiiError(f"Strategy image {image} is not available locally")
    log(f"tektii: pulling {image}")
    try:
        client.images.pull(image)
    except docker.errors.APIError as err:
        raise TektiiError(f"Could not pull strategy image {image}: {err.explanation or err}") from err


class HostBridge:
    """A Unix socket in a private directory that forwards to the engine's TCP address.

    Used when the engine listens only on TCP: the relay container cannot reach the
    host's loopback, but it can reach a bind-mounted Unix socket.
    """

    def __init__(self, gateway_url: str):
        import asyncio

        parts = urlsplit(gateway_url)
        if not parts.hostname or not parts.port:
            raise TektiiError(f"Gateway URL {gateway_url!r} has no host and port")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        self._dir = Path(tempfile.mkdtemp(prefix="tektii-gw-"))
        self.socket = self._dir / "gateway.sock"
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        started = threading.Event()

        async def start() -> None:
            self._server = await relay.start_server(f"unix:{self.socket}", f"tcp:{host.strip('[]')}:{parts.port}")

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="tektii-host-bridge", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise TektiiError("Could not start the host bridge to the gateway")

    def close(self) -> None:
        if self._thread.is_alive():

            def shutdown() -> None:
                self._server.close()
                self._loop.stop()

            self._loop.call_soon_threadsafe(shutdown)
            self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)


class SandboxedStrategy:
    """A running strategy container and the container owning its network namespace (the relay,
    or a bare holder when the engine listens inside it); satisfies RunningStrategy."""

    def __init__(self, client: Any, network_container: Any, log: LogFn, limits: SandboxLimits):
        self._client = client
        self._relay = network_container
        self._container: Any = None
        self._log = log
        self._limits = limits
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._cleaned = False
        self._exit_code: int | None = None
        self._on_cleanup: list[Any] = []
        self._timer: threading.Timer | None = None
        self._log_thread: threading.Thread | None = None
        self._watch_thread: threading.Thread | None = None
        self._direct = False
        self._holder: Holder | None = None  # the direct mode's network container
        self.exit_reason: str | None = None
        """Why the strategy ended, when it ended abnormally (limit, crash, stop)."""

    # -- RunningStrategy ----------------------------------------------------------------

    @property
    def container_id(self) -> str | None:
        return self._container.id if self._container is not None else None

    @property
    def relay_id(self) -> str:
        """The container owning the network namespace (the relay, or the direct mode's holder)."""
        return self._relay.id

    @property
    def direct(self) -> bool:
        """Whether the strategy connects straight to the engine (no relay in between)."""
        return self._direct

    def poll(self) -> int | None:
        """The exit code once the strategy has ended and both containers are removed."""
        return self._exit_code if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self.poll()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the strategy (SIGTERM, then SIGKILL after `timeout`) and remove everything."""
        import docker.errors

        with self._lock:
            if self._done.is_set():
                return
            # Still running (not already exiting on its own): this stop is the reason.
            running = not self._cleaned and self._exit_code is None
            if running and self.exit_reason is None:
                self.exit_reason = "stopped by the engine"
        if running and self._container is not None:
            try:
                self._container.stop(timeout=max(0, round(timeout)))
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                self._emit(f"tektii: could not stop the strategy container: {err}")
        # Also when the watcher is already cleaning up: return only once everything is gone.
        if self._watch_thread is not None and self._watch_thread is not threading.current_thread():
            self._watch_thread.join(timeout + 30)
        self._cleanup()
        self._done.set()

    def log_tail(self, lines: int = 50) -> str:
        tail = list(self._tail)
        return "\n".join(tail[-lines:] if lines > 0 else [])

    # -- internals ----------------------------------------------------------------------

    def _emit(self, line: str) -> None:
        self._tail.append(line)
        # A failing log sink must not stop the run.
        with contextlib.suppress(Exception):
            self._log(line)

    def _start(self, container: Any) -> None:
        self._container = container
        container.start()
        self._log_thread = threading.Thread(target=self._stream_logs, daemon=True)
        self._log_thread.start()
        self._watch_thread = threading.Thread(target=self._watch, daemon=True)
        self._watch_thread.start()
        if self._limits.wall_clock_s:
            self._timer = threading.Timer(self._limits.wall_clock_s, self._wall_clock_expired)
            self._timer.daemon = True
            self._timer.start()

    def _stream_logs(self) -> None:
        import docker.errors
        import requests

        splitter = LineSplitter()  # an over-long line becomes several, nothing is cut off
        received = 0

        def feed(chunk: bytes) -> None:
            for line in splitter.feed(chunk):
                self._emit(line)

        try:
            for chunk in self._container.logs(stream=True, follow=True):
                received += len(chunk)
                feed(chunk)
            # The follow stream can end before the daemon has stored the last output of an
            # exiting container (seen with a final line without newline): read the rest.
            self._container.wait()
            feed(self._container.logs(stream=False)[received:])
        except (docker.errors.APIError, requests.RequestException, OSError):
            pass
        for line in splitter.flush():
            self._emit(line)

    def _watch(self) -> None:
        import docker.errors
        import requests

        try:
            code = int(self._container.wait()["StatusCode"])
        except (docker.errors.APIError, requests.RequestException, OSError) as err:
            code = -1
            self.exit_reason = self.exit_reason or f"lost track of the strategy container: {err}"
        try:  # while the log thread reads the last output
            self._container.reload()
            if self._container.attrs.get("State", {}).get("OOMKilled"):
                self.exit_reason = f"strategy exceeded its memory limit of {self._limits.memory_mb} MB and was killed"
        except (docker.errors.APIError, requests.RequestException):
            pass
        if self._log_thread is not None:
            self._log_thread.join(10)
        with self._lock:
            self._exit_code = code
            if self.exit_reason is None and code != 0:
                self.exit_reason = f"strategy exited with code {code}"
        if self.exit_reason:
            self._emit(f"tektii: {self.exit_reason}")
        self._cleanup()
        self._done.set()

    def _wall_clock_expired(self) -> None:
        import docker.errors

        with self._lock:
            if self._done.is_set():
                return
            self.exit_reason = f"strategy exceeded its wall-clock limit of {self._limits.wall_clock_s:g} s and was stopped"
        try:
            self._container.kill()
        except docker.errors.APIError:
            pass

    def _relay_errors(self) -> None:
        try:
            out = self._relay.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - diagnostics only
            return
        for line in out.splitlines()[-20:]:
            self._emit(f"relay: {line}")

    def _cleanup(self) -> None:
        import docker.errors

        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
        if self._timer is not None:
            self._timer.cancel()
        if self.exit_reason:
            self._relay_errors()

        def remove(container: Any) -> None:
            try:
                if self._holder is not None and container is self._holder.container:
                    self._holder.remove()
                else:
                    container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                self._emit(f"tektii: could not remove container {container.short_id}: {err}")

        # Both at once: each removal is a round trip to the daemon on the run's way out.
        removals = [threading.Thread(target=remove, args=(c,)) for c in (self._container, self._relay) if c is not None]
        for thread in removals:
            thread.start()
        for thread in removals:
            thread.join()
        for callback in self._on_cleanup:
            callback()
        _live.discard(self)


_live: weakref.WeakSet[SandboxedStrategy] = weakref.WeakSet()


@atexit.register
def _stop_all_on_exit() -> None:
    for strategy in list(_live):
        strategy.stop(timeout=1.0)


def start_sandboxed(
    *,
    run_id: str,
    image: str,
    api_key: str,
    gateway_socket: Path | None = None,
    gateway_url: str | None = None,
    serve_socket: Callable[[socket.socket], None] | None = None,
    env: dict[str, str] | None = None,
    limits: SandboxLimits | None = None,
    log: LogFn = lambda line: None,
    client: Any | None = None,
) -> SandboxedStrategy:
    """Start `image` isolated so that it reaches the engine's API only; see the module docstring.

    Direct when the engine offers `serve_socket` and this process may enter the strategy's
    network namespace: the engine then serves a socket listening inside it. Otherwise through
    a relay to `gateway_socket` (a Unix socket; its directory is mounted into the relay, so
    keep it in a directory of its own) or, when that is None, to a host-side bridge to the
    TCP `gateway_url`.
    """
    import docker.errors

    limits = limits or SandboxLimits()
    client = client or docker_client()
    relay_image = ensure_relay_image(client, log)
    _ensure_image(client, image, log)

    labels = {RUN_LABEL: run_id}
    network: Any = None
    bridge: HostBridge | None = None
    sandbox: SandboxedStrategy | None = None
    resources: dict[str, Any] = {}
    if limits.memory_mb:
        # Equal memory and memory+swap limits: no swapping past the limit.
        resources["mem_limit"] = f"{limits.memory_mb}m"
        resources["memswap_limit"] = f"{limits.memory_mb}m"
    if limits.cpus:
        resources["nano_cpus"] = int(limits.cpus * 1e9)
    if limits.pids:
        resources["pids_limit"] = int(limits.pids)

    def create_strategy(network_id: str) -> Any:
        return client.containers.create(
            image,
            name=container_name(run_id, "strategy"),
            labels={**labels, ROLE_LABEL: "strategy"},
            network_mode=f"container:{network_id}",
            environment={"HOME": "/tmp", **(env or {}), **gateway_env(api_key)},
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_mb}m"},
            # A tiny init as PID 1 so SIGTERM reaches the strategy and stop() is prompt.
            init=True,
            **resources,
            **hardening(),
        )

    container: Any = None
    holder: Holder | None = None
    try:
        if serve_socket is not None and engine_can_enter_namespaces(client):
            started = _start_direct(client, relay_image, run_id, serve_socket, create_strategy, log)
            if started is not None:
                holder, container = started
                network = holder.container
        direct = network is not None
        if not direct:
            if gateway_socket is None:
                if not gateway_url:
                    raise TektiiError("The docker runtime needs the gateway's Unix socket or URL")
                bridge = HostBridge(gateway_url)
                gateway_socket = bridge.socket
            network = _start_relay(client, relay_image, run_id, labels, Path(gateway_socket).resolve())
        sandbox = SandboxedStrategy(client, network, log, limits)
        sandbox._direct = direct
        sandbox._holder = holder
        sandbox._container = container
        _live.add(sandbox)
        if bridge is not None:
            sandbox._on_cleanup.append(bridge.close)
            bridge = None
        if not direct:
            _wait_relay_ready(network)
            container = sandbox._container = create_strategy(network.id)
        sandbox._start(container)
    except BaseException as err:
        if sandbox is not None:
            sandbox.exit_reason = sandbox.exit_reason or "failed to start"
            sandbox._cleanup()
        elif holder is not None:
            holder.remove()
        elif network is not None:
            network.remove(force=True)
        if bridge is not None:
            bridge.close()
        if isinstance(err, docker.errors.APIError):
            raise TektiiError(f"Could not start the strategy container: {err.explanation or err}") from err
        raise
    return sandbox


def _start_direct(
    client: Any,
    image: str,
    run_id: str,
    serve_socket: Callable[[socket.socket], None],
    create_strategy: Callable[[str], Any],
    log: LogFn,
) -> tuple[Holder, Any] | None:
    """(the namespace's holder, started, with the engine serving inside it; the strategy
    container, created, not started), or None when the namespace cannot be entered (use the
    relay). The holder a spare worker started ahead (namespace.warm_up) when there is one."""
    from concurrent.futures import ThreadPoolExecutor

    holder = namespace.take_spare() or Holder(client, image, run_id)
    started = False
    # The strategy container needs only the holder's id: create it while the holder starts.
    with ThreadPoolExecutor(1, thread_name_prefix="tektii-create") as pool:
        creating = pool.submit(create_strategy, holder.id)
        try:
            listener = holder.listener or holder.start(log)
            if listener is None:
                return None
            serve_socket(listener)
            holder.listener = None  # the engine owns (and closes) the socket from here on
            strategy = creating.result()
            started = True
            return holder, strategy
        finally:
            if not started:  # the relay takes over, or the error goes up: leave nothing behind
                with contextlib.suppress(Exception):
                    creating.result().remove(force=True)
                holder.remove()


def _start_relay(client: Any, image: str, run_id: str, labels: dict[str, str], gateway_socket: Path) -> Any:
    return client.containers.run(
        image,
        detach=True,
        name=container_name(run_id, "relay"),
        labels={**labels, ROLE_LABEL: "relay"},
        network_mode="none",
        # The engine's socket is only writable by its owner: run the relay as us.
        user=f"{os.getuid()}:{os.getgid()}",
        environment={
            "RELAY_LISTEN": f"tcp:127.0.0.1:{GATEWAY_PORT}",
            "RELAY_TARGET": f"unix:{_SOCKET_DIR_IN_RELAY}/{gateway_socket.name}",
        },
        volumes={str(gateway_socket.parent): {"bind": _SOCKET_DIR_IN_RELAY, "mode": "ro"}},
        mem_limit="64m",
        memswap_limit="64m",
        pids_limit=32,
        nano_cpus=500_000_000,
        **hardening(),
    )


def _wait_relay_ready(container: Any) -> None:
    deadline = time.monotonic() + _RELAY_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        if relay.READY_LINE in output:
            return
        container.reload()
        if container.status in ("exited", "dead"):
            raise TektiiError(f"The gateway relay exited at start: {output.strip()[-500:]}")
        time.sleep(0.05)
    raise TektiiError(f"The gateway relay did not start within {_RELAY_READY_TIMEOUT_S:g} s")


def remove_run_containers(run_id: str | None = None, client: Any | None = None) -> int:
    """Remove containers this runtime left behind (all runs when `run_id` is None).

    For the platform at start-up, after a crash; returns how many were removed.
    """
    client = client or docker_client()
    label = f"{RUN_LABEL}={run_id}" if run_id is not None else RUN_LABEL
    removed = 0
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True, v=True)
        removed += 1
    return removed

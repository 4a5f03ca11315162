"""The direct mode's network namespace: a bare holder container owns it, and the engine's
listening socket is opened inside it (topology in sandbox.py and docs/runtimes.md).

A holder lives as long as the process that made it: it runs `cat` on a stdin only that
process is attached to, so when the process ends (even killed) the holder's stdin closes,
`cat` ends and Docker removes the container. That lets a spare worker start one ahead of
its run (`warm_up`): a run then waits only for its strategy container's start.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from typing import Any

from tektii_core.contracts import LogFn

GATEWAY_PORT = 8080
RUN_LABEL = "org.tektii.run-id"
ROLE_LABEL = "org.tektii.role"
SPARE_RUN_ID = "spare"  # the run label of a holder made before its run was known
_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, _CLONE_NEWNET)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def listen_in_namespace(container: Any, port: int = GATEWAY_PORT) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:`port` inside `container`'s network namespace.

    Opened by a short-lived thread that enters the namespace (setns needs CAP_SYS_ADMIN over
    it: a rootful engine and a root worker on the same host); the socket keeps the namespace
    it was made in. OSError when that is not possible here (the caller then uses the relay).
    """
    pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
    if pid <= 0:
        raise OSError(f"container {container.short_id} has no process")
    outcome: list[Any] = []

    def enter_and_listen() -> None:
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                # The pid must still be the container's (not a reused one, not another pid
                # namespace's): check after the namespace is held open.
                with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
                    if container.id not in cgroup.read():
                        raise OSError(f"process {pid} is not container {container.short_id}'s")
                _setns(target)
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        sock.bind(("127.0.0.1", port))
                        sock.listen(128)
                        sock.setblocking(False)
                    except OSError:
                        sock.close()
                        raise
                    outcome.append(sock)
                finally:
                    _setns(own)  # this thread ends anyway; but leave it as it came
            finally:
                os.close(target)
                os.close(own)
        except OSError as err:
            outcome.append(err)

    thread = threading.Thread(target=enter_and_listen, name="tektii-netns-listen")
    thread.start()
    thread.join()
    if not outcome:
        raise OSError("could not open a socket in the strategy's network namespace")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


def engine_can_enter_namespaces(client: Any) -> bool:
    """Cheap pre-check: root here and a rootful engine (a rootless one's namespaces are not ours)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not os.path.exists("/proc/thread-self/ns/net"):
        return False
    key = client.api.base_url  # the daemon, whichever client object talks to it
    if key not in _rootless_engines:
        options = client.info().get("SecurityOptions") or []
        _rootless_engines[key] = any("rootless" in str(o) for o in options)
    return not _rootless_engines[key]


_rootless_engines: dict[str, bool] = {}


def container_name(run_id: str, role: str) -> str:
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", run_id)[:64] or "run"
    return f"tektii-{safe}-{role}-{uuid.uuid4().hex[:6]}"


def hardening() -> dict[str, Any]:
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "ipc_mode": "private",
    }


class Holder:
    """A created holder container and this process's attachment to its stdin (its lifetime)."""

    def __init__(self, client: Any, image: str, run_id: str):
        self.container = client.containers.create(
            image,
            entrypoint=["cat"],  # ends when its stdin closes: with the attaching process
            command=[],
            stdin_open=True,  # and StdinOnce (the SDK sets it when not detached)
            auto_remove=True,
            name=container_name(run_id, "network"),
            labels={RUN_LABEL: run_id, ROLE_LABEL: "network"},
            network_mode="none",
            user="65534:65534",  # nobody: it only holds the namespace
            mem_limit="16m",
            memswap_limit="16m",
            pids_limit=4,
            nano_cpus=100_000_000,
            **hardening(),
        )
        try:
            self._stdin = client.api.attach_socket(self.container.id, params={"stdin": 1, "stream": 1})
        except BaseException:
            self.container.remove(force=True)
            raise
        self.listener: socket.socket | None = None

    @property
    def id(self) -> str:
        return self.container.id

    def start(self, log: LogFn) -> socket.socket | None:
        """Start it and open the engine's socket inside; None (logged) when that cannot be done."""
        self.container.start()
        self.listener = _listen_in_started(self.container, log)
        return self.listener

    def running(self) -> bool:
        import docker.errors
        import requests

        try:
            self.container.reload()
        except (docker.errors.APIError, requests.RequestException):
            return False
        return self.container.status == "running"

    def remove(self) -> None:
        """Remove it now (idempotent; Docker may already be removing it)."""
        import docker.errors

        if self.listener is not None:
            self.listener.close()
            self.listener = None
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: its removal is already in progress
                raise
        finally:
            self._stdin.close()


def _listen_in_started(holder: Any, log: LogFn, attempts: int = 3) -> socket.socket | None:
    """listen_in_namespace on a just-started container, or None (logged) when it cannot be done.

    Only this step falls back to the relay: a failing Docker API call is an error, not a reason
    to change the path silently. A few tries, since the daemon may report the pid a moment late.
    """
    for attempt in range(1, attempts + 1):
        holder.reload()  # the start gave it a pid
        try:
            return listen_in_namespace(holder)
        except OSError as err:
            reason = err
            time.sleep(0.05 * attempt)
    log(f"tektii: cannot serve inside the strategy's network namespace ({reason}); using the relay")
    return None


_spare: Holder | None = None


def warm_up() -> None:
    """Do now what every docker run needs first (a spare worker calls this before its run
    arrives): the API version, whether the engine is rootless (its /info is slow), the relay
    image, and a started holder with the engine's socket open in it."""
    global _spare
    from tektii_engine.docker_client import docker_client
    from tektii_engine.runtimes.relay_image import ensure_relay_image

    client = docker_client()
    image = ensure_relay_image(client)
    if _spare is None and engine_can_enter_namespaces(client):
        holder = Holder(client, image, SPARE_RUN_ID)
        try:
            listening = holder.start(lambda line: None) is not None
        except BaseException:
            holder.remove()
            raise
        if listening:
            _spare = holder
        else:
            holder.remove()


def take_spare() -> Holder | None:
    """The holder warm_up started, if it is still running (each is used by one run only)."""
    global _spare
    holder, _spare = _spare, None
    if holder is not None and not holder.running():
        holder.remove()
        return None
    return holder

"""Start, find and stop the local platform as a background process (for `tektii platform`).

The running server records itself in ``<data_dir>/platform.json`` (url, pid); its output
goes to ``<data_dir>/platform.log``. Only the standard library and platformdirs are
imported here, so that the CLI can use this module cheaply.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from tektii_core.cli.platform_admin import DEFAULT_PORT  # preferred, so that the address stays the same across restarts
from tektii_core.contracts import TektiiError

STATE_FILE = "platform.json"  # written by server.write_state
LOG_FILE = "platform.log"
LOCK_FILE = "platform.lock"
START_TIMEOUT = 30.0
SERVICE = "tektii-platform"  # what /healthz names itself


@attrs.frozen
class PlatformInfo:
    url: str
    pid: int
    database: str | None = None  # where its state is: the SQLite file, or the URL without password
    backend: str | None = None  # where its runs execute (TEKTII_EXECUTION_BACKEND)


def data_dir_default() -> Path:
    """``$TEKTII_DATA_DIR``, else the XDG data directory (e.g. ~/.local/share/tektii)."""
    override = os.environ.get("TEKTII_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tektii", appauthor=False))


def _read_state(data_dir: Path) -> dict | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int) or not state.get("url"):
        return None
    return state


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child (else it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _health(url: str, timeout: float = 2.0) -> dict | None:
    import urllib.request  # not at module import: data_dir_default() alone should stay cheap

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):  # URLError is an OSError
        return None
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) and data.get("service") == SERVICE else None


def status(data_dir: Path) -> PlatformInfo | None:
    """The platform serving ``data_dir``, if its process is alive and answers /healthz as
    that same process; None otherwise."""
    state = _read_state(Path(data_dir))
    if state is None or not _alive(state["pid"]):
        return None
    health = _health(state["url"])
    if health is None or health.get("pid") != state["pid"]:
        return None
    return PlatformInfo(url=state["url"], pid=state["pid"], database=state.get("database"),
                        backend=state.get("executionBackend"))


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise `up`/`down` on one data directory across processes."""
    import fcntl

    with open(data_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server binds: connections of an earlier run in TIME-WAIT do not block it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Running from a source tree (not installed): let the child import the same packages.
    root = str(Path(__file__).resolve().parent.parent)
    if not {"site-packages", "dist-packages"} & set(Path(root).parts):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def start_background(data_dir: Path, port: int | None = None) -> PlatformInfo:
    """Start the platform for ``data_dir`` as a detached process on 127.0.0.1, or return the
    one already running. ``port=None`` prefers DEFAULT_PORT and falls back to a free port."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(data_dir):
        running = status(data_dir)
        if running is not None:
            return running
        if port is None:
            port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0
        log_path = data_dir / LOG_FILE
        command = [
            sys.executable, "-m", "tektii_platform", "serve",
            "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                start_new_session=True,  # survives the CLI and its terminal's Ctrl-C
                close_fds=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise TektiiError(
                    f"The local platform exited during start-up (exit code {code}): " + (_log_tail(log_path, 1) or "no output"),
                    hint=f"See {log_path}",
                )
            state = _read_state(data_dir)
            if state is not None and state["pid"] == process.pid:
                health = _health(state["url"], timeout=1.0)
                if health is not None and health.get("pid") == process.pid:
                    return PlatformInfo(url=state["url"], pid=process.pid, database=state.get("database"),
                                        backend=state.get("executionBackend"))
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise TektiiError(
            f"The local platform did not answer within {START_TIMEOUT:.0f} s",
            hint=f"See {log_path}",
        )


def _is_platform_process(pid: int, state: dict) -> bool:
    """Guard against signalling an unrelated process that reused a stale pid."""
    health = _health(state["url"], timeout=1.0)
    if health is not None:
        return health.get("pid") == pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # no /proc (or gone): without proof, leave it alone
    return b"tektii_platform" in cmdline or b"platform\0serve" in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def stop(data_dir: Path, timeout: float = 10) -> bool:
    """Stop the platform serving ``data_dir`` (SIGTERM, then SIGKILL after ``timeout``
    seconds). True if one was running."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return False
    with _locked(data_dir):
        state = _read_state(data_dir)
        if state is None:
            return False
        pid = state["pid"]
        stopped = False
        if _alive(pid) and _is_platform_process(pid, state):
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
            stopped = True
        # A clean shutdown removes it already; after a crash or SIGKILL it is stale.
        with contextlib.suppress(FileNotFoundError):
            (data_dir / STATE_FILE).unlink()
        return stopped


def bootstrap_local_user(data_dir: Path) -> tuple[str, str]:
    """Make sure the local user exists and issue it a new API key: (user_id, api_key).
    Earlier keys stay valid. Works whether or not the platform is running."""
    from . import accounts
    from .db import open_database

    db = open_database(Path(data_dir))
    try:
        user = accounts.ensure_local_user(db)
        return user.id, accounts.create_api_key(db, user.id)
    finally:
        db.close()

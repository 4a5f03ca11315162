"""The registry process: the CNCF distribution registry on loopback, with token auth.

``LocalRegistry`` runs ``docker-registry serve CONFIG`` (Debian package ``docker-registry``)
bound to 127.0.0.1 with its storage under a data directory, trusting the tokens of a
``TokenIssuer`` (tektii_platform.registry.tokens) and sending clients to ``token_realm`` for
them. What it stores is read through ``LocalRegistry.client`` (tektii_platform.registry.client).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from tektii_core.errors import TektiiError

from .client import RegistryClient
from .tokens import TokenIssuer

REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = "Install the CNCF distribution registry: apt-get install docker-registry"


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (from the first byte on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the registry (Go) binds: a port in TIME_WAIT after our own stop is still usable
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has exited; its parent just has not collected it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class LocalRegistry:
    """A distribution registry on 127.0.0.1 with its storage and config under `data_dir`.

    The port is remembered in ``data_dir/port`` so image references recorded by the platform
    stay valid across restarts; a new free port is chosen only when that one is taken.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        token_realm: str,
        *,
        issuer: TokenIssuer | None = None,
        port: int | None = None,
        binary: str | None = None,
        startup_timeout: float = 15.0,
    ):
        self.data_dir = Path(data_dir)
        self.token_realm = token_realm
        self.issuer = issuer or TokenIssuer(self.data_dir / "token")
        self._requested_port = port
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._log_offset = 0

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        if self.port is None:
            raise TektiiError("The registry has not been started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def client(self) -> RegistryClient:
        """What this registry stores, read as the platform."""
        return RegistryClient(self.address, self.issuer)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "registry.log"

    def binary_path(self) -> str:
        found = shutil.which(self._binary or REGISTRY_BINARY)
        if not found:
            raise TektiiError(
                f"The image registry ({self._binary or REGISTRY_BINARY}) is not installed",
                hint=INSTALL_HINT,
            )
        return found

    def _choose_port(self) -> int:
        if self._requested_port:
            return self._requested_port
        remembered = self.data_dir / "port"
        if remembered.exists():
            try:
                port = int(remembered.read_text().strip())
            except ValueError:
                port = 0
            if port and _port_free(port):
                return port
        port = free_port()
        remembered.write_text(f"{port}\n")
        return port

    def config(self, port: int) -> dict[str, Any]:
        """The registry configuration (JSON is valid YAML, which the registry reads)."""
        return {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "fields": {"service": "registry"}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.data_dir / "storage")},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": {
                "addr": f"127.0.0.1:{port}",
                "secret": self._http_secret(),
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "auth": {
                "token": {
                    "realm": self.token_realm,
                    "service": self.issuer.service,
                    "issuer": self.issuer.issuer,
                    "rootcertbundle": str(self.issuer.cert_path),
                }
            },
        }

    def _http_secret(self) -> str:
        path = self.data_dir / "http-secret"
        if not path.exists():
            _write_private(path, secrets.token_hex(32))
        return path.read_text().strip()

    def start(self) -> None:
        """Start the registry and wait until it answers; idempotent while running."""
        if self.running:
            return
        binary = self.binary_path()
        # The config holds the HTTP secret, the storage every user's images: ours alone.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        (self.data_dir / "storage").mkdir(mode=0o700, exist_ok=True)
        self._reap_orphan()
        port = self._choose_port()
        if not _port_free(port):
            # checked first: otherwise whoever holds the port would answer our health check
            raise TektiiError(f"Port {port} for the image registry is already in use")
        config_path = self.data_dir / "config.json"
        _write_private(config_path, json.dumps(self.config(port), indent=2))
        self._rotate_log()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # kept open for the life of the process; closed in stop()
        self._log_file = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        self._process = subprocess.Popen(
            [binary, "serve", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the platform's terminal is handled by the platform
        )
        self.port = port
        self.pid_path.write_text(f"{self._process.pid}\n")
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise TektiiError(f"The image registry exited at start (code {self._process.returncode}): {self._log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise TektiiError(
            f"The image registry did not answer on {self.address} within {self.startup_timeout:.0f}s: {self._log_tail()}"
        )

    def healthy(self, timeout: float = 1.0) -> bool:
        """Whether /v2/ answers as a token-protected registry (401 with a Bearer challenge)."""
        if self.port is None:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=timeout) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as err:
            return err.code == 401 and "Bearer" in (err.headers.get("WWW-Authenticate") or "")
        except OSError:
            return False

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "registry.pid"

    def _reap_orphan(self) -> None:
        """Stop a registry this data directory's owner started and never stopped (the platform
        was killed): it would hold the remembered port. Only a process whose command line
        names this directory's config is touched."""
        try:
            pid = int(self.pid_path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.data_dir / "config.json").encode() not in cmdline:
            return  # the pid was reused by something else
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        # the kernel may release its listening socket a moment after the process is gone
        try:
            port = int((self.data_dir / "port").read_text().strip())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _port_free(port):
            time.sleep(0.05)

    def _rotate_log(self, limit: int = 10 * 1024 * 1024) -> None:
        """The registry logs every request; keep one previous log once it passes `limit`."""
        if self.log_path.exists() and self.log_path.stat().st_size > limit:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))

    def _log_tail(self, lines: int = 3) -> str:
        """The telling part of this run's log: its panic/fatal line, else the last lines."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        for line in text:
            if line.startswith("panic:") or "level=fatal" in line:
                return line
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the registry (SIGTERM, then SIGKILL after `timeout`); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            self.pid_path.unlink(missing_ok=True)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

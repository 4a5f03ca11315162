"""The platform's image registry: the CNCF distribution registry on loopback, with token auth.

``LocalRegistry`` runs ``docker-registry serve CONFIG`` (Debian package ``docker-registry``)
bound to 127.0.0.1 with its storage under a data directory. The registry trusts only bearer
tokens signed by the platform: ``TokenIssuer`` keeps an RSA key and a self-signed certificate
(the registry's ``rootcertbundle``) and signs JWTs (RS256) that name, per repository, the
actions a client may perform. The platform's token endpoint (``GET /v1/registry/token``,
the ``realm``) authenticates the push credentials it issued, decides which repositories they
cover and calls ``TokenIssuer.issue``; only the intersection of what was asked for and what
is allowed is granted, so one user's credentials cannot push to another user's repository.

Token protocol: https://distribution.github.io/distribution/spec/auth/token/ (docker clients
follow the 401 ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` challenge).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import attrs

from tektii_core.errors import TektiiError

DEFAULT_SERVICE = "tektii-registry"
DEFAULT_ISSUER = "tektii-platform"
REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = "Install the CNCF distribution registry: apt-get install docker-registry"

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: Any) -> str:
    """The key id the registry (docker/libtrust) computes for a public key: the first 240 bits
    of SHA-256 over the DER SubjectPublicKeyInfo, base32 in 12 groups of 4, joined by ':'."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@attrs.frozen
class Scope:
    """One requested access scope, e.g. ``repository:strat_a/ver_b:pull,push``."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
        # The name may itself contain ':' only for a registry host:port prefix, which clients
        # do not send; split type off the front and actions off the back.
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and kind and name):
            raise TektiiError(f"Invalid registry scope {text!r}")
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))


def parse_scopes(requested: str | Iterable[str] | None) -> list[Scope]:
    """Scopes from one string (space separated, as some clients send) or several."""
    if requested is None:
        return []
    items = [requested] if isinstance(requested, str) else list(requested)
    return [Scope.parse(part) for item in items for part in item.split() if part]


def _allowed_actions(granted: Mapping[str, Iterable[str]], name: str) -> set[str]:
    """Actions `granted` allows on repository `name`; keys are names or fnmatch patterns."""
    allowed: set[str] = set()
    for pattern, actions in granted.items():
        if pattern == name or fnmatch.fnmatchcase(name, pattern):
            allowed |= set(actions)
    if "*" in allowed:
        allowed |= {"pull", "push", "delete"}
    return allowed


class TokenIssuer:
    """Signs registry bearer tokens; the key and certificate live in `key_dir` and are kept.

    ``issue(subject, granted, requested_scope)`` is what the token endpoint calls once it has
    authenticated the client as `subject` and looked up what that subject may do.
    """

    def __init__(self, key_dir: str | os.PathLike[str], *, issuer: str = DEFAULT_ISSUER, service: str = DEFAULT_SERVICE):
        self.key_dir = Path(key_dir)
        self.issuer = issuer
        self.service = service
        self._key: Any = None
        self._kid: str | None = None
        self._load_or_create()

    @property
    def key_path(self) -> Path:
        return self.key_dir / "registry-token.key"

    @property
    def cert_path(self) -> Path:
        """The certificate bundle the registry verifies token signatures with."""
        return self.key_dir / "registry-token.crt"

    def _load_or_create(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        if self.key_path.exists() and self.cert_path.exists():
            self._key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
        else:
            self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.key_dir.chmod(0o700)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .sign(key, hashes.SHA256())
            )
            # Written key first, 0600, then the certificate: its presence marks a complete pair.
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self._key = key
        self._kid = libtrust_key_id(self._key.public_key())

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS (RS256) of `claims`, with the key id the registry looks up."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "kid": self._kid}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def token_for_access(self, subject: str, access: list[dict[str, Any]], *, ttl: int = 300) -> dict[str, Any]:
        """A token response granting exactly `access` (registry claim format)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 10,  # tolerate a little clock skew between us and the registry
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.sign(claims)
        issued_at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token, "expires_in": ttl, "issued_at": issued_at}

    def issue(
        self, subject: str, granted: Mapping[str, Iterable[str]], requested_scope: str | Iterable[str] | None, ttl: int = 300
    ) -> dict[str, Any]:
        """A token for `subject` granting, per requested repository scope, only the actions
        both requested and allowed by `granted` (repository name or fnmatch pattern -> actions).

        Scopes of other types (e.g. ``registry:catalog:*``) and repositories outside `granted`
        are granted nothing; the registry then answers 401/403 to the client.
        """
        access = []
        for scope in parse_scopes(requested_scope):
            if scope.type != "repository":
                continue
            actions = sorted(scope.actions & _allowed_actions(granted, scope.name))
            if actions:
                access.append({"type": "repository", "name": scope.name, "actions": actions})
        return self.token_for_access(subject, access, ttl=ttl)


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


@attrs.frozen
class ManifestInfo:
    """What the registry stores for one tag or digest of a repository."""

    digest: str  # the manifest digest (Docker-Content-Digest), "sha256:..."
    media_type: str
    size: int  # sum of config and layer sizes (compressed), bytes
    platforms: tuple[str, ...]  # "linux/amd64", ...; one entry per image in an index
    raw: dict[str, Any]


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

    # --- reading what is stored (the platform's own view, with a token it signs itself) -----
    def _get(
        self, path: str, access: list[dict[str, Any]], accept: Iterable[str] = (), method: str = "GET"
    ) -> tuple[dict[str, Any], Any]:
        token = self.issuer.token_for_access("tektii-platform", access, ttl=60)["token"]
        headers = {"Authorization": f"Bearer {token}"}
        if accept:
            headers["Accept"] = ", ".join(accept)
        request = urllib.request.Request(self.url + path, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = resp.read()
                return (json.loads(body) if body else {}), resp.headers
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise TektiiError(f"Not found in the registry: {path}") from None
            raise TektiiError(f"The registry answered {err.code} for {path}") from None
        except OSError as err:
            raise TektiiError(f"The registry at {self.address} is unreachable: {err}") from None

    def catalog(self) -> list[str]:
        """Every repository name in the registry."""
        names: list[str] = []
        path = "/v2/_catalog?n=1000"
        access = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
        while path:
            body, headers = self._get(path, access)
            names.extend(body.get("repositories") or [])
            link = headers.get("Link") or ""
            # Link: </v2/_catalog?last=x&n=1000>; rel="next"
            path = link[link.index("<") + 1 : link.index(">")] if "<" in link else ""
        return names

    def tags(self, repository: str) -> list[str]:
        pull = [{"type": "repository", "name": repository, "actions": ["pull"]}]
        body, _ = self._get(f"/v2/{repository}/tags/list", pull)
        return list(body.get("tags") or [])

    def manifest(self, repository: str, reference: str) -> ManifestInfo:
        """The manifest of `repository` at a tag or digest, with its platforms and size."""
        pull = [{"type": "repository", "name": repository, "actions": ["pull"]}]
        body, headers = self._get(f"/v2/{repository}/manifests/{reference}", pull, MANIFEST_TYPES)
        media_type = body.get("mediaType") or headers.get("Content-Type", "")
        digest = headers.get("Docker-Content-Digest") or reference
        manifests = [body]
        if media_type in INDEX_TYPES:
            manifests = [
                self._get(f"/v2/{repository}/manifests/{entry['digest']}", pull, MANIFEST_TYPES)[0]
                for entry in body.get("manifests", [])
            ]
        platforms = []
        size = 0
        for item in manifests:
            config, _ = self._get(f"/v2/{repository}/blobs/{item['config']['digest']}", pull)
            variant = f"/{config['variant']}" if config.get("variant") else ""
            platforms.append(f"{config.get('os')}/{config.get('architecture')}{variant}")
            size += item["config"].get("size", 0) + sum(layer.get("size", 0) for layer in item.get("layers", []))
        return ManifestInfo(digest, media_type, size, tuple(platforms), body)


# --- the token endpoint's logic (the platform's HTTP route and the tests' server call it) ---
Authenticate = Any  # Callable[[str, str], tuple[str, Mapping[str, Iterable[str]]] | None]


def token_endpoint(
    issuer: TokenIssuer, *, authorization: str | None, query: Mapping[str, list[str]], authenticate: Authenticate, ttl: int = 300
) -> tuple[int, dict[str, Any]]:
    """Answer one ``GET realm?service=...&scope=...`` request: (HTTP status, JSON body).

    `authenticate(username, password)` returns ``(subject, granted)`` for credentials the
    platform issued, or None. Missing or wrong credentials get 401 (docker/podman then report
    "unauthorized"); a wrong ``service`` 400; otherwise a token with what may be granted.
    """

    def error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"errors": [{"code": code, "message": message}]}

    services = query.get("service") or [issuer.service]
    if services[0] != issuer.service:
        return error(400, "UNSUPPORTED", f"unknown service {services[0]!r}")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return error(401, "UNAUTHORIZED", "credentials required")
    try:
        username, _, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return error(401, "UNAUTHORIZED", "malformed credentials")
    found = authenticate(username, password)
    if found is None:
        return error(401, "UNAUTHORIZED", "invalid credentials")
    subject, granted = found
    try:
        return 200, issuer.issue(subject, granted, query.get("scope") or [], ttl=ttl)
    except TektiiError as err:
        return error(400, "INVALID_SCOPE", err.message)

"""Registry bearer tokens: the platform is the token service of its registry.

The registry trusts only bearer tokens signed by the platform: ``TokenIssuer`` keeps an RSA key
and a self-signed certificate (the registry's ``rootcertbundle``) and signs JWTs (RS256) that
name, per repository, the actions a client may perform. ``token_endpoint`` answers one request
to the token realm (``GET /v1/registry/token``): it authenticates the credentials the platform
issued (tektii_platform.registry.credentials), decides which repositories they cover and calls
``TokenIssuer.issue``; only the intersection of what was asked for and what is allowed is
granted, so one user's credentials cannot push to another user's repository.

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
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from tektii_core.errors import TektiiError
from tektii_core.timeutil import format_time

DEFAULT_SERVICE = "tektii-registry"
DEFAULT_ISSUER = "tektii-platform"


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
        return {"token": token, "access_token": token, "expires_in": ttl, "issued_at": format_time(now)}

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


# --- the token endpoint's logic (the registry service and the tests' server call it) ---
Authenticate = Callable[[str, str], "tuple[str, Mapping[str, Iterable[str]]] | None"]


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

"""A real registry with a real token endpoint, for the registry and builder tests.

The platform serves ``GET /v1/registry/token``; here a tiny stdlib HTTP server on 127.0.0.1
plays that part around the same ``token_endpoint`` logic, with a table of issued credentials.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import attrs

from tektii_platform.registry.process import LocalRegistry
from tektii_platform.registry.tokens import TokenIssuer, token_endpoint

from .components import require


@attrs.define
class TokenServer:
    issuer: TokenIssuer
    # username -> (password, subject, granted repository patterns -> actions)
    accounts: dict[str, tuple[str, str, dict[str, set[str]]]] = attrs.field(factory=dict)
    requests: list[dict] = attrs.field(factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/registry/token"

    def add_account(self, subject: str, granted: dict[str, Iterable[str]]) -> tuple[str, str]:
        """Issue credentials (username, password) for `subject`, as the platform would."""
        username = f"{subject}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(24)
        self.accounts[username] = (password, subject, {k: set(v) for k, v in granted.items()})
        return username, password

    def authenticate(self, username: str, password: str):
        found = self.accounts.get(username)
        if found is None or not secrets.compare_digest(found[0], password):
            return None
        return found[1], found[2]

    def start(self) -> None:
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/v1/registry/token":
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                status, body = token_endpoint(
                    server_ref.issuer,
                    authorization=self.headers.get("Authorization"),
                    query=query,
                    authenticate=server_ref.authenticate,
                )
                server_ref.requests.append({"query": query, "status": status})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@attrs.define
class RegistryEnv:
    registry: LocalRegistry
    tokens: TokenServer

    def credentials(self, repository: str, subject: str = "user_test"):
        """Push credentials for one repository, like POST /v1/strategies/{id}/versions gives."""
        from tektii_core.contracts import PushCredentials

        username, password = self.tokens.add_account(subject, {repository: {"pull", "push"}})
        return PushCredentials(self.registry.address, repository, username, password)


def start_registry_env(data_dir: Path) -> RegistryEnv:
    if shutil.which("docker-registry") is None:
        require(False, "docker-registry is not installed (run scripts/provision)")
    issuer = TokenIssuer(data_dir / "keys")
    tokens = TokenServer(issuer)
    tokens.start()
    registry = LocalRegistry(data_dir / "registry", tokens.realm, issuer=issuer)
    registry.start()
    return RegistryEnv(registry, tokens)

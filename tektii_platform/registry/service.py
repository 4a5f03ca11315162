"""The platform's registry as a service of one platform process (``AppContext.registry``).

Started when the platform's socket is bound, so that its token realm is the platform's own
address (never one a request names), in the background: the API answers meanwhile, whoever
needs the registry waits for the start. Restarted when it died or the realm changed, stopped
with the platform. It issues the credentials its token endpoint (``GET /v1/registry/token``)
exchanges for bearer tokens; API handlers and the scheduler only call in here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tektii_core.errors import TektiiError

from . import credentials
from .client import RegistryClient
from .process import LocalRegistry
from .tokens import token_endpoint

if TYPE_CHECKING:
    from ..db import Database

log = logging.getLogger(__name__)


class RegistryUnavailable(TektiiError):
    """The registry cannot run here (not installed, shutting down, ...): the API answers 503."""


class RegistryService:
    """The registry in ``data_dir`` (``<platform data>/registry``) and its credentials in `db`."""

    def __init__(self, data_dir: Path, db: Database):
        self.data_dir = Path(data_dir)
        self.db = db
        self._lock = threading.Lock()
        self._realm: str | None = None
        self._running: LocalRegistry | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------
    def bind(self, realm: str) -> None:
        """The platform serves; its token endpoint is `realm`. Start the registry in the background."""
        with self._lock:
            self._realm = realm

        def start() -> None:
            try:
                self.registry()
            except RegistryUnavailable as exc:  # e.g. docker-registry is not installed: answered when needed
                log.info("the image registry did not start: %s", exc.message)

        threading.Thread(target=start, name="tektii-registry-start", daemon=True).start()

    def registry(self) -> LocalRegistry:
        """The running registry, configured with the current realm (restarted if it stopped or
        was configured with another); RegistryUnavailable when it cannot run."""
        with self._lock:
            if self._closed:
                raise RegistryUnavailable("The platform is shutting down")
            if self._realm is None:
                raise RegistryUnavailable("The platform does not know its own address yet")
            running = self._running
            if running is not None and running.running and running.token_realm == self._realm:
                return running
            if running is not None:
                running.stop()
                self._running = None
            started = LocalRegistry(self.data_dir, self._realm)
            try:
                started.start()
            except TektiiError as exc:
                raise RegistryUnavailable(exc.message, hint=exc.hint) from None
            self._running = started
            return started

    def close(self) -> None:
        """Stop the registry; nothing starts it again."""
        with self._lock:
            self._closed = True
            running, self._running = self._running, None
        if running is not None:
            running.stop()

    # -- what callers use ----------------------------------------------------------------------
    def address(self) -> str | None:
        """host:port of the registry, also while it starts or is stopped (it keeps its port
        across restarts, so stored image references stay valid); None before its first start."""
        running = self._running
        if running is not None and running.port:
            return running.address
        try:
            return f"127.0.0.1:{int((self.data_dir / 'port').read_text().strip())}"
        except (OSError, ValueError):
            return None

    def client(self) -> RegistryClient:
        """Read what the (running) registry stores."""
        return self.registry().client

    def push_credentials(self, user_id: str, strategy_id: str) -> dict[str, str]:
        """What ``version upload`` pushes a strategy's image with: registry, repository, login."""
        address = self.registry().address  # unavailable: no credentials for a registry that is not there
        repository = credentials.repository_for(strategy_id)
        return {"registry": address, "repository": repository,
                **credentials.issue(self.db, user_id, repository, ("push", "pull"), credentials.PUSH_TTL)}

    def pull_image(self, user_id: str, repository: str, digest: str) -> tuple[str, dict[str, str]]:
        """(image reference, pull login) for the platform's own pull of a run's image."""
        image = f"{self.registry().address}/{repository}@{digest}"
        issued = credentials.issue(self.db, user_id, repository, ("pull",), credentials.PULL_TTL)
        return image, {"username": issued["username"], "password": issued["password"]}

    def token(self, authorization: str | None, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Answer one request to the token realm: (HTTP status, JSON body)."""
        issuer = self.registry().issuer
        return token_endpoint(issuer, authorization=authorization, query=query,
                              authenticate=lambda user, password: credentials.authenticate(self.db, user, password))


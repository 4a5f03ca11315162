"""Registry credentials: short-lived logins for one repository, issued by the platform (push for
``version upload``, pull for a run's image) and accepted by its token endpoint. Only a hash of
each password is stored (tektii_platform.store.registry_credentials)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tektii_core.timeutil import format_time

from .. import store
from ..ids import db_time, now_db
from ..store import registry_credentials

if TYPE_CHECKING:
    from ..db import Database

PUSH_TTL = timedelta(hours=1)  # one upload's build and push
PULL_TTL = timedelta(hours=2)  # outlives a queued run's pull


def repository_for(strategy_id: str) -> str:
    """The repository that holds a strategy's images."""
    return f"strategies/{strategy_id}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()  # high-entropy secrets: no slow KDF needed


def issue(db: Database, user_id: str, repository: str, actions: Iterable[str], ttl: timedelta) -> dict[str, str]:
    """``{"username", "password", "expiresAt"}`` allowing `actions` on `repository` for `ttl`."""
    actions = tuple(actions)
    kind = "push" if "push" in actions else "pull"
    username = f"{kind}-{secrets.token_hex(8)}"
    password = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + ttl
    registry_credentials.insert(db, username=username, secret_hash=_hash(password), user_id=user_id,
                                repository=repository, actions=",".join(actions),
                                expires_at=db_time(expires), now=now_db())
    return {"username": username, "password": password, "expiresAt": format_time(expires.replace(microsecond=0))}


def authenticate(db: Database, username: str, password: str) -> tuple[str, Mapping[str, set[str]]] | None:
    """(user id, {repository: actions}) of valid issued credentials, else None."""
    row: store.Row | None = registry_credentials.find_valid(db, username, now_db())
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash(password)):
        return None
    return row["user_id"], {row["repository"]: set(row["actions"].split(","))}

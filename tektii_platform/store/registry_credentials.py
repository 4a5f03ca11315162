"""Table ``registry_credentials``: the short-lived registry logins the platform issued (only
their hashes), which its token endpoint accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Row, fetch_one
from .tables import registry_credentials as creds

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, *, username: str, secret_hash: str, user_id: str, repository: str, actions: str,
           expires_at: str, now: str) -> None:
    """Store one credential, and drop those expired before `now` on the way."""
    with db.transaction():
        db.execute(creds.delete().where(creds.c.expires_at < now))
        db.execute(creds.insert().values(username=username, secret_hash=secret_hash, user_id=user_id,
                                         repository=repository, actions=actions, expires_at=expires_at))


def find_valid(db: Database, username: str, now: str) -> Row | None:
    """The credential `username` unless it expired before `now`."""
    return fetch_one(db, sa.select(creds.c.secret_hash, creds.c.user_id, creds.c.repository, creds.c.actions)
                     .where(creds.c.username == username, creds.c.expires_at >= now))

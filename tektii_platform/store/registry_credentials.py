"""Table ``registry_credentials``: the short-lived registry logins the platform issued (only
their hashes), which its token endpoint accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Row, fetch_one

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, *, username: str, secret_hash: str, user_id: str, repository: str, actions: str,
           expires_at: str, now: str) -> None:
    """Store one credential, and drop those expired before `now` on the way."""
    with db.transaction():
        db.execute("DELETE FROM registry_credentials WHERE expires_at < ?", (now,))
        db.execute("INSERT INTO registry_credentials (username, secret_hash, user_id, repository, actions, expires_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", (username, secret_hash, user_id, repository, actions, expires_at))


def find_valid(db: Database, username: str, now: str) -> Row | None:
    """The credential `username` unless it expired before `now`."""
    return fetch_one(db, "SELECT secret_hash, user_id, repository, actions FROM registry_credentials"
                         " WHERE username = ? AND expires_at >= ?", (username, now))

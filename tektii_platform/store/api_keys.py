"""Table ``api_keys``: the users' API keys (their hashes and a clear prefix to find them by)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Row, fetch_all

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, key_id: str, user_id: str, prefix: str, key_hash: str, created_at: str) -> None:
    db.execute("INSERT INTO api_keys (id, user_id, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
               (key_id, user_id, prefix, key_hash, created_at))


def candidates(db: Database, prefix: str) -> list[Row]:
    """Every key with `prefix`, with its user: ``key_hash``, ``key_revoked_at`` and the user's columns."""
    return fetch_all(db, "SELECT k.key_hash, k.revoked_at AS key_revoked_at, u.id, u.name, u.created_at, u.role,"
                         " u.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = ?", (prefix,))


def revoke(db: Database, now: str, *, key_id: str | None = None, key_hash: str | None = None) -> bool:
    """Revoke the usable key with this id or hash; False when there is none."""
    column, value = ("id", key_id) if key_id is not None else ("key_hash", key_hash)
    return db.execute(f"UPDATE api_keys SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL", (now, value)) > 0


def revoke_all_of(db: Database, user_id: str, now: str) -> None:
    db.execute("UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user_id))

"""Tables ``users`` and ``meta`` (the local user's id): who may call the platform, in which role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Row, fetch_all, fetch_one

if TYPE_CHECKING:
    from ..db import Database

_COLUMNS = "id, name, created_at, role, revoked_at"


def insert(db: Database, user_id: str, name: str, created_at: str, role: str) -> None:
    db.execute("INSERT INTO users (id, name, created_at, role) VALUES (?, ?, ?, ?)", (user_id, name, created_at, role))


def get(db: Database, user_id: str) -> Row | None:
    return fetch_one(db, f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))


def list_all(db: Database) -> list[Row]:
    """Every user, oldest first."""
    return fetch_all(db, f"SELECT {_COLUMNS} FROM users ORDER BY created_at, rowid")


def count_active(db: Database, role: str | None = None) -> int:
    """Users not revoked (of `role`, when given)."""
    if role is None:
        return int(db.query_one("SELECT COUNT(*) FROM users WHERE revoked_at IS NULL")[0])
    return int(db.query_one("SELECT COUNT(*) FROM users WHERE role = ? AND revoked_at IS NULL", (role,))[0])


def is_active(db: Database, user_id: str) -> bool:
    return db.query_one("SELECT 1 FROM users WHERE id = ? AND revoked_at IS NULL", (user_id,)) is not None


def revoke(db: Database, user_id: str, now: str) -> None:
    db.execute("UPDATE users SET revoked_at = ? WHERE id = ?", (now, user_id))


def get_meta(db: Database, key: str) -> str | None:
    row = db.query_one("SELECT value FROM meta WHERE key = ?", (key,))
    return row["value"] if row is not None else None


def set_meta(db: Database, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

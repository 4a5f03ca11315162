"""Table ``versions``: a strategy's versions (an uploaded image or a template)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Page, Row, fetch_all, fetch_one, keyset

if TYPE_CHECKING:
    from ..db import Database

COLUMNS = ("id", "strategy_id", "owner_id", "parent_id", "git_sha", "git_dirty", "template", "builder", "state",
           "failure_reason", "repository", "digest", "size", "os", "architecture", "created_at", "updated_at")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM versions"


def insert(db: Database, row: Row) -> None:
    """Store a version; columns missing from `row` are NULL."""
    db.execute(f"INSERT INTO versions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
               [row.get(c) for c in COLUMNS])


def get(db: Database, version_id: str, strategy_id: str | None = None) -> Row | None:
    """The version (of that strategy, when given)."""
    if strategy_id is None:
        return fetch_one(db, f"{_SELECT} WHERE id = ?", (version_id,))
    return fetch_one(db, f"{_SELECT} WHERE id = ? AND strategy_id = ?", (version_id, strategy_id))


def list_of_strategy(db: Database, strategy_id: str, page: Page) -> list[Row]:
    clause, params = keyset(page)
    return fetch_all(db, f"{_SELECT} WHERE strategy_id = ?{clause}", [strategy_id, *params])


def fail_stale(db: Database, strategy_id: str, updated_before: str, reason: str, now: str) -> None:
    """PENDING versions of the strategy not updated since `updated_before`: FAILED with `reason`."""
    stale = "strategy_id = ? AND state = 'PENDING' AND updated_at < ?"
    if db.query_one(f"SELECT 1 FROM versions WHERE {stale} LIMIT 1", (strategy_id, updated_before)) is None:
        return  # the common case stays a read: no write lock for every GET
    db.execute(f"UPDATE versions SET state = 'FAILED', failure_reason = ?, updated_at = ? WHERE {stale}",
               (reason, now, strategy_id, updated_before))


def set_ready(db: Database, version_id: str, *, digest: str, size: int | None, os: str, architecture: str,
              now: str) -> None:
    db.execute("UPDATE versions SET state = 'READY', digest = ?, size = ?, os = ?, architecture = ?, updated_at = ?"
               " WHERE id = ?", (digest, size, os, architecture, now, version_id))


def set_failed(db: Database, version_id: str, reason: str, now: str) -> None:
    """A PENDING version FAILED (a finished one stays as it is)."""
    db.execute("UPDATE versions SET state = 'FAILED', failure_reason = ?, updated_at = ? WHERE id = ? AND state = 'PENDING'",
               (reason, now, version_id))


def touch(db: Database, version_id: str, now: str) -> None:
    """A PENDING version's upload is still going (its heartbeat)."""
    db.execute("UPDATE versions SET updated_at = ? WHERE id = ? AND state = 'PENDING'", (now, version_id))

"""Table ``versions``: a strategy's versions (an uploaded image or a template)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Page, Row, fetch_all, fetch_one, keyset
from .tables import versions

if TYPE_CHECKING:
    from ..db import Database

COLUMNS = ("id", "strategy_id", "owner_id", "parent_id", "git_sha", "git_dirty", "template", "builder", "state",
           "failure_reason", "repository", "digest", "size", "os", "architecture", "created_at", "updated_at")
_SELECT = sa.select(*(versions.c[c] for c in COLUMNS))


def insert(db: Database, row: Row) -> None:
    """Store a version; columns missing from `row` are NULL."""
    db.execute(versions.insert().values(**{c: row.get(c) for c in COLUMNS}))


def get(db: Database, version_id: str, strategy_id: str | None = None) -> Row | None:
    """The version (of that strategy, when given)."""
    statement = _SELECT.where(versions.c.id == version_id)
    if strategy_id is not None:
        statement = statement.where(versions.c.strategy_id == strategy_id)
    return fetch_one(db, statement)


def list_of_strategy(db: Database, strategy_id: str, page: Page) -> list[Row]:
    return fetch_all(db, keyset(_SELECT.where(versions.c.strategy_id == strategy_id), versions, page))


def fail_stale(db: Database, strategy_id: str, updated_before: str, reason: str, now: str) -> None:
    """PENDING versions of the strategy not updated since `updated_before`: FAILED with `reason`."""
    stale = (versions.c.strategy_id == strategy_id, versions.c.state == "PENDING", versions.c.updated_at < updated_before)
    if db.query_one(sa.select(versions.c.id).where(*stale).limit(1)) is None:
        return  # the common case stays a read: no write lock for every GET
    db.execute(versions.update().where(*stale).values(state="FAILED", failure_reason=reason, updated_at=now))


def set_ready(db: Database, version_id: str, *, digest: str, size: int | None, os: str, architecture: str,
              now: str) -> None:
    db.execute(versions.update().where(versions.c.id == version_id)
               .values(state="READY", digest=digest, size=size, os=os, architecture=architecture, updated_at=now))


def set_failed(db: Database, version_id: str, reason: str, now: str) -> None:
    """A PENDING version FAILED (a finished one stays as it is)."""
    db.execute(versions.update().where(versions.c.id == version_id, versions.c.state == "PENDING")
               .values(state="FAILED", failure_reason=reason, updated_at=now))


def touch(db: Database, version_id: str, now: str) -> None:
    """A PENDING version's upload is still going (its heartbeat)."""
    db.execute(versions.update().where(versions.c.id == version_id, versions.c.state == "PENDING")
               .values(updated_at=now))

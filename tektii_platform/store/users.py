"""Tables ``users`` and ``meta`` (the local user's id): who may call the platform, in which role."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Row, fetch_all, fetch_one, upsert
from .tables import meta, users

if TYPE_CHECKING:
    from ..db import Database

_SELECT = sa.select(users.c.id, users.c.name, users.c.created_at, users.c.role, users.c.revoked_at)


def insert(db: Database, user_id: str, name: str, created_at: str, role: str) -> None:
    db.execute(users.insert().values(id=user_id, name=name, created_at=created_at, role=role))


def get(db: Database, user_id: str) -> Row | None:
    return fetch_one(db, _SELECT.where(users.c.id == user_id))


def list_all(db: Database) -> list[Row]:
    """Every user, oldest first (created_at has microseconds; the id breaks a tie)."""
    return fetch_all(db, _SELECT.order_by(users.c.created_at, users.c.id))


def count_active(db: Database, role: str | None = None) -> int:
    """Users not revoked (of `role`, when given)."""
    statement = sa.select(sa.func.count()).select_from(users).where(users.c.revoked_at.is_(None))
    if role is not None:
        statement = statement.where(users.c.role == role)
    return int(db.scalar(statement))


def is_active(db: Database, user_id: str) -> bool:
    return db.query_one(sa.select(users.c.id).where(users.c.id == user_id, users.c.revoked_at.is_(None))) is not None


def revoke(db: Database, user_id: str, now: str) -> None:
    db.execute(users.update().where(users.c.id == user_id).values(revoked_at=now))


def get_meta(db: Database, key: str) -> str | None:
    return db.scalar(sa.select(meta.c.value).where(meta.c.key == key))


def set_meta(db: Database, key: str, value: str) -> None:
    upsert(db, meta, {"key": key, "value": value}, "key")

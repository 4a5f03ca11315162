"""Table ``api_keys``: the users' API keys (their hashes and a clear prefix to find them by)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Row, fetch_all
from .tables import api_keys, users

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, key_id: str, user_id: str, prefix: str, key_hash: str, created_at: str) -> None:
    db.execute(api_keys.insert().values(id=key_id, user_id=user_id, prefix=prefix, key_hash=key_hash,
                                        created_at=created_at))


def candidates(db: Database, prefix: str) -> list[Row]:
    """Every key with `prefix`, with its user: ``key_hash``, ``key_revoked_at`` and the user's columns."""
    k, u = api_keys, users
    return fetch_all(db, sa.select(k.c.key_hash, k.c.revoked_at.label("key_revoked_at"), u.c.id, u.c.name,
                                   u.c.created_at, u.c.role, u.c.revoked_at)
                     .join_from(k, u, u.c.id == k.c.user_id).where(k.c.prefix == prefix))


def revoke(db: Database, now: str, *, key_id: str | None = None, key_hash: str | None = None) -> bool:
    """Revoke the usable key with this id or hash; False when there is none."""
    match = api_keys.c.id == key_id if key_id is not None else api_keys.c.key_hash == key_hash
    return db.execute(api_keys.update().where(match, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)) > 0


def revoke_all_of(db: Database, user_id: str, now: str) -> None:
    db.execute(api_keys.update().where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
               .values(revoked_at=now))

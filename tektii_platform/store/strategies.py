"""Table ``strategies``: a user's strategies, names unique per owner ignoring case."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Conflict, Page, Row, fetch_all, fetch_one, keyset
from .tables import strategies

if TYPE_CHECKING:
    from ..db import Database

_COLUMNS = ("id", "name", "owner_id", "created_by", "created_at", "updated_at")
_SELECT = sa.select(*(strategies.c[c] for c in _COLUMNS))


def insert(db: Database, row: Row) -> None:
    """Store a strategy (`row` has every column); Conflict when its owner has one of that name."""
    try:
        db.execute(strategies.insert().values(**{c: row[c] for c in _COLUMNS}))
    except sa.exc.IntegrityError:
        raise Conflict(f"strategy name {row['name']!r}") from None


def find_by_name(db: Database, owner_id: str, name: str) -> Row | None:
    # lower() on both sides: the unique index folds case the same way (migration 0001)
    return fetch_one(db, _SELECT.where(strategies.c.owner_id == owner_id,
                                       sa.func.lower(strategies.c.name) == sa.func.lower(name)))


def get_owned(db: Database, strategy_id: str, owner_id: str) -> Row | None:
    return fetch_one(db, _SELECT.where(strategies.c.id == strategy_id, strategies.c.owner_id == owner_id))


def list_owned(db: Database, owner_id: str, page: Page) -> list[Row]:
    """One page of the owner's strategies, newest first (and one more row, see keyset)."""
    return fetch_all(db, keyset(_SELECT.where(strategies.c.owner_id == owner_id), strategies, page))

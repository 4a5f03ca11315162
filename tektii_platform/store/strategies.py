"""Table ``strategies``: a user's strategies, names unique per owner ignoring case."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from . import Conflict, Page, Row, fetch_all, fetch_one, keyset

if TYPE_CHECKING:
    from ..db import Database

_COLUMNS = "id, name, owner_id, created_by, created_at, updated_at"


def insert(db: Database, row: Row) -> None:
    """Store a strategy (`row` has every column); Conflict when its owner has one of that name."""
    try:
        db.execute(f"INSERT INTO strategies ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                   tuple(row[c] for c in _COLUMNS.split(", ")))
    except sqlite3.IntegrityError:
        raise Conflict(f"strategy name {row['name']!r}") from None


def find_by_name(db: Database, owner_id: str, name: str) -> Row | None:
    return fetch_one(db, f"SELECT {_COLUMNS} FROM strategies WHERE owner_id = ? AND name = ? COLLATE NOCASE",
                     (owner_id, name))


def get_owned(db: Database, strategy_id: str, owner_id: str) -> Row | None:
    return fetch_one(db, f"SELECT {_COLUMNS} FROM strategies WHERE id = ? AND owner_id = ?", (strategy_id, owner_id))


def list_owned(db: Database, owner_id: str, page: Page) -> list[Row]:
    """One page of the owner's strategies, newest first (and one more row, see keyset)."""
    clause, params = keyset(page)
    return fetch_all(db, f"SELECT {_COLUMNS} FROM strategies WHERE owner_id = ?{clause}", [owner_id, *params])

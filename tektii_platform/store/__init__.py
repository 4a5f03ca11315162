"""The platform's queries: one module per table, the only SQL outside the migrations and db.py.

Every function takes the ``Database`` (tektii_platform.db) first and returns plain values:
rows as ``dict`` (column name -> value, the stored form: timestamps as ``ids.now_db()`` text,
JSON columns as text) or the attrs types of their module, never a driver's row object. A
write runs in a transaction of its own unless the caller holds one (``with db.transaction():``
around several calls makes them one atomic unit; reads inside it see its writes).

Callers (the API handlers, the scheduler, the sweep driver, the registry service) know no
SQL and no driver, so that moving to another database (SQLAlchemy Core and PostgreSQL) is
a matter of these modules and db.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ..db import Database

Row = dict[str, Any]


class Conflict(Exception):
    """A write broke a uniqueness rule (e.g. a strategy name its owner already uses)."""


@attrs.frozen
class Page:
    """One page of a list, newest first by (created_at, id)."""

    limit: int
    after: tuple[str, str] | None = None  # (created_at, id) of the last item already seen


def fetch_all(db: Database, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    return [dict(row) for row in db.query(sql, params)]


def fetch_one(db: Database, sql: str, params: Sequence[Any] = ()) -> Row | None:
    row = db.query_one(sql, params)
    return dict(row) if row is not None else None


def keyset(page: Page) -> tuple[str, list[Any]]:
    """The WHERE fragment (prefixed with AND) and ORDER/LIMIT clause of ``page``; fetches one
    extra row, which tells the caller whether another page follows."""
    where, params = "", []
    if page.after is not None:
        where = " AND (created_at, id) < (?, ?)"
        params = list(page.after)
    return f"{where} ORDER BY created_at DESC, id DESC LIMIT {int(page.limit) + 1}", params

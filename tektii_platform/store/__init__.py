"""The platform's queries: one module per table, the only SQL outside the migrations and db.py.

Every function takes the ``Database`` (tektii_platform.db) first and returns plain values:
rows as ``dict`` (column name -> value, the stored form: timestamps as ``ids.now_db()`` text,
JSON columns as text) or the attrs types of their module, never a driver's row object. A
write runs in a transaction of its own unless the caller holds one (``with db.transaction():``
around several calls makes them one atomic unit; reads inside it see its writes).

Queries are SQLAlchemy Core statements over the tables of ``store.tables``, so one query serves
SQLite and PostgreSQL; where the two differ (an upsert, the queue's row locks) the module says so.
Callers (the API handlers, the scheduler, the sweep driver, the registry service) know no
SQL and no driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

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


def fetch_all(db: Database, statement: Any) -> list[Row]:
    return db.query(statement)


def fetch_one(db: Database, statement: Any) -> Row | None:
    return db.query_one(statement)


def keyset(statement: sa.Select, table: sa.Table, page: Page) -> sa.Select:
    """`statement` limited to `page`, newest first; fetches one extra row, which tells the
    caller whether another page follows."""
    if page.after is not None:
        statement = statement.where(sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(*page.after))
    return statement.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(int(page.limit) + 1)


def upsert(db: Database, table: sa.Table, values: Row, key: str) -> None:
    """Insert `values`, or update the row with the same `key` (INSERT ... ON CONFLICT, which
    both SQLite and PostgreSQL speak, each through its own dialect's construct)."""
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(**values)
    db.execute(statement.on_conflict_do_update(index_elements=[key],
                                               set_={c: statement.excluded[c] for c in values if c != key}))

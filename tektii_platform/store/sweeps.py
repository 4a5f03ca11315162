"""Table ``sweeps``: parameter sweeps; their trials are rows of ``scenarios`` (store.scenarios)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Page, Row, fetch_all, fetch_one, keyset
from .tables import sweeps

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, *, sweep_id: str, strategy_id: str, owner_id: str, version_id: str, spec: str,
           now: str) -> None:
    """Store a sweep RUNNING (`spec`: the validated sweep as JSON text)."""
    db.execute(sweeps.insert().values(id=sweep_id, strategy_id=strategy_id, owner_id=owner_id, version_id=version_id,
                                      state="RUNNING", spec=spec, created_at=now, updated_at=now))


def get(db: Database, sweep_id: str, owner_id: str | None = None) -> Row | None:
    """The sweep (of that owner, when given)."""
    statement = sa.select(sweeps).where(sweeps.c.id == sweep_id)
    if owner_id is not None:
        statement = statement.where(sweeps.c.owner_id == owner_id)
    return fetch_one(db, statement)


def list_owned(db: Database, owner_id: str, page: Page, *, strategy_id: str | None = None,
               state: str | None = None) -> list[Row]:
    statement = sa.select(sweeps).where(sweeps.c.owner_id == owner_id)
    if strategy_id is not None:
        statement = statement.where(sweeps.c.strategy_id == strategy_id)
    if state is not None:
        statement = statement.where(sweeps.c.state == state)
    return fetch_all(db, keyset(statement, sweeps, page))


def running_ids(db: Database) -> list[str]:
    """The RUNNING sweeps, oldest first."""
    return [r["id"] for r in db.query(sa.select(sweeps.c.id).where(sweeps.c.state == "RUNNING")
                                      .order_by(sweeps.c.created_at))]


def finish(db: Database, sweep_id: str, state: str, reason: str | None, now: str) -> bool:
    """A RUNNING sweep ends in `state`; False when it was not RUNNING."""
    return db.execute(sweeps.update().where(sweeps.c.id == sweep_id, sweeps.c.state == "RUNNING")
                      .values(state=state, failure_reason=reason, finished_at=now, updated_at=now)) > 0

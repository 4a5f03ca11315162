"""Table ``sweeps``: parameter sweeps; their trials are rows of ``scenarios`` (store.scenarios)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Page, Row, fetch_all, fetch_one, keyset

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, *, sweep_id: str, strategy_id: str, owner_id: str, version_id: str, spec: str,
           now: str) -> None:
    """Store a sweep RUNNING (`spec`: the validated sweep as JSON text)."""
    db.execute("INSERT INTO sweeps (id, strategy_id, owner_id, version_id, state, spec, created_at, updated_at)"
               " VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?)", (sweep_id, strategy_id, owner_id, version_id, spec, now, now))


def get(db: Database, sweep_id: str, owner_id: str | None = None) -> Row | None:
    """The sweep (of that owner, when given)."""
    if owner_id is None:
        return fetch_one(db, "SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
    return fetch_one(db, "SELECT * FROM sweeps WHERE id = ? AND owner_id = ?", (sweep_id, owner_id))


def list_owned(db: Database, owner_id: str, page: Page, *, strategy_id: str | None = None,
               state: str | None = None) -> list[Row]:
    where, params = "", [owner_id]
    if strategy_id is not None:
        where, params = where + " AND strategy_id = ?", [*params, strategy_id]
    if state is not None:
        where, params = where + " AND state = ?", [*params, state]
    clause, page_params = keyset(page)
    return fetch_all(db, f"SELECT * FROM sweeps WHERE owner_id = ?{where}{clause}", [*params, *page_params])


def running_ids(db: Database) -> list[str]:
    """The RUNNING sweeps, oldest first."""
    return [r["id"] for r in db.query("SELECT id FROM sweeps WHERE state = 'RUNNING' ORDER BY created_at")]


def finish(db: Database, sweep_id: str, state: str, reason: str | None, now: str) -> bool:
    """A RUNNING sweep ends in `state`; False when it was not RUNNING."""
    return db.execute("UPDATE sweeps SET state = ?, failure_reason = ?, finished_at = ?, updated_at = ?"
                      " WHERE id = ? AND state = 'RUNNING'", (state, reason, now, now, sweep_id)) > 0

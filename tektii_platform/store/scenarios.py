"""Table ``scenarios``: backtest runs, and the run scheduler's persistent queue (PENDING rows in
created order); a sweep's trials are scenarios too (``sweep_id``, ``trial``, ``sample``)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ..ids import new_id, now_db
from . import Page, Row, fetch_all, fetch_one, keyset

if TYPE_CHECKING:
    from ..db import Database

_COLUMNS = ("id, strategy_id, owner_id, version_id, state, failure_reason, config, progress, metrics, counters,"
            " created_at, started_at, finished_at, sweep_id, rerun_of, reproducibility, cancel_requested")
_INSERTED = ("id", "strategy_id", "owner_id", "version_id", "state", "config", "created_at",
             "sweep_id", "trial", "trial_params", "sample", "rerun_of")


def create(db: Database, strategy_id: str, owner_id: str, config: dict[str, Any], **links: Any) -> Row:
    """Queue a scenario of a valid config (``ScenarioConfig.to_api()``); ``links``: the sweep_id,
    trial, trial_params and sample of a sweep's trial, or rerun_of. Returns the row as inserted
    (the scheduler may claim it at once: creating answers PENDING)."""
    row: Row = {
        "id": new_id("scen"), "strategy_id": strategy_id, "owner_id": owner_id, "version_id": config["strategyVersionId"],
        "state": "PENDING", "failure_reason": None, "created_at": now_db(), "started_at": None, "finished_at": None,
        "config": json.dumps(config), "progress": None, "metrics": None, "counters": None, "cancel_requested": 0,
        "sweep_id": None, "trial": None, "trial_params": None, "sample": None, "rerun_of": None, "reproducibility": None,
    }
    row.update(links)
    if isinstance(row["trial_params"], dict):
        row["trial_params"] = json.dumps(row["trial_params"])
    # platform_host stays NULL: the registry's realm is the platform's own address, never a request's
    db.execute(f"INSERT INTO scenarios ({', '.join(_INSERTED)}, updated_at) VALUES ({', '.join('?' * len(_INSERTED))}, ?)",
               [row[c] for c in _INSERTED] + [row["created_at"]])
    return row


def get(db: Database, scenario_id: str, strategy_id: str) -> Row | None:
    return fetch_one(db, f"SELECT {_COLUMNS} FROM scenarios WHERE id = ? AND strategy_id = ?", (scenario_id, strategy_id))


def list_of_strategy(db: Database, strategy_id: str, page: Page, *, state: str | None = None,
                     version_id: str | None = None) -> list[Row]:
    where, params = "", []
    if state is not None:
        where, params = where + " AND state = ?", [*params, state]
    if version_id is not None:
        where, params = where + " AND version_id = ?", [*params, version_id]
    clause, page_params = keyset(page)
    return fetch_all(db, f"SELECT {_COLUMNS} FROM scenarios WHERE strategy_id = ?{where}{clause}",
                     [strategy_id, *params, *page_params])


def request_cancel(db: Database, now: str, *, scenario_id: str | None = None, sweep_id: str | None = None) -> None:
    """Cancel a scenario (or a sweep's trials): a PENDING one is CANCELLED at once, a RUNNING one
    gets ``cancel_requested`` for the scheduler. Conditional updates in one transaction: the
    scheduler's claim (PENDING -> RUNNING) cannot slip between them."""
    column, value = ("id", scenario_id) if scenario_id is not None else ("sweep_id", sweep_id)
    with db.transaction():
        db.execute(f"UPDATE scenarios SET state = 'CANCELLED', finished_at = ?, updated_at = ?"
                   f" WHERE {column} = ? AND state = 'PENDING'", (now, now, value))
        db.execute(f"UPDATE scenarios SET cancel_requested = 1, updated_at = ? WHERE {column} = ? AND state = 'RUNNING'",
                   (now, value))


def trials(db: Database, sweep_id: str) -> list[Row]:
    """A sweep's trial scenarios, in-sample first, by trial number."""
    return fetch_all(db, "SELECT id, state, failure_reason, metrics, trial, trial_params, sample FROM scenarios"
                         " WHERE sweep_id = ? ORDER BY sample, trial", (sweep_id,))


# -- the scheduler's queue ------------------------------------------------------------------------


def running(db: Database) -> list[Row]:
    """``id`` and ``handle`` of every RUNNING scenario."""
    return fetch_all(db, "SELECT id, handle FROM scenarios WHERE state = 'RUNNING'")


def claim_next(db: Database, backend: str, now: str) -> Row | None:
    """The oldest PENDING scenario (every column), now RUNNING on `backend`, atomically."""
    # a plain read first: an idle queue must not take the write lock five times a second
    if db.query_one("SELECT 1 FROM scenarios WHERE state = 'PENDING' LIMIT 1") is None:
        return None
    with db.transaction():
        row = fetch_one(db, "SELECT * FROM scenarios WHERE state = 'PENDING' ORDER BY created_at, id LIMIT 1")
        if row is None:
            return None
        db.execute("UPDATE scenarios SET state = 'RUNNING', started_at = ?, updated_at = ?, backend = ? WHERE id = ?",
                   (now, now, backend, row["id"]))
    return row


def set_started(db: Database, scenario_id: str, runtime: str, handle: str, now: str) -> None:
    db.execute("UPDATE scenarios SET runtime = ?, handle = ?, updated_at = ? WHERE id = ?",
               (runtime, handle, now, scenario_id))


def cancel_requested(db: Database, scenario_ids: Collection[str]) -> set[str]:
    """Which of these scenarios a cancel was requested for."""
    if not scenario_ids:
        return set()
    marks = ",".join("?" * len(scenario_ids))
    return {r["id"] for r in db.query(f"SELECT id FROM scenarios WHERE id IN ({marks}) AND cancel_requested = 1",
                                      list(scenario_ids))}


def set_progress(db: Database, scenario_id: str, progress: dict[str, Any], now: str) -> None:
    db.execute("UPDATE scenarios SET progress = ?, updated_at = ? WHERE id = ? AND state = 'RUNNING'",
               (json.dumps(progress), now, scenario_id))


def finish(db: Database, scenario_id: str, state: str, *, reason: str | None, metrics: str | None,
           counters: str | None, progress: dict[str, Any] | None, reproducibility: str | None, now: str) -> None:
    """Record how a RUNNING scenario ended (`metrics`, `counters`, `reproducibility`: JSON text)."""
    db.execute("UPDATE scenarios SET state = ?, failure_reason = ?, metrics = ?, counters = ?, progress = ?,"
               " reproducibility = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = 'RUNNING'",
               (state, reason, metrics, counters, json.dumps(progress) if progress else None, reproducibility, now, now,
                scenario_id))

"""Table ``scenarios``: backtest runs, and the run scheduler's persistent queue (PENDING rows in
created order); a sweep's trials are scenarios too (``sweep_id``, ``trial``, ``sample``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..ids import new_id, now_db
from . import Page, Row, fetch_all, fetch_one, keyset
from .tables import scenarios as t

if TYPE_CHECKING:
    from ..db import Database

_COLUMNS = ("id", "strategy_id", "owner_id", "version_id", "state", "failure_reason", "config", "progress", "metrics",
            "counters", "created_at", "started_at", "finished_at", "sweep_id", "rerun_of", "reproducibility",
            "cancel_requested", "backend", "node")
_SELECT = sa.select(*(t.c[c] for c in _COLUMNS))
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
    db.execute(t.insert().values(**{c: row[c] for c in _INSERTED}, updated_at=row["created_at"]))
    return row


def get(db: Database, scenario_id: str, strategy_id: str) -> Row | None:
    return fetch_one(db, _SELECT.where(t.c.id == scenario_id, t.c.strategy_id == strategy_id))


def list_of_strategy(db: Database, strategy_id: str, page: Page, *, state: str | None = None,
                     version_id: str | None = None) -> list[Row]:
    statement = _SELECT.where(t.c.strategy_id == strategy_id)
    if state is not None:
        statement = statement.where(t.c.state == state)
    if version_id is not None:
        statement = statement.where(t.c.version_id == version_id)
    return fetch_all(db, keyset(statement, t, page))


def request_cancel(db: Database, now: str, *, scenario_id: str | None = None, sweep_id: str | None = None) -> None:
    """Cancel a scenario (or a sweep's trials): a PENDING one is CANCELLED at once, a RUNNING one
    gets ``cancel_requested`` for the scheduler. Conditional updates in one transaction: the
    scheduler's claim (PENDING -> RUNNING) cannot slip between them."""
    match = t.c.id == scenario_id if scenario_id is not None else t.c.sweep_id == sweep_id
    with db.transaction():
        db.execute(t.update().where(match, t.c.state == "PENDING")
                   .values(state="CANCELLED", finished_at=now, updated_at=now))
        db.execute(t.update().where(match, t.c.state == "RUNNING").values(cancel_requested=1, updated_at=now))


def trials(db: Database, sweep_id: str) -> list[Row]:
    """A sweep's trial scenarios, in-sample first, by trial number."""
    return fetch_all(db, sa.select(t.c.id, t.c.state, t.c.failure_reason, t.c.metrics, t.c.trial, t.c.trial_params,
                                   t.c.sample).where(t.c.sweep_id == sweep_id).order_by(t.c.sample, t.c.trial))


# -- the scheduler's queue ------------------------------------------------------------------------


def left_running(db: Database, scheduler_id: str) -> list[Row]:
    """The RUNNING scenarios (every column) a restarted scheduler must recover: on
    SQLite every one (one scheduler per database file: the data directory's lock); on PostgreSQL,
    shared by several API processes, only those `scheduler_id` claimed (the others' runs go on)."""
    statement = sa.select(t).where(t.c.state == "RUNNING").order_by(t.c.created_at, t.c.id)
    if db.dialect != "sqlite":
        statement = statement.where(t.c.scheduler_id == scheduler_id)
    return fetch_all(db, statement)


def claim_next(db: Database, backend: str, now: str, scheduler_id: str | None = None,
               fits: Callable[[Row], bool] | None = None) -> Row | None:
    """The oldest PENDING scenario (every column), now RUNNING on `backend` for `scheduler_id`,
    atomically. Several schedulers may claim at once: on PostgreSQL the read takes the row's
    lock and skips rows another open claim holds (FOR UPDATE SKIP LOCKED), so each scenario is
    claimed once and nobody waits; on SQLite the claim's BEGIN IMMEDIATE already excludes every
    other writer (SQLAlchemy renders no FOR UPDATE there). With `fits`, the oldest is claimed only
    when fits(row) says so (the backend has room for it), else nothing is: runs start in created
    order."""
    # a plain read first: an idle queue must not take the write lock five times a second
    if db.query_one(sa.select(t.c.id).where(t.c.state == "PENDING").limit(1)) is None:
        return None
    with db.transaction():
        row = fetch_one(db, sa.select(t).where(t.c.state == "PENDING").order_by(t.c.created_at, t.c.id).limit(1)
                        .with_for_update(skip_locked=True))
        if row is None or (fits is not None and not fits(row)):
            return None
        db.execute(t.update().where(t.c.id == row["id"])
                   .values(state="RUNNING", started_at=now, updated_at=now, backend=backend, scheduler_id=scheduler_id))
    return row


def set_started(db: Database, scenario_id: str, runtime: str, handle: str, now: str) -> None:
    db.execute(t.update().where(t.c.id == scenario_id).values(runtime=runtime, handle=handle, updated_at=now))


def cancel_requested(db: Database, scenario_ids: Collection[str]) -> set[str]:
    """Which of these scenarios a cancel was requested for."""
    if not scenario_ids:
        return set()
    return {r["id"] for r in db.query(sa.select(t.c.id).where(t.c.id.in_(list(scenario_ids)),
                                                              t.c.cancel_requested == 1))}


def set_progress(db: Database, scenario_id: str, progress: dict[str, Any], now: str) -> None:
    db.execute(t.update().where(t.c.id == scenario_id, t.c.state == "RUNNING")
               .values(progress=json.dumps(progress), updated_at=now))


def progress(db: Database, scenario_id: str) -> dict[str, Any] | None:
    """The progress last recorded for a scenario's run."""
    row = db.query_one(sa.select(t.c.progress).where(t.c.id == scenario_id))
    return json.loads(row["progress"]) if row is not None and row["progress"] else None


def finish(db: Database, scenario_id: str, state: str, *, reason: str | None, metrics: str | None,
           counters: str | None, progress: dict[str, Any] | None, reproducibility: str | None, now: str,
           node: str | None = None) -> None:
    """Record how a RUNNING scenario ended (`metrics`, `counters`, `reproducibility`: JSON text;
    `node`: where it executed, as its backend names it)."""
    db.execute(t.update().where(t.c.id == scenario_id, t.c.state == "RUNNING")
               .values(state=state, failure_reason=reason, metrics=metrics, counters=counters,
                       progress=json.dumps(progress) if progress else None, reproducibility=reproducibility,
                       node=node, finished_at=now, updated_at=now))

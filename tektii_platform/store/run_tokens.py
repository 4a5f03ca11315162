"""Table ``run_tokens``: each run's credential (only its hash), good while its run is RUNNING."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import Row, fetch_one
from .tables import run_tokens as tokens
from .tables import scenarios

if TYPE_CHECKING:
    from ..db import Database


def insert(db: Database, *, token_hash: str, scenario_id: str, now: str, expires_at: str) -> None:
    """Store a run's token (a run has one: an earlier one of the same run is dropped)."""
    with db.transaction():
        db.execute(tokens.delete().where(tokens.c.scenario_id == scenario_id))
        db.execute(tokens.insert().values(token_hash=token_hash, scenario_id=scenario_id, created_at=now,
                                          expires_at=expires_at))


def find_running(db: Database, token_hash: str, now: str) -> Row | None:
    """The RUNNING scenario whose unexpired token has this hash: ``id``, ``config``, ``state``."""
    s = scenarios
    return fetch_one(db, sa.select(s.c.id, s.c.config, s.c.state, tokens.c.token_hash)
                     .join_from(tokens, s, s.c.id == tokens.c.scenario_id)
                     .where(tokens.c.token_hash == token_hash, tokens.c.expires_at >= now, s.c.state == "RUNNING"))


def delete(db: Database, scenario_id: str) -> None:
    """The run ended: its token goes."""
    db.execute(tokens.delete().where(tokens.c.scenario_id == scenario_id))

"""Run tokens: the credential a run's worker presents on the /v1/runs/{scenarioId}/... endpoints
(tektii_platform/api/runs.py), wherever it executes.

A token is 256 random bits ("tkr_..."), issued when the run starts and handed over in its RunSpec;
the database keeps only its sha256 (like API keys: a random key cannot be guessed, so one fast
hash suffices). It is good for one run only, and only while that run is RUNNING and before its
expiry (the run's wall-clock limit plus a margin): once the run ended it is worth nothing, and
the scheduler deletes it. It is not an API key: the user endpoints refuse it, and the run
endpoints refuse API keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .http import ApiError
from .ids import db_time, now_db
from .store import Row, run_tokens

if TYPE_CHECKING:
    from .db import Database
    from .http import Request

TOKEN_PREFIX = "tkr_"
EXPIRY_MARGIN_S = 600.0  # beyond the run's wall-clock limit: preparing it (an image pull) takes time too


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(db: Database, scenario_id: str, wall_clock_s: float) -> str:
    """A new token for the run of `scenario_id` (it replaces an earlier one)."""
    token = TOKEN_PREFIX + base64.b32encode(secrets.token_bytes(32)).decode("ascii").rstrip("=").lower()
    expires = datetime.now(UTC) + timedelta(seconds=wall_clock_s + EXPIRY_MARGIN_S)
    run_tokens.insert(db, token_hash=_hash(token), scenario_id=scenario_id, now=now_db(),
                      expires_at=db_time(expires))
    return token


def revoke(db: Database, scenario_id: str) -> None:
    run_tokens.delete(db, scenario_id)


def authorize(req: Request, scenario_id: str) -> Row:
    """The RUNNING scenario `scenario_id` when the request carries its run's token; 401 otherwise
    (no token, an API key, another run's token, an ended or expired run: all look the same)."""
    authorization = (req.header("Authorization") or "").strip()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise ApiError(401, "This endpoint takes a run token: 'Authorization: Bearer tkr_...'", code="invalid_run_token")
    row = run_tokens.find_running(req.db, _hash(token), now_db())
    if row is None or not hmac.compare_digest(row["id"], scenario_id):
        raise ApiError(401, "Invalid run token, or the run is not running", code="invalid_run_token")
    return row

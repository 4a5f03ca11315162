"""Sweeps: a strategy version run over a space of parameters, one scenario per trial.

``POST /v1/strategies/{strategyId}/sweeps`` validates the sweep (tektii_core.sweep_spec, the
base config as for a scenario, the version, the platform's market data) and starts it; the
sweep driver (tektii_platform/sweeps.py, started by ``setup`` next to the run scheduler)
queues its trials, runs the search and ranks the trials. See docs/sweeps.md.
"""

from __future__ import annotations

import json
from typing import Any

from .. import pagination, store
from ..http import ApiError, AppContext, Param, Request, Response, Router, not_found, ok, validation_error
from ..ids import new_id, now_db
from ..store import sweeps
from ..sweeps import SWEEP_STATES, cancel_sweep, sweep_json
from ..validation import FieldError
from .scenarios import _instrument_problems, _version_problems
from .strategies import get_owned


def _driver(req: Request) -> Any:
    return req.ctx.extras.get("sweeps")


def _owned(req: Request, sweep_id: str) -> store.Row:
    assert req.user is not None
    row = sweeps.get(req.db, sweep_id, req.user.id)
    if row is None:
        raise not_found("Sweep", sweep_id)
    return row


def _capacity(req: Request) -> int:
    from ..scheduler import max_concurrent_from_env

    scheduler = req.ctx.extras.get("scheduler")
    if scheduler is None:
        return max_concurrent_from_env()
    return scheduler.capacity()


def create_sweep(req: Request) -> Response:
    """Start a sweep: validate it and queue its trials"""
    from tektii_core.scenario_config.model import VERSION_ID_RE
    from tektii_core.scenario_config.validate import validate_config
    from tektii_core.sweep_spec import validate_sweep

    strategy = get_owned(req, req.path_params["strategyId"])
    body = req.json()
    spec, problems = validate_sweep(body)
    details = [FieldError(p.path or None, p.message) for p in problems]
    raw_config = body.get("config") if isinstance(body, dict) else None
    version_id = raw_config.get("strategyVersionId") if isinstance(raw_config, dict) else None
    if isinstance(version_id, str) and VERSION_ID_RE.fullmatch(version_id):
        details += [FieldError(f"config.{d.field}", d.message) for d in _version_problems(req, strategy["id"], version_id)]
    config, _ = validate_config(raw_config)
    if config is not None:
        details += [FieldError(f"config.{d.field}" if d.field else "config", d.message)
                    for d in _instrument_problems(req, config)]
    if details:
        raise validation_error(details, f"Invalid sweep: {len(details)} problem(s)")
    assert req.user is not None and spec is not None
    sweep_id, now = new_id("swp"), now_db()
    stored = {**spec.to_api(), "parallelism": _capacity(req)}
    sweeps.insert(req.db, sweep_id=sweep_id, strategy_id=strategy["id"], owner_id=req.user.id,
                  version_id=spec.config["strategyVersionId"], spec=json.dumps(stored), now=now)
    driver = _driver(req)
    if driver is not None:
        driver.advance(sweep_id)  # the first trials are queued before the answer
    row = _owned(req, sweep_id)
    return ok(sweep_json(req.db, row), status=201, headers={"Location": f"/v1/sweeps/{sweep_id}"})


def list_sweeps(req: Request) -> Response:
    """List your sweeps, newest first (filter by strategy and state)"""
    assert req.user is not None
    errors: list[FieldError] = []
    strategy_id = req.query["strategyId"].strip() if req.query.get("strategyId") else None
    state = None
    if req.query.get("state"):
        state = req.query["state"].strip().upper()
        if state not in SWEEP_STATES:
            errors.append(FieldError("state", f"must be one of {', '.join(SWEEP_STATES)}"))
    try:
        page = pagination.parse_page(req)
    except ApiError as exc:
        errors += exc.details
    if errors:
        raise validation_error(errors)
    rows = sweeps.list_owned(req.db, req.user.id, page, strategy_id=strategy_id, state=state)
    rows, next_cursor = pagination.finish(rows, page)
    return ok({"sweeps": [sweep_json(req.db, r, with_trials=False) for r in rows], "nextCursor": next_cursor})


def get_sweep(req: Request) -> Response:
    """Get one sweep: its trials with their parameters, states and metrics, and the ranking"""
    return ok(sweep_json(req.db, _owned(req, req.path_params["sweepId"])))


def cancel(req: Request) -> Response:
    """Cancel a sweep: its pending trials at once, its running ones within seconds"""
    row = _owned(req, req.path_params["sweepId"])
    if row["state"] != "RUNNING":
        raise ApiError(409, f"Sweep {row['id']} has already finished ({row['state']})", code="sweep_finished")
    cancel_sweep(req.ctx, row["id"])
    return ok(sweep_json(req.db, _owned(req, row["id"])))


# -- wiring ------------------------------------------------------------------------------------


def setup(ctx: AppContext) -> None:
    """Drive sweeps in the process that schedules runs (after scenarios.setup started it)."""
    from ..sweeps import SweepDriver

    if ctx.extras.get("scheduler") is None:
        return
    driver = SweepDriver(ctx)
    driver.start()
    ctx.extras["sweeps"] = driver
    ctx.on_close(driver.stop)


_RESULT = {
    "type": ["object", "null"],
    "properties": {"scenarioId": {"type": "string"}, "state": {"type": "string"},
                   "failureReason": {"type": ["string", "null"]}, "objective": {"type": ["number", "null"]},
                   "metrics": {"type": ["object", "null"], "description": "The scenario's metrics once COMPLETE."}},
}
_PARAMETER = {
    "oneOf": [
        {"type": "object", "required": ["values"], "properties": {"values": {"type": "array", "minItems": 1}}},
        {"type": "object", "required": ["low", "high"],
         "properties": {"low": {"type": "number"}, "high": {"type": "number"}, "step": {"type": "number"}}},
        {"type": "array", "minItems": 1}, {"type": "string", "description": 'e.g. "5,10,20" or "20:60:10"'},
    ],
}


def _schemas(router: Router) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from tektii_core.sweep_spec import DIRECTIONS, METHODS, OBJECTIVES

    definition = {
        "parameters": {"type": "object", "additionalProperties": router.schema("SweepParameter", _PARAMETER),
                       "description": "Environment variable name -> values or range."},
        "constraints": {"type": "array", "items": {"type": "string"}, "description": 'e.g. ["FAST < SLOW"]'},
        "method": {"type": "string", "enum": list(METHODS), "default": "grid"},
        "trials": {"type": ["integer", "null"], "minimum": 1, "description": "Required for random and optuna."},
        "seed": {"type": "integer", "minimum": 0, "default": 0},
        "objective": {"type": "string", "enum": list(OBJECTIVES), "default": "sharpeRatio"},
        "direction": {"type": "string", "enum": list(DIRECTIONS)},
        "holdout": {"type": ["string", "null"], "format": "date-time",
                    "description": "Search before this time; rerun the best trials from it on."},
        "holdoutTop": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3},
    }
    request = router.schema("SweepRequest", {
        "type": "object", "required": ["config", "parameters"],
        "properties": {"config": {"$ref": "#/components/schemas/ScenarioConfig"}, **definition},
    })
    trial = {
        "type": "object", "required": ["trial", "parameters", "scenarioId", "state", "objective", "rank", "outOfSample"],
        "properties": {"trial": {"type": "integer"}, "parameters": {"type": "object"},
                       **_RESULT["properties"], "rank": {"type": ["integer", "null"]},
                       "outOfSample": {**_RESULT, "description": "A holdout sweep's rerun on the rest of the window."}},
    }
    sweep = router.schema("Sweep", {
        "type": "object",
        "required": ["sweepId", "strategyId", "strategyVersionId", "state", "method", "objective", "direction",
                     "trialCount", "counts", "ranking", "best", "createdAt", "finishedAt"],
        "properties": {
            "sweepId": {"type": "string", "pattern": "^swp_[a-z2-7]+$"}, "strategyId": {"type": "string"},
            "strategyVersionId": {"type": "string"}, "state": {"type": "string", "enum": list(SWEEP_STATES)},
            "failureReason": {"type": ["string", "null"]}, **definition,
            "trialCount": {"type": "integer"}, "parallelism": {"type": "integer"},
            "config": {"$ref": "#/components/schemas/ScenarioConfig"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "ranking": {"type": "array", "items": {"type": "integer"}, "description": "Trial numbers, best first."},
            "best": {"type": ["integer", "null"]},
            "trials": {"type": "array", "items": trial, "description": "Absent in lists."},
            "createdAt": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
        },
    })
    listing = router.schema("SweepList", {
        "type": "object", "required": ["sweeps", "nextCursor"],
        "properties": {"sweeps": {"type": "array", "items": sweep}, "nextCursor": {"type": ["string", "null"]}},
    })
    return request, sweep, listing


def register(router: Router) -> None:
    request, sweep, listing = _schemas(router)
    router.add("POST", "/v1/strategies/{strategyId}/sweeps", create_sweep, operation_id="createSweep", tag="sweeps",
               status=201, request_schema=request, response_schema=sweep)
    router.add("GET", "/v1/sweeps", list_sweeps, operation_id="listSweeps", tag="sweeps",
               query=(*pagination.PARAMS, Param("strategyId", {"type": "string"}, "Only this strategy's sweeps."),
                      Param("state", {"type": "string", "enum": list(SWEEP_STATES)}, "Only sweeps in this state.")),
               response_schema=listing)
    router.add("GET", "/v1/sweeps/{sweepId}", get_sweep, operation_id="getSweep", tag="sweeps", response_schema=sweep)
    router.add("POST", "/v1/sweeps/{sweepId}/cancel", cancel, operation_id="cancelSweep", tag="sweeps",
               response_schema=sweep, errors=(409,))

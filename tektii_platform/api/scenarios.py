"""Scenarios: backtest runs of a strategy version (spec Steps 4-6), and the config's schema.

``POST /v1/strategies/{strategyId}/scenarios`` validates the config again (the API never
trusts a client: tektii_core.scenario_config, the version, the platform's market data) and
queues the run; the scheduler (tektii_platform/scheduler.py, started by ``setup``) runs it.
States: PENDING -> RUNNING -> COMPLETE | FAILED (with failureReason) | CANCELLED.
See docs/scenarios.md.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from typing import Any

from .. import pagination, store
from ..execution import market_data_dir, read_result, run_dir
from ..http import ApiError, AppContext, Param, Request, Response, Router, not_found, ok, validation_error
from ..ids import now_db, rfc3339
from ..scheduler import wake_scheduler
from ..store import scenarios, versions
from ..validation import FieldError
from . import scenario_schema as schemas
from .strategies import get_owned

FINISHED = ("COMPLETE", "FAILED", "CANCELLED")
MAX_LOG_LINES = 1000  # per logs response; the client pages on with nextOffset
MAX_WAIT_S = 30.0  # the longest long poll of GET scenario (?waitS=)
WAIT_POLL_S = 0.1


# -- representation ----------------------------------------------------------------------


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario object; a COMPLETE run's metrics flattened at the top level."""
    data: dict[str, Any] = {
        "scenarioId": row["id"],
        "strategyId": row["strategy_id"],
        "strategyVersionId": row["version_id"],
        "state": row["state"],
        "failureReason": row["failure_reason"],
        "createdAt": rfc3339(row["created_at"]),
        "startedAt": rfc3339(row["started_at"]) if row["started_at"] else None,
        "finishedAt": rfc3339(row["finished_at"]) if row["finished_at"] else None,
        "config": json.loads(row["config"]),
        "progress": json.loads(row["progress"]) if row["progress"] else None,
        "sweepId": row["sweep_id"],
        "rerunOf": row["rerun_of"],
        "reproducibility": json.loads(row["reproducibility"]) if row["reproducibility"] else None,
        "cancelRequested": bool(row["cancel_requested"]),
        "execution": {"backend": row["backend"], "node": row.get("node")} if row.get("backend") else None,
    }
    if row["state"] == "COMPLETE" and row["metrics"]:
        # compute_metrics leaves out what it cannot compute: those stay absent here too
        data.update(json.loads(row["metrics"]))
    return data


def get_scenario_row(req: Request, strategy_id: str, scenario_id: str) -> store.Row:
    """The caller's scenario of the caller's strategy, else 404."""
    get_owned(req, strategy_id)
    row = scenarios.get(req.db, scenario_id, strategy_id)
    if row is None:
        raise not_found("Scenario", scenario_id)
    return row


def _row(req: Request) -> store.Row:
    return get_scenario_row(req, req.path_params["strategyId"], req.path_params["scenarioId"])


# -- create ---------------------------------------------------------------------------------


def _version_problems(req: Request, strategy_id: str, version_id: str) -> list[FieldError]:
    row = versions.get(req.db, version_id, strategy_id)
    if row is None:
        return [FieldError("strategyVersionId", f"{version_id} is not a version of strategy {strategy_id}; "
                                                f"see `tektii version list {strategy_id}`")]
    if row["state"] != "READY":
        why = f" ({row['failure_reason']})" if row["failure_reason"] else ""
        return [FieldError("strategyVersionId", f"version {version_id} is {row['state']}{why}, not READY; "
                                                "only a READY (uploaded) version can run")]
    return []


def _instrument_problems(req: Request, config: Any) -> list[FieldError]:
    from tektii_core.scenario_config.instruments import check_against_instruments
    from tektii_engine.data.store import CandleStore

    infos = CandleStore(market_data_dir(req.ctx.data_dir)).list_instruments()
    problems = check_against_instruments(config, {i.symbol: i.to_api() for i in infos})
    return [FieldError(p.path or None, p.message) for p in problems]


def create_scenario(req: Request) -> Response:
    """Create a scenario: validate the config and queue its backtest run"""
    from tektii_core.scenario_config.model import VERSION_ID_RE
    from tektii_core.scenario_config.validate import validate_config

    strategy = get_owned(req, req.path_params["strategyId"])
    body = req.json()
    config, problems = validate_config(body)
    details = [FieldError(p.path or None, p.message) for p in problems]
    version_id = body.get("strategyVersionId") if isinstance(body, dict) else None
    if isinstance(version_id, str) and VERSION_ID_RE.fullmatch(version_id):
        details += _version_problems(req, strategy["id"], version_id)
    if config is not None:
        details += _instrument_problems(req, config)
    if details:
        raise validation_error(details, f"Invalid scenario config: {len(details)} problem(s)")
    assert req.user is not None and config is not None
    created = scenarios.create(req.db, strategy["id"], req.user.id, config.to_api())
    wake_scheduler(req.ctx)
    location = f"/v1/strategies/{strategy['id']}/scenarios/{created['id']}"
    return ok(to_json(created), status=201, headers={"Location": location})


# -- read ------------------------------------------------------------------------------------


def list_scenarios(req: Request) -> Response:
    """List a strategy's scenarios, newest first (filter by state and version)"""
    from tektii_core.scenario_config.model import VERSION_ID_RE

    strategy = get_owned(req, req.path_params["strategyId"])
    query, errors = req.query, []
    state = version_id = None
    if query.get("state"):
        state = query["state"].strip().upper()
        if state not in schemas.STATES:
            errors.append(FieldError("state", f"must be one of {', '.join(schemas.STATES)}"))
    if query.get("versionId"):
        version_id = query["versionId"].strip()
        if not VERSION_ID_RE.fullmatch(version_id):
            errors.append(FieldError("versionId", "must be a version ID such as ver_xyz789"))
    try:
        page = pagination.parse_page(req)
    except ApiError as exc:
        errors += exc.details
    if errors:
        raise validation_error(errors)
    rows = scenarios.list_of_strategy(req.db, strategy["id"], page, state=state, version_id=version_id)
    rows, next_cursor = pagination.finish(rows, page)
    return ok({"scenarios": [to_json(r) for r in rows], "nextCursor": next_cursor})


def get_scenario(req: Request) -> Response:
    """Get one scenario: state, progress, and the metrics of a completed run"""
    wait = _wait_seconds(req)
    scheduler = req.ctx.extras.get("scheduler")
    seen = scheduler.changes() if scheduler is not None else 0
    row = _row(req)
    deadline = time.monotonic() + wait
    # A long poll (`waitS`): answer as soon as the run has finished, else when time is up.
    while row["state"] not in FINISHED and (left := deadline - time.monotonic()) > 0:
        if scheduler is not None:
            scheduler.wait_for_change(seen, left)
            seen = scheduler.changes()
        else:  # another process schedules this data directory: look again shortly
            time.sleep(min(WAIT_POLL_S, left))
        row = _row(req)
    return ok(to_json(row))


def _wait_seconds(req: Request) -> float:
    text = req.query.get("waitS", "0").strip() or "0"
    try:
        wait = float(text)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_S:
        raise validation_error([FieldError("waitS", f"must be a number of seconds from 0 to {MAX_WAIT_S:g}")])
    return wait


def cancel_scenario(req: Request) -> Response:
    """Cancel a scenario: a PENDING one at once, a RUNNING one within seconds (answered at once)"""
    row = _row(req)
    if row["state"] in FINISHED:
        raise ApiError(409, f"Scenario {row['id']} has already finished ({row['state']})", code="scenario_finished")
    scenarios.request_cancel(req.db, now_db(), scenario_id=row["id"])
    wake_scheduler(req.ctx)
    # A RUNNING run answers RUNNING with cancelRequested: the client waits for its end (GET ?waitS=).
    return ok(to_json(_row(req)))


def rerun_scenario(req: Request) -> Response:
    """Run a finished scenario again: the same version and config, as a new scenario"""
    row = _row(req)
    if row["state"] not in FINISHED:
        raise ApiError(409, f"Scenario {row['id']} is still {row['state']}; rerun it once it has finished",
                       code="scenario_not_finished")
    problems = _version_problems(req, row["strategy_id"], row["version_id"])
    if problems:
        raise validation_error(problems, "The scenario's version cannot run any more")
    assert req.user is not None
    created = scenarios.create(req.db, row["strategy_id"], req.user.id, json.loads(row["config"]), rerun_of=row["id"])
    wake_scheduler(req.ctx)
    location = f"/v1/strategies/{row['strategy_id']}/scenarios/{created['id']}"
    return ok(to_json(created), status=201, headers={"Location": location})


def scenario_reproduction(req: Request) -> Response:
    """Compare a rerun with the scenario it reran: identical, or what differed"""
    from tektii_engine.record import compare_runs

    row = _row(req)
    if row["rerun_of"] is None:
        raise ApiError(409, f"Scenario {row['id']} is not a rerun; start one with POST .../{row['id']}/rerun",
                       code="not_a_rerun")
    original = get_scenario_row(req, row["strategy_id"], row["rerun_of"])
    for scenario in (original, row):
        if scenario["state"] != "COMPLETE":
            raise ApiError(409, f"Scenario {scenario['id']} is {scenario['state']}; a comparison needs both runs COMPLETE",
                           code="scenario_not_complete")
    first, second = (read_result(run_dir(req.ctx.data_dir, s["id"])) for s in (original, row))
    if first is None or second is None:
        raise ApiError(409, "The result files of one of the runs are missing", code="results_missing")
    return ok({"scenarioId": row["id"], "rerunOf": original["id"], **compare_runs(first, second)})


def _non_negative_int(req: Request, name: str) -> int:
    text = req.query.get(name, "0").strip() or "0"
    if not text.isdigit():
        raise validation_error([FieldError(name, "must be a whole number of at least 0")])
    return int(text)


def scenario_logs(req: Request) -> Response:
    """The strategy's output lines (stdout and stderr), from line `offset` on"""
    row = _row(req)
    offset = _non_negative_int(req, "offset")
    state = row["state"]  # read before the file: a finished run's log is complete
    lines: list[str] = []
    try:
        with open(run_dir(req.ctx.data_dir, row["id"]) / "strategy.log", encoding="utf-8", errors="replace") as fh:
            for index, line in enumerate(fh):
                if index < offset:
                    continue
                if not line.endswith("\n") and state not in FINISHED:
                    break  # a line still being written: next time
                lines.append(line.rstrip("\n"))
                if len(lines) >= MAX_LOG_LINES:
                    break
    except FileNotFoundError:
        pass
    return ok({"lines": lines, "nextOffset": offset + len(lines), "state": state})


# -- results ---------------------------------------------------------------------------------


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _flatten(prefix: str, value: Any, into: list[dict[str, Any]]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, into)
    elif isinstance(value, list):
        into.append({"field": prefix, "value": json.dumps(value, separators=(",", ":"))})
    else:
        into.append({"field": prefix, "value": "" if value is None else value})


TIMESERIES_COLUMNS = ["time", "equity", "cash", "drawdownPct"]
TRADE_COLUMNS = ["symbol", "side", "quantity", "entryTime", "entryPrice", "exitTime", "exitPrice", "pnl", "grossPnl",
                 "fees", "spreadCost", "exitReason"]


def scenario_results(req: Request) -> Response:
    """Download a completed run's results: metadata, timeseries (equity curve) or trades"""
    row = _row(req)
    kind = req.path_params["type"]
    if kind not in schemas.RESULT_TYPES:
        raise ApiError(404, f"No result type {kind!r}; use one of {', '.join(schemas.RESULT_TYPES)}")
    fmt = req.query.get("format", "json").strip().lower() or "json"
    if fmt not in ("json", "csv"):
        raise validation_error([FieldError("format", "must be json or csv")])
    if row["state"] != "COMPLETE":
        raise ApiError(409, f"Scenario {row['id']} is {row['state']}; results exist once it is COMPLETE",
                       code="scenario_not_complete")
    result = read_result(run_dir(req.ctx.data_dir, row["id"]))
    if result is None:
        raise ApiError(409, f"The result files of scenario {row['id']} are missing", code="results_missing")
    if kind == "metadata":
        data = {**to_json(row), "counters": result.get("counters", {}), "initialCapital": result.get("initialCapital"),
                "finalEquity": result.get("finalEquity"), "finalBalance": result.get("finalBalance"),
                "openPositions": result.get("openPositions", []), "marginCalls": result.get("marginCalls", [])}
        if fmt == "json":
            return ok(data)
        flat: list[dict[str, Any]] = []
        _flatten("", data, flat)
        return _csv_response(row["id"], kind, _csv(["field", "value"], flat))
    if kind == "timeseries":
        rows = [{"time": p["time"], "equity": p["equity"], "cash": p["cash"], "drawdownPct": p["drawdown"] * 100.0}
                for p in result.get("equityCurve", [])]
        if fmt == "json":
            return ok({"scenarioId": row["id"], "rows": rows})
        return _csv_response(row["id"], kind, _csv(TIMESERIES_COLUMNS, rows))
    trades = [{column: trade.get(column) for column in TRADE_COLUMNS} for trade in result.get("trades", [])]
    if fmt == "json":
        return ok({"scenarioId": row["id"], "trades": trades})
    return _csv_response(row["id"], kind, _csv(TRADE_COLUMNS, trades))


def _csv_response(scenario_id: str, kind: str, text: str) -> Response:
    return Response(200, text, {"Content-Disposition": f'inline; filename="{scenario_id}-{kind}.csv"'},
                    media_type="text/csv")


def config_schema(req: Request) -> Response:
    """The scenario config's JSON Schema (public)"""
    from tektii_core.scenario_config.schema import config_json_schema

    return Response(200, config_json_schema())


# -- wiring ----------------------------------------------------------------------------------


def setup(ctx: AppContext) -> None:
    """Start the run scheduler with the platform; stop it (and its runs) on close."""
    from ..scheduler import start_scheduler

    scheduler = start_scheduler(ctx)
    if scheduler is not None:
        ctx.extras["scheduler"] = scheduler
        ctx.on_close(scheduler.stop)


def register(router: Router) -> None:
    from tektii_core.scenario_config.schema import config_json_schema

    config_main, config_defs = schemas.openapi_config_schema(config_json_schema())
    for name, schema in config_defs.items():
        router.schema(name, schema)
    config = router.schema("ScenarioConfig", config_main)
    scenario = router.schema("Scenario", schemas.scenario_schema(config))
    base = "/v1/strategies/{strategyId}/scenarios"
    one = base + "/{scenarioId}"
    router.add("POST", base, create_scenario, operation_id="createScenario", tag="scenarios", status=201,
               request_schema=config, response_schema=scenario)
    router.add("GET", base, list_scenarios, operation_id="listScenarios", tag="scenarios",
               query=(*pagination.PARAMS,
                      Param("state", {"type": "string", "enum": list(schemas.STATES)}, "Only scenarios in this state."),
                      Param("versionId", {"type": "string"}, "Only scenarios of this version.")),
               response_schema=router.schema("ScenarioList", schemas.list_schema(scenario)))
    router.add("GET", one, get_scenario, operation_id="getScenario", tag="scenarios", response_schema=scenario,
               query=(Param("waitS", {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": 0},
                            "Long poll: wait up to this many seconds for the run to finish before answering."),))
    router.add("POST", one + "/cancel", cancel_scenario, operation_id="cancelScenario", tag="scenarios",
               response_schema=scenario, errors=(409,))
    router.add("POST", one + "/rerun", rerun_scenario, operation_id="rerunScenario", tag="scenarios", status=201,
               response_schema=scenario, errors=(409,))
    router.add("GET", one + "/reproduction", scenario_reproduction, operation_id="getScenarioReproduction",
               tag="scenarios", response_schema=router.schema("ScenarioReproduction", schemas.REPRODUCTION_SCHEMA),
               errors=(409,))
    router.add("GET", one + "/logs", scenario_logs, operation_id="getScenarioLogs", tag="scenarios",
               query=(Param("offset", {"type": "integer", "minimum": 0, "default": 0},
                            "Lines to skip: the nextOffset of the previous response."),),
               response_schema=router.schema("ScenarioLogs", schemas.LOGS_SCHEMA))
    router.add("GET", one + "/results/{type}", scenario_results, operation_id="getScenarioResults", tag="scenarios",
               text_media=("text/csv",),
               query=(Param("format", {"type": "string", "enum": ["json", "csv"], "default": "json"},
                            "json: the {data: ...} envelope; csv: text/csv with a header row."),),
               response_schema=router.schema("ScenarioResults", schemas.results_schema(scenario)), errors=(409,))
    router.add("GET", "/v1/scenario-config/schema", config_schema, operation_id="getScenarioConfigSchema",
               tag="scenarios", auth=False, raw=True,
               response_schema={"type": "object", "description": "JSON Schema (draft 2020-12) of the scenario config."})

"""The run endpoints a scenario's worker uses, wherever it executes (docs/execution-backends.md):
``GET /v1/runs/{scenarioId}/candles`` (the window's candles as an Arrow IPC stream),
``POST /v1/runs/{scenarioId}/progress``, ``POST /v1/runs/{scenarioId}/logs`` and
``PUT /v1/runs/{scenarioId}/result``.

They take the run's token (tektii_platform/run_tokens.py), not an API key: the token reads only
its run's window of the instruments its config subscribes, writes only its own run, and only
while the run is RUNNING.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from ..http import ApiError, Param, Request, Response, Router
from ..ids import now_db
from ..run_files import run_files
from ..run_tokens import authorize
from ..store import scenarios

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_RESULT_BYTES = 512 * 1024 * 1024  # a long run's equity curve and trades
STREAM_WRITE_BYTES = 4 * 1024 * 1024
_ENDED = ("COMPLETE", "FAILED", "CANCELLED")
PROGRESS_SCHEMA = {
    "type": "object",
    "required": ["fraction", "eventsPerSecond", "equity"],
    "properties": {
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "eventsPerSecond": {"type": "number"},
        "equity": {"type": "number"},
        "simulatedTime": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
LOGS_SCHEMA = {
    "type": "object",
    "required": ["lines"],
    "properties": {"lines": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}


def _window(row: dict[str, Any], symbol: str, timeframe: str, start: int, end: int) -> None:
    """403 unless (symbol, timeframe) is a stream of the run's config and [start, end) lies in its window."""
    from tektii_core.scenario_config.validate import config_from_json

    config = config_from_json(json.loads(row["config"]))
    if (symbol, timeframe) not in config.candle_streams() or start < config.start or end > config.end or start >= end:
        raise ApiError(403, f"The run's config does not read {symbol} {timeframe} from {start} to {end}",
                       code="outside_run_window")


def _int_param(req: Request, name: str) -> int:
    text = req.query.get(name, "")
    if not text.lstrip("-").isdigit():
        raise ApiError(422, f"Query parameter {name} must be Unix seconds, got {text!r}")
    return int(text)


def get_candles(req: Request) -> Response:
    """The run's candles of one stream: Arrow IPC stream, one record batch per chunk"""
    from tektii_core.contracts import TektiiError
    from tektii_engine.data.store import CandleStore

    from ..execution import market_data_dir

    row = authorize(req, req.path_params["scenarioId"])
    symbol, timeframe = req.query.get("symbol", ""), req.query.get("timeframe", "")
    start, end = _int_param(req, "start"), _int_param(req, "end")
    _window(row, symbol, timeframe, start, end)
    try:
        chunks = CandleStore(market_data_dir(req.ctx.data_dir)).read(symbol, timeframe, start, end)
    except TektiiError as exc:
        raise ApiError(404, exc.message, code="no_market_data", hint=exc.hint) from None
    return Response(200, media_type=ARROW_STREAM, stream=_arrow_stream(chunks))


def _arrow_stream(chunks: Iterator[Any]) -> Iterator[bytes]:
    import pyarrow as pa

    from tektii_engine.data.candles import COLUMNS

    schema = pa.schema([(c, pa.int64() if c == "time" else pa.float64()) for c in COLUMNS])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        for chunk in chunks:
            writer.write_batch(pa.record_batch([getattr(chunk, c) for c in COLUMNS], schema=schema))
            if sink.tell() >= STREAM_WRITE_BYTES:  # few large writes: small ones stall on TCP's delayed ACKs
                yield _drain(sink)
    yield _drain(sink)  # the rest and the end-of-stream marker


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def post_progress(req: Request) -> Response:
    """The run's progress now"""
    scenario_id = req.path_params["scenarioId"]
    authorize(req, scenario_id)
    progress = req.validated_json()
    scenarios.set_progress(req.db, scenario_id, {"simulatedTime": None, **progress}, now_db())
    scheduler = req.ctx.extras.get("scheduler")
    if scheduler is not None:
        scheduler.changed()  # `scenario get --follow` sees it now
    return Response(204)


def post_logs(req: Request) -> Response:
    """Lines of the run's strategy log, in order"""
    scenario_id = req.path_params["scenarioId"]
    authorize(req, scenario_id)
    run_files(req.ctx).append_log(scenario_id, req.validated_json()["lines"])
    return Response(204)


def put_result(req: Request) -> Response:
    """The run's whole result (BacktestResult.to_dict() without the log, metrics, reproducibility)"""
    scenario_id = req.path_params["scenarioId"]
    authorize(req, scenario_id)
    raw = req.body()
    result = req.json()  # strict JSON; stored as sent, byte for byte
    if not isinstance(result, dict) or result.get("state") not in _ENDED:
        raise ApiError(422, f"The result's state must be one of {', '.join(_ENDED)}")
    files = run_files(req.ctx)
    files.close_log(scenario_id)  # every line came before the result
    files.write_result(scenario_id, raw)
    return Response(204)


def register(router: Router) -> None:
    common: dict[str, Any] = {"tag": "runs", "auth": False, "errors": (401, 403)}
    router.add("GET", "/v1/runs/{scenarioId}/candles", get_candles, operation_id="getRunCandles", raw=True,
               text_media=(ARROW_STREAM,),
               query=(Param("symbol", {"type": "string"}, required=True),
                      Param("timeframe", {"type": "string"}, required=True),
                      Param("start", {"type": "integer"}, "Unix seconds, inclusive", required=True),
                      Param("end", {"type": "integer"}, "Unix seconds, exclusive", required=True)),
               response_schema={"type": "string", "format": "binary"}, **common)
    router.add("POST", "/v1/runs/{scenarioId}/progress", post_progress, operation_id="postRunProgress", status=204,
               request_schema=PROGRESS_SCHEMA, **common)
    router.add("POST", "/v1/runs/{scenarioId}/logs", post_logs, operation_id="postRunLogs", status=204,
               request_schema=LOGS_SCHEMA, **common)
    router.add("PUT", "/v1/runs/{scenarioId}/result", put_result, operation_id="putRunResult", status=204,
               max_body=MAX_RESULT_BYTES, request_schema={"type": "object"}, **common)

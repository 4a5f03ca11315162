"""Market data: ``GET /v1/instruments`` (public), ``POST /v1/instruments/{symbol}/import`` and
``POST /v1/instruments/{symbol}/generate`` (API key).

Candles live in ``<data dir>/market-data`` (``tektii_engine.data.store.CandleStore``); see
docs/market-data.md. An import sends the file itself as the request body (CSV, gzip'd CSV or
Parquet), streamed to a temporary file: it is validated completely before anything is stored.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path
from typing import Any

from tektii_core.timeutil import TIMEFRAMES

from ..http import ApiError, Param, Request, Response, Router, ok
from ..validation import FieldError

MAX_UPLOAD_BYTES = 1024**3  # a decade of 1m candles as CSV fits comfortably
_COPY_CHUNK = 1024 * 1024
_TIMEFRAME_SCHEMA = {
    "type": "string",
    "enum": list(TIMEFRAMES),
}
_TIMESTAMP = {"type": "string", "format": "date-time"}
INSTRUMENT_SCHEMA = {
    "type": "object",
    "required": ["symbol", "name", "market", "dataStart", "dataEnd", "granularities", "synthetic", "source", "rows"],
    "properties": {
        "symbol": {"type": "string", "example": "C:BTCUSD"},
        "name": {"type": "string", "example": "BTC/USD"},
        "market": {"type": "string", "enum": ["CRYPTO", "FOREX", "STOCK"]},
        "dataStart": {**_TIMESTAMP, "description": "Open time of the first stored bar."},
        "dataEnd": {**_TIMESTAMP, "description": "End of the stored data (exclusive)."},
        "granularities": {"type": "array", "items": _TIMEFRAME_SCHEMA},
        "synthetic": {"type": "boolean"},
        "source": {"type": "string", "enum": ["imported", "synthetic"]},
        "rows": {"type": "integer", "description": "Stored bars at the base timeframe."},
    },
}
GENERATE_SCHEMA = {
    "type": "object",
    "required": ["start", "end"],
    "additionalProperties": False,
    "properties": {
        "start": _TIMESTAMP,
        "end": {**_TIMESTAMP, "description": "Exclusive."},
        "timeframe": {**_TIMEFRAME_SCHEMA, "default": "1m"},
        "seed": {"type": "integer", "minimum": 0, "default": 0},
    },
}


def store(req: Request) -> Any:
    from tektii_engine.data.store import CandleStore

    return CandleStore(Path(req.ctx.data_dir) / "market-data")


def _user_error(exc: Exception) -> ApiError:
    """A TektiiError of the market-data library as a 422 (409 when stored data conflicts)."""
    from tektii_engine.data.importer import DataValidationError
    from tektii_engine.data.store import MergeConflictError

    if isinstance(exc, DataValidationError):
        head = exc.message.split("\n", 1)[0].rstrip(":")
        return ApiError(422, head, code="invalid_market_data", details=[FieldError(None, p) for p in exc.problems],
                        hint=exc.hint)
    message = getattr(exc, "message", str(exc))
    status = 409 if isinstance(exc, MergeConflictError) else 422
    return ApiError(status, message, code="conflict" if status == 409 else None, hint=getattr(exc, "hint", None))


def _symbol(req: Request) -> str:
    from tektii_core.contracts import TektiiError
    from tektii_engine.data.symbols import parse_symbol

    try:
        return parse_symbol(req.path_params["symbol"]).symbol
    except TektiiError as exc:
        raise ApiError(422, exc.message, details=[FieldError("symbol", exc.message)]) from None


def list_instruments(req: Request) -> Response:
    """List the instruments with market data (public)"""
    query, errors = req.query, []
    limit = 100
    if "limit" in query:
        text = query["limit"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            errors.append(FieldError("limit", "must be an integer from 1 to 1000"))
        else:
            limit = int(text)
    after = ""
    if query.get("cursor"):
        try:
            after = base64.urlsafe_b64decode(query["cursor"].encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            errors.append(FieldError("cursor", "is not a cursor this list returned"))
    if errors:
        raise ApiError(422, "Invalid query parameters", details=errors)
    infos = [i for i in store(req).list_instruments() if i.symbol > after]
    shown = infos[:limit]
    next_cursor = None
    if len(infos) > limit:
        next_cursor = base64.urlsafe_b64encode(shown[-1].symbol.encode()).decode()
    return ok({"instruments": [i.to_api() for i in shown], "nextCursor": next_cursor})


def require_admin(req: Request) -> None:
    """Market data is shared: every user's scenarios replay it, so only admins write it."""
    assert req.user is not None
    if not req.user.admin:
        raise ApiError(
            403,
            "Only a platform admin can import, generate or replace market data: every user's scenarios replay it. "
            "Ask an admin, who can also make you one: tektii platform user create NAME --admin",
            code="admin_required",
        )


def import_instrument(req: Request) -> Response:
    """Import OHLCV candles from the request body (CSV, gzip'd CSV or Parquet; admins only)"""
    from tektii_core.contracts import TektiiError
    from tektii_engine.data.importer import ImportLimits, import_file

    require_admin(req)
    symbol = _symbol(req)
    query = req.query
    mode = query.get("mode", "merge")
    errors = []
    if mode not in ("merge", "replace"):
        errors.append(FieldError("mode", "must be 'merge' or 'replace'"))
    timeframe = query.get("timeframe") or None
    if timeframe is not None and timeframe not in _TIMEFRAME_SCHEMA["enum"]:
        errors.append(FieldError("timeframe", f"must be one of {', '.join(_TIMEFRAME_SCHEMA['enum'])}"))
    if errors:
        raise ApiError(422, "Invalid query parameters", details=errors)
    # The file's own name, for messages only; never a path.
    filename = Path(query.get("filename") or "upload.csv").name or "upload.csv"
    with tempfile.TemporaryDirectory(prefix="tektii-import-") as tmp:
        path = Path(tmp) / filename
        _receive(req, path)
        try:
            limits = ImportLimits.from_env()  # read per import: a changed limit needs no restart
            info = import_file(store(req), symbol, path, timeframe=timeframe, mode=mode, limits=limits)
        except TektiiError as exc:
            raise _user_error(exc) from None
    return ok(info.to_api())


def _receive(req: Request, path: Path) -> None:
    """Stream the request body to ``path`` (the JSON body limit does not apply to uploads)."""
    try:
        length = int(req.environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "Invalid Content-Length header", code="bad_request") from None
    if length <= 0:
        raise ApiError(422, "The request body is empty: send the file's content")
    if length > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"The file is larger than {MAX_UPLOAD_BYTES} bytes")
    stream = req.environ["wsgi.input"]
    with open(path, "wb") as out:
        remaining = length
        while remaining:
            chunk = stream.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                raise ApiError(400, "The request body ended early", code="bad_request")
            out.write(chunk)
            remaining -= len(chunk)


def generate_instrument(req: Request) -> Response:
    """Generate synthetic candles (a reproducible random walk), replacing stored data (admins only)"""
    from tektii_core.contracts import TektiiError
    from tektii_engine.data.generate import write_generated

    require_admin(req)
    symbol = _symbol(req)
    body = req.validated_json()
    try:
        info = write_generated(
            store(req),
            symbol,
            body["start"],
            body["end"],
            timeframe=body.get("timeframe", "1m"),
            seed=body.get("seed", 0),
        )
    except TektiiError as exc:
        raise _user_error(exc) from None
    return ok(info.to_api())


def register(router: Router) -> None:
    instrument = router.schema("Instrument", INSTRUMENT_SCHEMA)
    generate = router.schema("InstrumentGenerate", GENERATE_SCHEMA)
    router.add(
        "GET",
        "/v1/instruments",
        list_instruments,
        operation_id="listInstruments",
        tag="instruments",
        auth=False,
        query=(
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
            Param("cursor", {"type": "string"}, "nextCursor of the previous page"),
        ),
        response_schema={
            "type": "object",
            "required": ["instruments", "nextCursor"],
            "properties": {
                "instruments": {"type": "array", "items": instrument},
                "nextCursor": {"type": ["string", "null"], "description": "null on the last page"},
            },
        },
    )
    router.add(
        "POST",
        "/v1/instruments/{symbol}/import",
        import_instrument,
        operation_id="importInstrument",
        tag="instruments",
        query=(
            Param("timeframe", _TIMEFRAME_SCHEMA, "base timeframe; inferred from the rows when omitted"),
            Param(
                "mode",
                {"type": "string", "enum": ["merge", "replace"], "default": "merge"},
                "merge: new rows win on equal times; replace: discard stored data",
            ),  # fmt: skip
            Param("filename", {"type": "string"}, "the file's name, used in messages"),
        ),
        response_schema=instrument,
        errors=(403, 409, 413),
    )
    router.add(
        "POST",
        "/v1/instruments/{symbol}/generate",
        generate_instrument,
        operation_id="generateInstrument",
        tag="instruments",
        request_schema=generate,
        response_schema=instrument,
        errors=(403,),
    )

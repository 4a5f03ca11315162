"""The trading-gateway REST API and WebSocket, served by aiohttp for one backtest session.

Handlers run on the session's event loop, between the engine's steps (the engine waits for
the strategy's acks there), so they read and change the broker without locks. See
docs/gateway-api.md for what is implemented.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tektii_core import strict_json
from tektii_core.contracts import TektiiError
from tektii_core.market_model import asset_class
from tektii_core.timeutil import TIMEFRAMES, format_time, to_epoch
from tektii_engine.broker import BrokerError
from tektii_engine.broker.broker import parse_decimal
from tektii_engine.broker.models import market_decimal
from tektii_engine.gateway import wire

if TYPE_CHECKING:
    from tektii_engine.gateway.session import Session

SESSION: web.AppKey[Session] = web.AppKey("session")
VERSION = "0.1.0"
MAX_BARS = 10_000
DEFAULT_BARS = 1_000
# asyncio's socket transport reads into a new 256 KiB buffer per recv(), which glibc maps and
# unmaps every time (~10 us of syscalls and page faults per message); ours are small.
READ_SIZE = 64 * 1024


def _small_reads(transport: Any) -> None:
    if transport is not None and getattr(transport, "max_size", 0) > READ_SIZE:
        transport.max_size = READ_SIZE


def _error(status: int, code: str, message: str, details: Any = None) -> web.Response:
    return web.json_response(wire.error(code, message, details), status=status)


@web.middleware
async def _errors_and_auth(request: web.Request, handler):
    session = request.app[SESSION]
    _small_reads(request.transport)
    if request.path.startswith("/v1"):
        header = request.headers.get("Authorization", "")
        key = header[7:] if header.startswith("Bearer ") else request.headers.get("X-API-Key", "")
        if not hmac.compare_digest(key.encode(), session.api_key.encode()):
            return _error(401, "UNAUTHORIZED", "Unauthorized: missing or invalid API key")
    try:
        return await handler(request)
    except BrokerError as err:
        return _error(err.status, err.code, err.message, err.details)
    except _BadRequest as err:
        return _error(400, "INVALID_REQUEST", f"Invalid request: {err}")
    except TektiiError as err:  # e.g. a timeframe finer than the stored market data
        return _error(400, "INVALID_REQUEST", f"Invalid request: {err.message}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "INVALID_REQUEST" if exc.status < 500 else "INTERNAL_ERROR"
        return _error(exc.status, code, f"{exc.reason}: {request.method} {request.path}")
    except Exception as exc:  # noqa: BLE001 - the SDK expects the JSON envelope, even for bugs
        return _error(500, "INTERNAL_ERROR", f"Internal error: {type(exc).__name__}: {exc}")


class _BadRequest(Exception):
    pass


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = strict_json.loads(await request.read() or b"{}")
    except strict_json.JsonError as exc:
        raise _BadRequest(f"malformed JSON body: {exc.message}") from None
    if not isinstance(data, dict):
        raise _BadRequest("expected a JSON object")
    return data


def _time_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return to_epoch(value)
    except (ValueError, TypeError):
        raise _BadRequest(f"{name} must be an RFC 3339 timestamp, got {value!r}") from None


def _limit(request: web.Request, default: int | None = None) -> int | None:
    value = request.query.get("limit")
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise _BadRequest(f"limit must be an integer, got {value!r}") from None
    if limit < 0:
        raise _BadRequest("limit must not be negative")
    return limit


def _symbol(session: Session, raw: str) -> str:
    symbol = session.broker.resolve_symbol(raw)
    if symbol is None:
        raise BrokerError(404, "SYMBOL_NOT_FOUND", f"Symbol not found: {raw}", {"symbol": raw})
    return symbol


def _symbol_filter(session: Session, raw: str | None) -> str | None:
    """A list's `symbol` filter; a symbol this backtest does not trade matches nothing (not 404)."""
    if not raw:
        return None
    return session.broker.resolve_symbol(raw) or f"untraded:{raw}"


def _filtered_orders(request: web.Request, orders) -> list[dict[str, Any]]:
    session = request.app[SESSION]
    q = request.query
    symbol = _symbol_filter(session, q.get("symbol"))
    statuses = {s.strip().upper() for s in q["status"].split(",")} if q.get("status") else None
    side = q.get("side", "").upper() or None
    since, until = _time_param(request, "since"), _time_param(request, "until")
    picked = [
        o
        for o in orders
        if (symbol is None or o.symbol == symbol)
        and (statuses is None or o.status in statuses)
        and (side is None or wire.side(o.side) == side)
        and (q.get("client_order_id") is None or o.client_order_id == q["client_order_id"])
        and (q.get("oco_group_id") is None or o.oco_group_id == q["oco_group_id"])
        and (since is None or o.created_at >= since)
        and (until is None or o.created_at < until)
    ]
    limit = _limit(request)
    if limit is not None:
        picked = picked[-limit:] if limit else []
    return [wire.order(o) for o in picked]


# -- account and orders ------------------------------------------------------------------------
async def get_account(request: web.Request) -> web.Response:
    return web.json_response(wire.account(request.app[SESSION].broker.account()))


async def submit_order(request: web.Request) -> web.Response:
    order = request.app[SESSION].broker.submit_request(await _body(request))
    return web.json_response(wire.handle(order), status=201)


async def list_orders(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    pool = (
        broker.orders.values()
        if request.query.get("status")
        else (o for o in broker.orders.values() if o.is_open)
    )
    return web.json_response(_filtered_orders(request, pool))


async def order_history(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    done = (o for o in broker.orders.values() if not o.is_open)
    return web.json_response(_filtered_orders(request, done))


async def get_order(request: web.Request) -> web.Response:
    order = request.app[SESSION].broker.get_order(request.match_info["order_id"])
    return web.json_response(wire.order(order))


async def modify_order(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    order = broker.modify(request.match_info["order_id"], await _body(request))
    return web.json_response({"order": wire.order(order), "previous_order_id": None})


async def cancel_order(request: web.Request) -> web.Response:
    order = request.app[SESSION].broker.cancel(request.match_info["order_id"])
    return web.json_response({"order": wire.order(order), "success": True})


async def cancel_all(request: web.Request) -> web.Response:
    count = request.app[SESSION].broker.cancel_all(request.query.get("symbol"))
    return web.json_response({"cancelled_count": count, "failed_count": 0, "failed_order_ids": []})


# -- positions and trades ----------------------------------------------------------------------
def _position(broker: Any, position: Any) -> dict[str, Any]:
    return wire.position(position, broker.margin.liquidation_price(position))


async def list_positions(request: web.Request) -> web.Response:
    session = request.app[SESSION]
    symbol = _symbol_filter(session, request.query.get("symbol"))
    positions = session.broker.positions.values()
    return web.json_response(
        [_position(session.broker, p) for p in positions if symbol is None or p.symbol == symbol]
    )


async def get_position(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    return web.json_response(_position(broker, broker.get_position(request.match_info["position_id"])))


async def modify_position(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    position = broker.modify_position(request.match_info["position_id"], await _body(request))
    return web.json_response(_position(broker, position))


async def close_position(request: web.Request) -> web.Response:
    broker = request.app[SESSION].broker
    body = await _body(request)
    cancel = body.get("cancel_associated_orders")
    if cancel is not None and not isinstance(cancel, bool):
        raise BrokerError(400, "INVALID_VALUE", "Invalid value for cancel_associated_orders: expected true or false",
                          {"field": "cancel_associated_orders", "provided": str(cancel)})
    quantity, limit_price = body.get("quantity"), body.get("limit_price")
    order = broker.close_position(
        request.match_info["position_id"],
        quantity=None if quantity is None else parse_decimal(quantity, "quantity"),
        order_type=body.get("order_type") or "MARKET",
        limit_price=None if limit_price is None else parse_decimal(limit_price, "limit_price"),
        cancel_associated_orders=cancel is not False,
    )
    return web.json_response(wire.handle(order))


async def close_all_positions(request: web.Request) -> web.Response:
    orders = request.app[SESSION].broker.close_all(request.query.get("symbol"))
    return web.json_response([wire.handle(o) for o in orders])


async def list_trades(request: web.Request) -> web.Response:
    session = request.app[SESSION]
    q = request.query
    symbol = _symbol_filter(session, q.get("symbol"))
    since, until = _time_param(request, "since"), _time_param(request, "until")
    fills = [
        f
        for f in session.broker.fills
        if (symbol is None or f.symbol == symbol)
        and (q.get("order_id") is None or f.order_id == q["order_id"])
        and (since is None or f.time >= since)
        and (until is None or f.time < until)
    ]
    limit = _limit(request)
    if limit is not None:
        fills = fills[-limit:] if limit else []
    return web.json_response([wire.trade(f) for f in fills])


# -- market data -------------------------------------------------------------------------------
async def get_bars(request: web.Request) -> web.Response:
    session = request.app[SESSION]
    symbol = _symbol(session, request.match_info["symbol"])
    tf = request.query.get("timeframe", "")
    if tf not in TIMEFRAMES:
        raise BrokerError(
            400,
            "INVALID_VALUE",
            f"Invalid value for timeframe: {tf!r}",
            {"field": "timeframe", "provided": tf},
        )
    limit = min(_limit(request, DEFAULT_BARS) or 0, MAX_BARS)
    rows = session.history(
        symbol, tf, _time_param(request, "start"), _time_param(request, "end"), limit
    )
    return web.json_response([wire.bar(symbol, tf, *row) for row in rows])


async def get_quote(request: web.Request) -> web.Response:
    session = request.app[SESSION]
    symbol = _symbol(session, request.match_info["symbol"])
    last = session.last_price(symbol)
    if last is None:
        raise BrokerError(
            404,
            "SYMBOL_NOT_FOUND",
            f"No quote for {symbol} yet: no bar of it has closed by the simulated time"
            f" {format_time(session.engine.now)} (the first quote comes with its first candle)",
            {"symbol": symbol, "reason": "NO_BAR_YET"},
        )
    bid, ask = session.broker.fill_model.quote(symbol, market_decimal(last))
    return web.json_response(
        {
            "symbol": symbol,
            "provider": wire.PROVIDER,
            "bid": wire.dec(bid),
            "ask": wire.dec(ask),
            "last": wire.dec(last),
            "bid_size": None,
            "ask_size": None,
            "volume": None,
            "timestamp": format_time(session.engine.now),
        }
    )


# -- system ------------------------------------------------------------------------------------
async def capabilities(request: web.Request) -> web.Response:
    session = request.app[SESSION]
    config = session.engine.config
    return web.json_response(
        {
            "features": ["bracket_orders", "oco", "reduce_only", "trailing_stop", "event_ack"],
            "max_leverage": wire.dec(max(config.leverage(s) for s in config.symbols)),
            "position_mode": config.position_mode.upper(),
            "rate_limits": None,
            "supported_asset_classes": sorted({asset_class(s) for s in config.symbols}),
            "supported_order_types": ["MARKET", "LIMIT", "STOP", "STOP_LIMIT", "TRAILING_STOP"],
        }
    )


async def status(request: web.Request) -> web.Response:
    now = format_time(request.app[SESSION].engine.now)
    return web.json_response({"connected": True, "last_heartbeat": now, "latency_ms": 0})


async def health(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "status": "connected",
            "version": VERSION,
            "git_sha": "unknown",
            "providers": [{"connected": True, "platform": "tektii", "stale_instruments": []}],
        }
    )


async def livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"ready": True})


async def circuit_breakers(request: web.Request) -> web.Response:
    closed = {"failure_count": 0, "state": "closed"}
    return web.json_response({"adapter": closed, "exit_order": closed})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    session = request.app[SESSION]
    # No permessage-deflate: frames are small and on loopback; compressing them cost both
    # sides more than a quarter of the lockstep's throughput.
    ws = web.WebSocketResponse(max_msg_size=1 << 20, autoping=True, compress=False)
    await ws.prepare(request)
    await session.attach(ws, request.transport)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                session.on_message(msg.data, ws)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        session.detach(ws)
    return ws


def create_app(session: Session) -> web.Application:
    app = web.Application(middlewares=[_errors_and_auth], client_max_size=1 << 20)
    app[SESSION] = session
    r = app.router
    r.add_get("/health", health)
    r.add_get("/livez", livez)  # probes as on Tektii's gateway: an entrypoint may wait on them
    r.add_get("/readyz", readyz)
    r.add_get("/v1/health", health)
    r.add_get("/v1/account", get_account)
    r.add_post("/v1/orders", submit_order)
    r.add_get("/v1/orders", list_orders)
    r.add_delete("/v1/orders", cancel_all)
    r.add_get("/v1/orders/history", order_history)
    r.add_get("/v1/orders/{order_id}", get_order)
    r.add_patch("/v1/orders/{order_id}", modify_order)
    r.add_delete("/v1/orders/{order_id}", cancel_order)
    r.add_get("/v1/positions", list_positions)
    r.add_delete("/v1/positions", close_all_positions)
    r.add_get("/v1/positions/{position_id}", get_position)
    r.add_patch("/v1/positions/{position_id}", modify_position)
    r.add_delete("/v1/positions/{position_id}", close_position)
    r.add_get("/v1/trades", list_trades)
    r.add_get("/v1/bars/{symbol}", get_bars)
    r.add_get("/v1/quotes/{symbol}", get_quote)
    r.add_get("/v1/capabilities", capabilities)
    r.add_get("/v1/status", status)
    r.add_get("/v1/circuit-breakers", circuit_breakers)
    r.add_post("/v1/circuit-breakers/reset", circuit_breakers)
    r.add_get("/v1/ws", websocket)
    return app

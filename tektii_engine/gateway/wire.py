"""Broker records as the trading-gateway JSON the `tektii` SDK parses (snake_case, decimals
as strings, RFC 3339 UTC times), and the WebSocket frames that carry them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tektii_core.timeutil import format_time

PROVIDER = "tektii"
CURRENCY = "USD"


def dec(value: Decimal | float | None) -> str | None:
    """A plain decimal string, never an exponent: a Decimal exactly, a float (market data) as
    the shortest decimal that reads back as the same float. NaN and infinities are refused."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {value}")
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = repr(float(value))
        if text.endswith(".0"):
            text = text[:-2]
        elif "e" in text or "n" in text:  # 1e-05, 1e+16; nan and inf raise here
            return dec(Decimal(text))
    return "0" if text in ("", "-0") else text


def side(value: int) -> str:
    return "BUY" if value > 0 else "SELL"


def order(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "correlation_id": o.correlation_id,  # liquidation:<margin call id> for a margin call's
        "symbol": o.symbol,
        "side": side(o.side),
        "order_type": o.order_type,
        "quantity": dec(o.quantity),
        "filled_quantity": dec(o.filled_quantity),
        "remaining_quantity": dec(o.remaining),
        "limit_price": dec(o.limit_price),
        "stop_price": dec(o.stop_price),
        "stop_loss": dec(o.stop_loss),
        "take_profit": dec(o.take_profit),
        "trailing_distance": dec(o.trailing_distance),
        "trailing_type": o.trailing_type,
        "average_fill_price": dec(o.average_fill_price),
        "status": o.status,
        "reject_reason": o.reject_reason,
        "time_in_force": o.time_in_force,
        "reduce_only": o.reduce_only,
        "post_only": o.post_only,
        "hidden": None,
        "display_quantity": None,
        "oco_group_id": o.oco_group_id,
        "position_id": o.position_id,
        "parent_order_id": o.parent_id,  # bracket legs: their entry order
        "created_at": format_time(o.created_at),
        "updated_at": format_time(o.updated_at),
    }


def handle(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "correlation_id": None,
        "status": o.status,
    }


def position(p: Any, liquidation_price: Decimal | None = None) -> dict[str, Any]:
    return {
        "id": p.id,
        "symbol": p.symbol,
        "side": "LONG" if p.side > 0 else "SHORT",
        "quantity": dec(p.quantity),
        "average_entry_price": dec(p.average_price),
        "current_price": dec(p.current_price),
        "unrealized_pnl": dec(p.unrealized_pnl),
        "realized_pnl": dec(p.realized_pnl),
        "leverage": dec(p.leverage),
        "liquidation_price": dec(liquidation_price),
        "margin_mode": "CROSS",
        "opened_at": format_time(p.opened_at),
        "updated_at": format_time(p.updated_at),
    }


def trade(f: Any) -> dict[str, Any]:
    return {
        "id": f.id,
        "order_id": f.order_id,
        "symbol": f.symbol,
        "side": side(f.side),
        "quantity": dec(f.quantity),
        "price": dec(f.price),
        "commission": dec(f.commission),
        "commission_currency": CURRENCY,
        "is_maker": f.is_maker,
        "timestamp": format_time(f.time),
    }


def liquidation(call: Any) -> dict[str, Any]:
    """The `error` event (code LIQUIDATION) of a margin call, sent with the batch that called it."""
    count = len(call.order_ids)
    return {
        "type": "error",
        "code": "LIQUIDATION",
        "message": (
            f"Margin call at {format_time(call.time)}: equity {call.equity:.2f} is below the maintenance margin"
            f" {call.maintenance_margin:.2f}; closing {count} position{'s' if count != 1 else ''}"
            " at the next bar's open"
        ),
        "details": {
            "margin_call_id": call.id,
            "equity": dec(call.equity),
            "maintenance_margin": dec(call.maintenance_margin),
            "margin_used": dec(call.margin_used),
            "position_ids": [p.id for p in call.positions],
            "order_ids": list(call.order_ids),
        },
    }


def account(values: dict[str, float]) -> dict[str, Any]:
    return {
        "balance": dec(values["balance"]),
        "currency": CURRENCY,
        "equity": dec(values["equity"]),
        "margin_available": dec(values["margin_available"]),
        "margin_used": dec(values["margin_used"]),
        "unrealized_pnl": dec(values["unrealized_pnl"]),
    }


def price(value: float) -> str:
    """dec() of a float (a market-data price), on the fast path without a call per digit."""
    text = repr(value)
    if text.endswith(".0"):
        return "0" if text == "-0.0" else text[:-2]
    if "e" in text or "n" in text:
        return dec(value)  # type: ignore[return-value]
    return text


def candle_prefix(symbol: str, timeframe: str) -> str:
    """The constant start of a stream's candle frames (see candle_text)."""
    return (
        f'{{"type":"candle","bar":{{"symbol":{json.dumps(symbol)},"provider":{json.dumps(PROVIDER)},'
        f'"timeframe":{json.dumps(timeframe)},"timestamp":"'
    )


def candle_text(prefix: str, t_open: int, o: float, h: float, low: float, c: float, v: float) -> str:
    """A candle frame as JSON text, open at the end for the event id and timestamp that
    Session.exchange appends: the same object as {"type": "candle", "bar": bar(...)}, built
    without a dict and a JSON pass per event."""
    return (
        f'{prefix}{format_time(t_open)}","open":"{price(o)}","high":"{price(h)}","low":"{price(low)}",'
        f'"close":"{price(c)}","volume":"{price(v)}"}}'
    )


def text_frames(texts: list[str]) -> bytes:
    """The texts as unmasked, uncompressed WebSocket text frames (RFC 6455, server side),
    concatenated: what a batch of events sends in one write."""
    parts: list[bytes] = []
    for text in texts:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            parts.append(b"\x81" + n.to_bytes(1, "big"))
        elif n < 65536:
            parts.append(b"\x81\x7e" + n.to_bytes(2, "big"))
        else:
            parts.append(b"\x81\x7f" + n.to_bytes(8, "big"))
        parts.append(payload)
    return b"".join(parts)


def bar(symbol: str, timeframe: str, t_open: int, o, h, low, c, v) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "provider": PROVIDER,
        "timeframe": timeframe,
        "timestamp": format_time(t_open),
        "open": dec(o),
        "high": dec(h),
        "low": dec(low),
        "close": dec(c),
        "volume": dec(v),
    }


def error(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return body

"""The lockstep's prepared frames say exactly what the general JSON path says; acks are read
the same with and without the SDK fast path."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from tektii_testkit import WalkFeed

from tektii_core.scenario_config.validate import build_config
from tektii_core.timeutil import format_time
from tektii_engine.engine import Engine
from tektii_engine.gateway import wire
from tektii_engine.gateway.session import Session

PRICES = [42000.12, 42010.5, 1.0, 0.0, -0.0, 1e-05, 1.1e-07, 1e16, 2.5e22, 0.1 + 0.2, 123456789.0, 1.23456789012345]


@pytest.mark.parametrize("value", PRICES)
def test_price_is_dec_of_the_float(value):
    assert wire.price(value) == wire.dec(value)


def test_candle_text_is_the_candle_frame():
    prefix = wire.candle_prefix("F:EURUSD", "15m")
    for o, h, low, c, v in [PRICES[:5], PRICES[5:10], PRICES[7:12]]:
        text = wire.candle_text(prefix, 1_704_067_200, o, h, low, c, v) + ',"event_id":"evt_7","timestamp":"x"}'
        bar = wire.bar("F:EURUSD", "15m", 1_704_067_200, o, h, low, c, v)
        assert json.loads(text) == {"type": "candle", "bar": bar, "event_id": "evt_7", "timestamp": "x"}


def test_rfc3339_of_whole_and_fractional_seconds():
    for t in (0, 59, 86_399, 86_400, 1_704_067_260, 4_102_444_799, -1, -86_401, 1_704_067_260.0, 1.5, 1_704_067_260.75):
        assert format_time(t) == datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), t


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_text_frames_are_rfc6455_server_frames(size):
    text = "x" * size
    data = wire.text_frames([text, "é"])
    assert data[0] == 0x81  # FIN, text
    if size < 126:
        header = 2
        assert data[1] == size
    elif size < 65_536:
        header = 4
        assert data[1] == 126 and int.from_bytes(data[2:4], "big") == size
    else:
        header = 10
        assert data[1] == 127 and int.from_bytes(data[2:10], "big") == size
    assert data[header : header + size] == text.encode()
    assert data[header + size :] == b"\x81\x02" + "é".encode()  # no mask bit: server to client


def session_with(*event_ids: str) -> Session:
    engine = Engine(build_config([("C:BTCUSD", ["candle_1m"])], 1_704_067_200, 1_704_067_500), WalkFeed())
    session = Session(engine, WalkFeed(), "key")
    session.outstanding = {e: "{}" for e in event_ids}
    return session


def sdk_ack(ids: list[str]) -> str:
    """As the SDK's AsyncEventStream._ack writes it."""
    return json.dumps({"type": "event_ack", "correlation_id": str(uuid.uuid4()), "events_processed": ids,
                       "timestamp": 1_733_000_000_000})


@pytest.mark.parametrize(
    "ack",
    [
        sdk_ack(["evt_1", "evt_3"]),  # the fast path
        json.dumps({"type": "event_ack", "events_processed": ["evt_1", "evt_3"]}),  # another client
        '{"type":"event_ack","correlation_id":"x","events_processed":["evt_1","evt_3"],"timestamp":0}',
    ],
)
def test_acks_release_exactly_the_ids_they_name(ack):
    session = session_with("evt_1", "evt_2", "evt_3")
    session.on_message(ack)
    assert list(session.outstanding) == ["evt_2"] and session.acked
    session.on_message(sdk_ack([]))  # an empty ack releases nothing
    session.on_message('{"type": "event_ack", "events_processed": "evt_2"}')  # not a list
    session.on_message("not json")
    assert list(session.outstanding) == ["evt_2"]
    session.on_message(sdk_ack(["evt_2", "evt_9"]))
    assert session.outstanding == {}

"""The gateway's HTTP surface and raw WebSocket contract, checked by a hand-written client.

The "strategy" here is a thread started through the launcher hook: it speaks HTTP over TCP
and over the Unix socket, and raw WebSocket frames, without the SDK in between.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

from tektii_testkit import TableFeed, WalkFeed
from websockets.sync.client import connect

from tektii_core.scenario_config.validate import build_config
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_plugins.runtimes.process import ProcessRuntime

T0 = 1_704_067_200
FEED = TableFeed(
    {("C:BTCUSD", "1m"): [(T0 + 60 * i, 100 + i, 101 + i, 99 + i, 100 + i) for i in range(-3, 5)]}
)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


class ThreadStrategy:
    """RunningStrategy for a client thread."""

    def __init__(self, target, launch):
        self.error: BaseException | None = None
        self.out: dict = {}

        def body():
            try:
                target(launch, self.out)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def poll(self):
        return None if self.thread.is_alive() else 0

    def stop(self, timeout=5.0):
        self.thread.join(timeout)

    def log_tail(self, lines=50):
        return ""


def call(conn, method, path, key=None, body=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


def client(launch, out):
    url = urlsplit(launch.gateway_url)
    tcp = http.client.HTTPConnection(url.hostname, url.port)
    key = launch.api_key
    out["no_key"] = call(tcp, "GET", "/v1/account")
    out["bad_key"] = call(tcp, "GET", "/v1/account", "wrong")
    out["health"] = call(tcp, "GET", "/health")
    out["unix_account"] = call(
        UnixHTTPConnection(str(launch.gateway_socket)), "GET", "/v1/account", key
    )
    out["bad_json"] = call(tcp, "POST", "/v1/orders", key, body="{not json")
    out["no_order"] = call(tcp, "GET", "/v1/orders/ord_404", key)
    out["bad_tf"] = call(tcp, "GET", "/v1/bars/C%3ABTCUSD?timeframe=3m", key)
    frames = []
    with connect(
        launch.gateway_url.replace("http", "ws") + "/v1/ws",
        additional_headers={"Authorization": f"Bearer {key}"},
    ) as ws:
        # The client offers permessage-deflate (the SDK does too); the gateway declines it.
        out["ws_extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
        first = json.loads(ws.recv(timeout=10))
        frames.append(first)
        out["bars_at_first"] = call(
            tcp, "GET", "/v1/bars/C%3ABTCUSD?timeframe=1m&end=2030-01-01T00:00:00Z", key
        )
        out["quote"] = call(tcp, "GET", "/v1/quotes/C%3ABTCUSD", key)
        # An empty ack releases nothing: no next frame may arrive.
        ws.send(
            json.dumps(
                {"type": "event_ack", "correlation_id": "x", "events_processed": [], "timestamp": 0}
            )
        )
        try:
            out["after_empty_ack"] = ws.recv(timeout=0.5)
        except TimeoutError:
            out["after_empty_ack"] = None
        ack = first
        while True:
            ws.send(
                json.dumps(
                    {
                        "type": "event_ack",
                        "correlation_id": "x",
                        "events_processed": [ack["event_id"]],
                        "timestamp": 0,
                    }
                )
            )
            if ack["type"] == "backtest_complete":
                break
            ack = json.loads(ws.recv(timeout=10))
            frames.append(ack)
    out["frames"] = frames


def run_with_client(target, **limits):
    holder = {}

    def launcher(launch):
        holder["s"] = ThreadStrategy(target, launch)
        return holder["s"]

    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 240)
    result = run_backtest(config, FEED, launcher, limits=RunLimits(ack_timeout_s=5, **limits))
    strategy = holder["s"]
    if strategy.error:
        raise strategy.error
    return result, strategy.out


def test_http_surface_auth_errors_and_unix_socket():
    result, out = run_with_client(client)
    assert result.state == "COMPLETE", result.reason
    assert out["no_key"][0] == 401 and out["no_key"][1]["code"] == "UNAUTHORIZED"
    assert out["bad_key"][0] == 401
    assert out["health"][0] == 200 and out["health"][1]["status"] == "connected"
    assert out["unix_account"] == (
        200,
        {
            "balance": "100000",
            "currency": "USD",
            "equity": "100000",
            "margin_available": "100000",
            "margin_used": "0",
            "unrealized_pnl": "0",
        },
    )
    assert out["bad_json"][0] == 400 and out["bad_json"][1]["code"] == "INVALID_REQUEST"
    assert out["no_order"][0] == 404 and out["no_order"][1]["code"] == "ORDER_NOT_FOUND"
    assert out["bad_tf"][0] == 400 and out["bad_tf"][1]["details"]["field"] == "timeframe"
    assert out["ws_extensions"] is None  # no compression on the strategy socket


def test_no_look_ahead_in_rest_history_and_quotes():
    _, out = run_with_client(client)
    status, bars = out["bars_at_first"]
    assert status == 200
    # At the first candle (closing T0+60) only bars opening up to T0 exist, even with end=2030.
    assert [b["timestamp"] for b in bars][-1] == "2024-01-01T00:00:00Z"
    assert len(bars) == 4 and bars[-1]["close"] == "100"
    assert out["quote"][1]["last"] == "100"


def test_raw_frames_carry_event_ids_and_wait_for_acks():
    _, out = run_with_client(client)
    frames = out["frames"]
    assert out["after_empty_ack"] is None
    assert [f["type"] for f in frames] == ["candle"] * 4 + ["backtest_complete"]
    assert len({f["event_id"] for f in frames}) == 5
    bar = frames[0]["bar"]
    assert bar == {
        "symbol": "C:BTCUSD",
        "provider": "tektii",
        "timeframe": "1m",
        "timestamp": "2024-01-01T00:00:00Z",
        "open": "100",
        "high": "101",
        "low": "99",
        "close": "100",
        "volume": "1",
    }
    assert frames[0]["timestamp"] == "2024-01-01T00:01:00Z"  # delivered at its close


def test_cancel_and_progress(tmp_path):
    cancel = threading.Event()
    progress = []

    def on_progress(fraction, rate, equity):
        progress.append((fraction, rate, equity))
        if fraction > 0:  # the strategy is trading (its start may take a while on a busy machine)
            cancel.set()

    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 86400 * 30)
    started = time.monotonic()
    result = run_backtest(
        config,
        WalkFeed(),
        StrategyLauncher(ProcessRuntime(), path="tests/engine/strategies/buy_and_hold.py"),
        on_progress=on_progress,
        cancel=cancel,
    )
    assert result.state == "CANCELLED"
    assert time.monotonic() - started < 60
    fraction, rate, equity = progress[-1]
    assert 0 < fraction < 1 and rate > 0 and equity > 0
    assert 0 < result.counters["candles"] < 30 * 1440


def test_wall_clock_limit():
    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 86400 * 30)
    result = run_backtest(
        config,
        WalkFeed(),
        StrategyLauncher(ProcessRuntime(), path="tests/engine/strategies/buy_and_hold.py"),
        limits=RunLimits(wall_clock_s=2),
    )
    assert result.state == "FAILED" and "wall-clock limit of 2 s" in result.reason


def test_heartbeat_pings_while_the_strategy_is_busy():
    def slow_client(launch, out):
        headers = {"Authorization": f"Bearer {launch.api_key}"}
        url = launch.gateway_url.replace("http", "ws") + "/v1/ws"
        with connect(url, additional_headers=headers) as ws:
            frame = json.loads(ws.recv(timeout=10))
            time.sleep(0.7)  # "busy": no ack yet, so the engine sends heartbeats
            pings = []
            while True:
                if frame["type"] == "ping":
                    pings.append(frame)
                else:
                    ws.send(
                        json.dumps({"type": "event_ack", "events_processed": [frame["event_id"]]})
                    )
                    if frame["type"] == "backtest_complete":
                        break
                frame = json.loads(ws.recv(timeout=10))
        out["pings"] = pings

    result, out = run_with_client(slow_client, ping_interval_s=0.2)
    assert result.state == "COMPLETE", result.reason
    assert out["pings"] and all("event_id" not in p for p in out["pings"])
    assert out["pings"][0]["timestamp"] == "2024-01-01T00:01:00Z"


def test_unknown_endpoint_gets_the_json_envelope():
    def probe(launch, out):
        url = urlsplit(launch.gateway_url)
        out["missing"] = call(
            http.client.HTTPConnection(url.hostname, url.port),
            "GET",
            "/v1/nothing-here",
            launch.api_key,
        )
        client_acks_everything(launch)

    _, out = run_with_client(probe)
    status, body = out["missing"]
    assert status == 404 and body["code"] == "INVALID_REQUEST"


def client_acks_everything(launch):
    headers = {"Authorization": f"Bearer {launch.api_key}"}
    with connect(
        launch.gateway_url.replace("http", "ws") + "/v1/ws", additional_headers=headers
    ) as ws:
        while True:
            frame = json.loads(ws.recv(timeout=10))
            ws.send(json.dumps({"type": "event_ack", "events_processed": [frame["event_id"]]}))
            if frame["type"] == "backtest_complete":
                return


def test_missing_market_data_fails_the_run_cleanly():
    from tektii_core.contracts import TektiiError

    def no_data(symbol, tf, start, end):
        raise TektiiError(f"no market data for {symbol}")

    holder = {}

    def launcher(launch):
        holder["s"] = ThreadStrategy(lambda launch, out: client_acks_everything(launch), launch)
        return holder["s"]

    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 240)
    result = run_backtest(config, no_data, launcher, limits=RunLimits(ack_timeout_s=5))
    assert result.state == "FAILED" and result.reason == "no market data for C:BTCUSD"


def test_bracket_legs_name_their_parent_on_the_order_itself():
    def bracket(launch, out):
        url = urlsplit(launch.gateway_url)
        tcp = http.client.HTTPConnection(url.hostname, url.port)
        headers = {"Authorization": f"Bearer {launch.api_key}"}
        out["legs"] = []
        with connect(launch.gateway_url.replace("http", "ws") + "/v1/ws", additional_headers=headers) as ws:
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame["type"] == "candle" and "entry" not in out:
                    body = {"symbol": "C:BTCUSD", "side": "BUY", "quantity": "1", "order_type": "MARKET",
                            "stop_loss": "90", "take_profit": "150"}
                    out["entry"] = call(tcp, "POST", "/v1/orders", launch.api_key, json.dumps(body))[1]["id"]
                if frame["type"] == "order" and frame["event"] == "BRACKET_ORDER_CREATED":
                    out["legs"].append((frame["parent_order_id"], frame["order"]["parent_order_id"],
                                        call(tcp, "GET", f"/v1/orders/{frame['order']['id']}", launch.api_key)[1]))
                ws.send(json.dumps({"type": "event_ack", "events_processed": [frame["event_id"]]}))
                if frame["type"] == "backtest_complete":
                    return

    holder = {}

    def launcher(launch):
        holder["s"] = ThreadStrategy(bracket, launch)
        return holder["s"]

    config = build_config([("C:BTCUSD", ["candle_1m", "order_update"])], T0, T0 + 240)
    result = run_backtest(config, FEED, launcher, limits=RunLimits(ack_timeout_s=5))
    assert result.state == "COMPLETE", result.reason
    out = holder["s"].out
    assert len(out["legs"]) == 2
    for frame_parent, order_parent, rest in out["legs"]:
        assert frame_parent == order_parent == rest["parent_order_id"] == out["entry"]

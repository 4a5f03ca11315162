"""The waitress server: graceful stop, threads."""

from __future__ import annotations

import threading
import time

import requests

from tektii_platform.http import ok
from tektii_platform.server import RunningServer


def test_stop_finishes_requests_in_flight_then_refuses_new_ones(tmp_path):
    server = RunningServer(tmp_path, "127.0.0.1", 0)
    entered = threading.Event()

    def slow(req):
        """Slow"""
        entered.set()
        time.sleep(1.0)
        return ok({"done": True})

    server.app.router.add("GET", "/v1/slow", slow, tag="test", auth=False)
    thread = server.start_thread()
    result: dict = {}

    def call() -> None:
        result["response"] = requests.get(f"{server.url}/v1/slow", timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    assert entered.wait(10)
    server.stop()
    caller.join(timeout=30)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert result["response"].status_code == 200
    assert result["response"].json() == {"data": {"done": True}}
    try:
        requests.get(f"{server.url}/healthz", timeout=2)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the server still accepts connections after stop()")


def test_requests_are_served_in_parallel(tmp_path):
    server = RunningServer(tmp_path, "127.0.0.1", 0, threads=4)
    barrier = threading.Barrier(3, timeout=10)

    def meet(req):
        """Waits for two other requests"""
        barrier.wait()  # only returns if three requests run at the same time
        return ok({"met": True})

    server.app.router.add("GET", "/v1/meet", meet, tag="test", auth=False)
    thread = server.start_thread()
    statuses: list[int] = []
    callers = [
        threading.Thread(target=lambda: statuses.append(requests.get(f"{server.url}/v1/meet", timeout=30).status_code))
        for _ in range(3)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    server.stop()
    thread.join(timeout=30)
    assert statuses == [200, 200, 200]


def test_close_releases_a_server_that_never_ran(tmp_path):
    server = RunningServer(tmp_path, "127.0.0.1", 0)
    port = server.port
    server.close()
    again = RunningServer(tmp_path, "127.0.0.1", port)  # the port and the database are free again
    again.close()

"""Timing and connections as on Tektii's gateway, steered by environment variables:

SLEEP_BEFORE_CONNECT  seconds to sleep before anything (a slow cold start, e.g. a model load)
SLEEP_ON_EVENT        "N:S": sleep S seconds while handling candle number N (1-based)
STREAMS               how many SDK event streams to open at once (each in its own thread)
Every stream must see every candle; prints `STREAMS <count per stream...>` at the end.
It first waits on the gateway's /readyz and /livez probes, as a container entrypoint would.
"""

import json
import os
import threading
import time
import urllib.request

from tektii import CandleEvent, TradingGateway

time.sleep(float(os.environ.get("SLEEP_BEFORE_CONNECT", "0")))
base = os.environ["TEKTII_TRADING_GATEWAY_URL"]
for probe, expected in (("/readyz", {"ready": True}), ("/livez", {"status": "ok"})):
    with urllib.request.urlopen(base + probe, timeout=10) as response:
        assert json.load(response) == expected, probe

slow_at, _, slow_for = os.environ.get("SLEEP_ON_EVENT", "0:0").partition(":")
streams = int(os.environ.get("STREAMS", "1"))
counts = [0] * streams
all_connected = threading.Barrier(streams)


def consume(gw, k):
    with gw.stream() as events:
        for event in events:
            if isinstance(event, CandleEvent):
                counts[k] += 1
                if counts[k] == 1:  # hold the first candle until every stream has it too
                    all_connected.wait(timeout=60)
                if k == 0 and counts[k] == int(slow_at):
                    print(f"busy on candle {slow_at} for {slow_for} s", flush=True)
                    time.sleep(float(slow_for))


with TradingGateway() as gw:
    threads = [threading.Thread(target=consume, args=(gw, k)) for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print("STREAMS " + " ".join(map(str, counts)), flush=True)

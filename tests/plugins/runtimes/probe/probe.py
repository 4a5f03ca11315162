"""A test strategy that probes its sandbox; the action comes from $PROBE.

Prints one line ``RESULT <json>`` (except for the actions that never finish).
Stdlib only: the image has nothing but python:3.11-slim.
"""

import base64
import json
import os
import socket
import sys
import threading
import time
import urllib.request


def result(value):
    print("RESULT " + json.dumps(value), flush=True)


def gateway():
    url = os.environ["TEKTII_TRADING_GATEWAY_URL"]
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def http():
    request = urllib.request.Request(
        os.environ["TEKTII_TRADING_GATEWAY_URL"] + "/v1/account",
        headers={"Authorization": "Bearer " + os.environ["TEKTII_TRADING_GATEWAY_API_KEY"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result({"status": response.status, "body": json.loads(response.read())})


def ws():
    # A minimal RFC 6455 client: upgrade, send one masked text frame, read the echo.
    sock = socket.create_connection(gateway(), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    status = head.split(b"\r\n")[0].decode()
    payload = b"hello through the relay"
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    first, length = sock.recv(2)
    data = b""
    while len(data) < (length & 0x7F):
        data += sock.recv(length - len(data))
    result({"status": status, "opcode": first & 0x0F, "echo": data.decode()})


def connect():
    outcome = {}
    for target in os.environ["PROBE_TARGETS"].split(","):
        host, port = target.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            outcome[target] = "connected"
        except OSError as err:
            outcome[target] = f"{type(err).__name__}: {err}"
    result(outcome)


def netinfo():
    with open("/proc/net/route") as f:
        routes = f.read().splitlines()[1:]
    with open("/proc/net/ipv6_route") as f:
        routes6 = [line for line in f.read().splitlines() if not line.rstrip().endswith("lo")]
    result({"interfaces": sorted(os.listdir("/sys/class/net")), "routes": routes + routes6})


def fs():
    outcome = {}
    for path in ("/app/x", "/usr/x", "/etc/x", "/tmp/x"):
        try:
            with open(path, "w") as f:
                f.write("x")
            outcome[path] = "written"
        except OSError as err:
            outcome[path] = f"{type(err).__name__}: {err.strerror}"
    result(outcome)


def caps():
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"):
                status[key] = value.strip()
    status["uid"] = os.getuid()
    result(status)


def pids():
    started = 0
    stop = threading.Event()
    try:
        for _ in range(int(os.environ.get("PROBE_MAX", "1000"))):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError as err:
        result({"started": started, "error": str(err)})
    else:
        result({"started": started, "error": None})
    stop.set()


def mem():
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))
        print(f"allocated {len(hoard) * 16} MB", flush=True)


def sleep():
    print("sleeping", flush=True)
    while True:
        time.sleep(1)


def crash():
    print("about to crash", flush=True)
    raise RuntimeError("strategy blew up")


def output():
    for i in range(5):
        print(f"out {i}", flush=True)
        print(f"err {i}", file=sys.stderr, flush=True)
    print("no newline at the end", end="", flush=True)


def env():
    result({k: v for k, v in os.environ.items() if "GATEWAY" in k or k.startswith("MY_")})


if __name__ == "__main__":
    globals()[os.environ.get("PROBE", "http")]()

"""Platform API throughput: requests/s of the REST endpoints against `GET /healthz` (no
auth, no database) measured in the same run, on a real server process on 127.0.0.1.

The ratio is the cost of what an API request adds on top of HTTP + WSGI: API-key lookup,
SQLite query, JSON. The server runs as `python -m tektii_platform serve` (waitress) in a
temporary data directory, with 200 strategies stored; clients are threads with one
keep-alive session each.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_platform_requests.py [--seconds 3] [--clients 4]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import requests

from tektii_platform import daemon


def rate(url: str, headers: dict[str, str], seconds: float, clients: int, method: str = "GET", body=None) -> float:
    """Completed requests per second, over ``clients`` concurrent keep-alive sessions."""
    counts = [0] * clients
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    def work(slot: int) -> None:
        with requests.Session() as session:
            n = 0
            while time.perf_counter() < stop_at:
                payload = body(slot, n) if callable(body) else body
                response = session.request(method, url, headers=headers, json=payload, timeout=30)
                if response.status_code >= 300:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                n += 1
            counts[slot] = n

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{url}: {failures[0]}")
    return sum(counts) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        info = daemon.start_background(data_dir, port=0)
        try:
            _user, key = daemon.bootstrap_local_user(data_dir)
            auth = {"X-API-Key": key}
            with requests.Session() as session:
                ids = [
                    session.post(f"{info.url}/v1/strategies", json={"name": f"seed-{i}"}, headers=auth, timeout=30).json()[
                        "data"
                    ]["id"]
                    for i in range(200)
                ]
            rate(f"{info.url}/healthz", {}, 0.5, args.clients)  # warm-up: threads, connections, caches

            cases = [
                ("GET /healthz (reference)", "GET", "/healthz", {}, None),
                ("GET /v1/me", "GET", "/v1/me", auth, None),
                ("GET /v1/strategies (20 items)", "GET", "/v1/strategies", auth, None),
                ("GET /v1/strategies?limit=100", "GET", "/v1/strategies?limit=100", auth, None),
                ("GET /v1/strategies/{id}", "GET", f"/v1/strategies/{ids[100]}", auth, None),
                ("POST /v1/strategies", "POST", "/v1/strategies", auth, lambda slot, n: {"name": f"bench-{slot}-{n}"}),
            ]
            print(f"platform requests/s, {args.clients} client thread(s), {args.seconds:.1f} s each, server pid {info.pid}")
            reference = None
            for label, method, path, headers, body in cases:
                per_second = rate(f"{info.url}{path}", headers, args.seconds, args.clients, method, body)
                reference = reference or per_second
                print(f"  {label:<32} {per_second:8.0f} req/s   ratio to /healthz {per_second / reference:5.2f}")
        finally:
            daemon.stop(data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

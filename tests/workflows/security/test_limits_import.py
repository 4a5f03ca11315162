"""Market-data imports cannot take the platform down: a gzip bomb (a few hundred KB that
unpack to 120 MB) is refused quickly with the platform's memory barely moving (read from
/proc), and the unpacked size and row count are limited (TEKTII_IMPORT_MAX_BYTES / _ROWS)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import requests
from tektii_testkit import Platform, assert_error

HEADER = b"timestamp,open,high,low,close,volume\n"
UNPACKED = 120_000_000
MAX_GROWTH = 300 * 1024 * 1024
# "Refused within seconds": the platform answers a bomb only once it has judged it, so the read
# timeout bounds that work (measured: under 4 s here; a slow regression fails with ReadTimeout).
REFUSE_WITHIN_S = 30


def _kib(pid: int, field: str) -> int:
    """A field of /proc/PID/status in bytes (VmRSS: now; VmHWM: the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits-import")
    server = Platform(root / "data")
    key = server.new_user("admin", admin=True)  # market data is written by admins
    yield server, {"X-API-Key": key}
    server.stop()


def _import(platform, body: bytes, name: str, timeout: float = 120) -> requests.Response:
    server, headers = platform
    return requests.post(f"{server.url}/v1/instruments/C:BTCUSD/import", params={"filename": name},
                         data=body, headers=headers, timeout=timeout)


def _bomb(content: bytes) -> bytes:
    packed = gzip.compress(content, compresslevel=6)
    assert len(packed) < 1024 * 1024, len(packed)  # the attack is a small upload
    return packed


BOMBS = {
    # one valid row repeated: every row after the first is a duplicate
    "repeated-row": lambda: HEADER + b"2024-01-01T00:00:00Z,100,101,99,100,1\n" * (UNPACKED // 38),
    # a single 120 MB line, which a line-by-line reader would hold whole
    "one-line": lambda: HEADER + b"1," * (UNPACKED // 2),
    # nothing but empty lines: no row to find a problem in
    "blank-lines": lambda: HEADER + b"\n" * UNPACKED,
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_gzip_bomb_is_refused_in_bounded_memory(platform, kind):
    server, _ = platform
    pid = server.proc.pid
    # Warm up: the first import loads numpy and pyarrow, which is not the bomb's doing.
    assert_error(_import(platform, HEADER + b"2024-01-01T00:00:00Z,1,1,1,x,1\n", "warm.csv"), 422,
                 "invalid_market_data")
    before = _kib(pid, "VmRSS")
    response = _import(platform, _bomb(BOMBS[kind]()), f"{kind}.csv.gz", timeout=REFUSE_WITHIN_S)
    error = assert_error(response, 422, "invalid_market_data")
    growth = _kib(pid, "VmHWM") - before
    assert growth < MAX_GROWTH, f"{kind}: RSS grew by {growth / 2**20:.0f} MiB"
    assert len(error["details"]) <= 100
    message = error["message"] + " " + " ".join(d["message"] for d in error["details"])
    expected = {"repeated-row": "duplicate time", "one-line": "longer than 65,536 characters",
                "blank-lines": "more than 10,000 empty rows in a row"}[kind]
    assert expected in message, error
    assert "nothing was imported" in error["message"]
    listed = requests.get(f"{server.url}/v1/instruments", timeout=10).json()["data"]["instruments"]
    assert listed == []


def test_many_problems_report_the_first_100_and_the_count(platform):
    rows = b"".join(b"2024-01-01T%02d:%02d:00Z,1,1,1,x,1\n" % divmod(i, 60) for i in range(1440))
    error = assert_error(_import(platform, HEADER + rows, "bad.csv"), 422, "invalid_market_data")
    assert len(error["details"]) == 100
    assert error["details"][0]["message"] == "line 2: close 'x' is not a number"
    assert error["message"] == "bad.csv: 1,440 problems, nothing was imported; the first 100"
    assert error["hint"] == "fix the rows listed and import again"


def test_unpacked_size_and_row_limits_are_configurable(tmp_path):
    server = Platform(tmp_path / "data", {"TEKTII_IMPORT_MAX_BYTES": "2000000", "TEKTII_IMPORT_MAX_ROWS": "60000"})
    try:
        headers = {"X-API-Key": server.new_user("admin", admin=True)}

        def refused(count: int, volume: bytes) -> str:
            rows = b"".join(b"%d,1,1,1,1,%s\n" % (1_704_067_200 + 60 * i, volume) for i in range(count))
            response = requests.post(f"{server.url}/v1/instruments/C:BTCUSD/import", data=gzip.compress(HEADER + rows),
                                     params={"filename": "big.csv.gz"}, headers=headers, timeout=60)
            return assert_error(response, 422, "invalid_market_data")["details"][0]["message"]

        too_big = refused(25_000, b"1" * 80)  # 100 bytes a row: 2.5 MB in fewer rows than the limit
        assert "more than 2,000,000 bytes (unpacked)" in too_big and "TEKTII_IMPORT_MAX_BYTES" in too_big
        too_long = refused(70_000, b"1")  # 21 bytes a row: 1.5 MB
        assert "more than 60,000 rows" in too_long and "TEKTII_IMPORT_MAX_ROWS" in too_long
    finally:
        server.stop()

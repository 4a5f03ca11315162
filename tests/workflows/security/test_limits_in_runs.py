"""A hostile strategy image run by a real platform on loopback (uploaded with `tektii version
upload`, run in Docker): huge, tiny and non-finite numbers at the gateway are INVALID_VALUE and
the run ends normally, no gateway or platform response carries NaN or Infinity, and a log flood
is stored capped (TEKTII_RUN_LOG_MAX_BYTES) through the worker's POST /v1/runs/{id}/logs.

The strategy is tests/workflows/security/strategies/hostile.py; the scenario's ATTACK entry picks the attack."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import requests
from tektii_testkit import ServedPlatform, cli_for

from tektii_engine.runlog import MAX_LINE_BYTES

STRATEGY = Path(__file__).parent / "strategies" / "hostile.py"
DOCKERFILE = ('FROM python:3.11-slim\nRUN pip install "tektii>=1.9,<2"\nCOPY hostile.py /app/hostile.py\n'
              'CMD ["python", "/app/hostile.py"]\n')
SYMBOL = "C:BTCUSD"
START, END = "2024-01-01T00:00:00Z", "2024-01-01T00:10:00Z"
LOG_CAP = 512 * 1024  # TEKTII_RUN_LOG_MAX_BYTES here (default 10 MiB): half is the head, where the long line fits
LONG = "".join(chr(0x41 + i % 26) for i in range(100_000)) + "é" * 20_000  # as in hostile.py
HUGE_LINE, FLOOD_LINES = 5_000_000, 200_000


def strict_json(text: str):
    """`text` parsed as standard JSON: NaN, Infinity and numbers out of float range refused."""
    def no_constant(name: str):
        raise AssertionError(f"{name} in a response: {text[:300]}")

    def finite(number: str) -> float:
        value = float(number)
        assert value - value == 0, f"{number} in a response: {text[:300]}"
        return value

    return json.loads(text, parse_constant=no_constant, parse_float=finite)


@pytest.fixture(scope="module")
def desk(tmp_path_factory, docker_engine, registry_binary, base_image):
    """A platform with a minute-candle window, and the hostile image uploaded as a version."""
    root = tmp_path_factory.mktemp("hostile")
    platform = ServedPlatform(root / "data", {"TEKTII_RUN_LOG_MAX_BYTES": str(LOG_CAP)})
    platform.start()
    try:
        key = platform.new_user("owner", admin=True)
        platform.generate(key, SYMBOL, START, END)
        strategy_id = platform.strategy(key, "hostile")
        project = root / "project"
        project.mkdir()
        (project / "Dockerfile").write_text(DOCKERFILE)
        shutil.copy(STRATEGY, project / "hostile.py")
        cli = cli_for(platform, root / "home", key)
        done = cli("--output", "json", "version", "upload", strategy_id, "--git-sha", "abc1234", cwd=project)
        assert done.code == 0, done.err
        version = json.loads(done.out)["data"]
        assert version["state"] == "READY", version
        yield platform, key, strategy_id, version["id"]
    finally:
        platform.stop()
        platform.http.close()


def _run(desk, attack: str) -> dict:
    platform, key, strategy_id, version_id = desk
    config = {"strategyVersionId": version_id, "subscriptions": [{"instrument": SYMBOL, "events": ["candle_1m"]}],
              "startTime": START, "endTime": END, "environment": {"ATTACK": attack}}
    created = platform.create(key, strategy_id, config)
    return platform.wait(key, strategy_id, created["scenarioId"], timeout=600)


def _log_lines(platform: ServedPlatform, key: str, strategy_id: str, scenario_id: str) -> list[str]:
    """Every stored line, through the API's paged logs endpoint; each page checked as strict JSON."""
    lines: list[str] = []
    while True:
        response = platform.call("GET", f"/v1/strategies/{strategy_id}/scenarios/{scenario_id}/logs", key,
                                 params={"offset": len(lines)})
        assert response.status_code == 200, response.text
        page = strict_json(response.text)["data"]
        if not page["lines"]:
            return lines
        lines += page["lines"]


def test_huge_and_tiny_numbers_are_invalid_values_and_nothing_says_nan(desk):
    platform, key, strategy_id, _ = desk
    scenario = _run(desk, "numbers")
    assert scenario["state"] == "COMPLETE", scenario
    sid = scenario["scenarioId"]

    lines = _log_lines(platform, key, strategy_id, sid)
    calls = [json.loads(line.removeprefix("GATEWAY ")) for line in lines if line.startswith("GATEWAY ")]
    refused = [c for c in calls if c["case"].startswith(("quantity ", "limit_price "))]
    assert len(refused) == 18, [c["case"] for c in calls]
    for call in refused:
        error = strict_json(call["text"])
        assert call["status"] == 400, call
        # 1e400 as a JSON number too: it parses as infinity, which is not a finite value.
        assert error["code"] == "INVALID_VALUE", call
        assert error["message"].startswith(f"Invalid value for {call['case'].split()[0]}: "), call
    ordinary = next(c for c in calls if c["case"] == "ordinary")
    assert ordinary["status"] in (200, 201) and strict_json(ordinary["text"])
    reads = [c for c in calls if c["case"].startswith("read ")]
    assert len(reads) == 8 and all(c["status"] == 200 for c in reads), reads
    for call in reads:
        strict_json(call["text"])
    assert "complete" in lines

    # Every GET of the platform's API that this scenario can fill in, answered as strict JSON.
    doc = platform.call("GET", "/v1/openapi.json").json()
    params = {"strategyId": strategy_id, "scenarioId": sid, "versionId": desk[3], "symbol": SYMBOL}
    checked = 0
    for path, item in doc["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if "get" not in item or not set(names) <= set(params):
            continue
        response = platform.call("GET", path.format(**params), key)
        assert response.status_code < 500, (path, response.text)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            strict_json(response.text)
            checked += 1
    assert checked >= 10, checked


def test_a_log_flood_is_stored_capped_with_head_tail_and_marker(desk):
    platform, key, strategy_id, _ = desk
    scenario = _run(desk, "flood")
    assert scenario["state"] == "COMPLETE", scenario
    sid = scenario["scenarioId"]

    stored = (platform.data_dir / "runs" / sid / "strategy.log").read_bytes()
    assert len(stored) <= LOG_CAP + 1024, len(stored)  # the cap plus the marker's lines
    lines = _log_lines(platform, key, strategy_id, sid)
    assert lines == stored.decode().splitlines()
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in lines)
    own = [line for line in lines if not line.startswith("tektii: ")]  # the worker's lines about the run
    # The head: the long line whole, as consecutive pieces cut between characters.
    pieces = -(-len(LONG.encode()) // MAX_LINE_BYTES)
    assert "".join(own[:pieces]) == LONG
    # The tail: the flood's last lines, contiguous, and the strategy's last word.
    assert own[-2:] == [f"flood {FLOOD_LINES - 1}", "complete"]
    kept = [int(line.split()[1]) for line in own if line.startswith("flood ")]
    assert kept == list(range(kept[0], FLOOD_LINES))
    marker = [re.search(r"\[\.\.\. ([\d,]+) lines \(([\d,]+) bytes\) dropped", line) for line in lines]
    found = [m for m in marker if m]
    assert len(found) == 1, [line for line in lines if "dropped" in line]
    assert f"keeps the first and the last {LOG_CAP // 2:,} bytes" in found[0].string  # the setting took effect
    dropped_lines, dropped_bytes = (int(n.replace(",", "")) for n in found[0].groups())
    assert dropped_bytes > HUGE_LINE and dropped_lines > FLOOD_LINES // 2


def test_a_bad_log_cap_fails_the_run_naming_the_setting(desk):
    platform, key, strategy_id, version_id = desk
    platform.stop()
    platform.env["TEKTII_RUN_LOG_MAX_BYTES"] = "lots"
    try:
        platform.start()
        scenario = _run(desk, "numbers")
    finally:
        platform.env["TEKTII_RUN_LOG_MAX_BYTES"] = str(LOG_CAP)
    assert scenario["state"] == "FAILED", scenario
    assert "TEKTII_RUN_LOG_MAX_BYTES must be a whole number of bytes" in scenario["failureReason"], scenario
    assert requests.get(f"{platform.url}/healthz", timeout=10).ok  # the platform itself is fine

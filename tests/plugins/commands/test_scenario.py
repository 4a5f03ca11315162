"""`tektii scenario ...` end to end: the real CLI, a real platform, real runs of a template strategy."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time

import pytest
from tektii_testkit import TEKTII

SYMBOL = "C:CLIUSD"
SPEC_FIELDS = {"scenarioId", "state", "totalReturn", "sharpeRatio", "maxDrawdownPct", "totalTrades", "winRatePct"}


@pytest.fixture(scope="module")
def market(platform_server):
    """Two months of 1m candles for this module's own symbol on the shared test platform."""
    import tempfile
    from pathlib import Path

    from tektii_testkit import CLI, base_env

    home = Path(tempfile.mkdtemp())
    cli = CLI(home, {**base_env(home), "TEKTII_API_URL": platform_server.url,
                     "TEKTII_API_KEY": platform_server.new_user("market-maker", admin=True)})
    done = cli("data", "generate", SYMBOL, "--start", "2024-01-01", "--end", "2024-03-01", "--seed", "3")
    assert done.code == 0, done.err
    return SYMBOL


@pytest.fixture
def strategy(user_cli, market, tmp_path):
    """A strategy with a READY template version, and a writer of config files for it."""
    sid = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "scen").out)["data"]["id"]
    version = json.loads(user_cli("--output", "json", "version", "upload", sid, "--template", "ma-crossover",
                                  cwd=tmp_path).out)["data"]["id"]

    def config(name: str = "cfg.json", **changes) -> str:
        body = {"strategyVersionId": version,
                "subscriptions": [{"instrument": market, "events": ["candle_1h", "order_update"]}],
                "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-15T00:00:00Z",
                "initialCapital": 100000, "positionMode": "netting", **changes}
        path = tmp_path / name
        path.write_text(json.dumps(body, indent=2))
        return str(path)

    return sid, version, config


def wait_finished(cli, sid: str, scen: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = json.loads(cli("--output", "json", "scenario", "get", sid, scen).out)["data"]
        if data["state"] in ("COMPLETE", "FAILED", "CANCELLED"):
            return data
        time.sleep(0.5)
    raise AssertionError(f"{scen} did not finish in {timeout} s")


def test_create_returns_pending_then_get_reads_the_spec_fields(user_cli, strategy):
    sid, _version, config = strategy
    created = user_cli("scenario", "create", sid, "--config", config())
    assert created.code == 0, created.err
    first = created.out.splitlines()[0]
    assert first.startswith("✓ Scenario created: scen_") and first.endswith("(PENDING)")
    scen = first.split()[3]
    finished = wait_finished(user_cli, sid, scen)
    assert finished["state"] == "COMPLETE", finished.get("failureReason")
    piped = subprocess.run(f"{TEKTII} --output json scenario get {sid} {scen} | cat", shell=True, capture_output=True,
                           text=True, env=user_cli.env)
    data = json.loads(piped.stdout)["data"]
    assert SPEC_FIELDS <= set(data) and data["scenarioId"] == scen and data["state"] == "COMPLETE"
    for field in SPEC_FIELDS - {"scenarioId", "state"}:
        assert isinstance(data[field], (int, float)) and not isinstance(data[field], bool), field
    assert 0 <= data["maxDrawdownPct"] <= 100 and 0 <= data["winRatePct"] <= 100
    table = user_cli("scenario", "get", sid, scen)
    assert "Total Return" in table.out and "Sharpe Ratio" in table.out and "COMPLETE" in table.out


def test_wait_prints_progress_and_the_headline_metrics(user_cli, strategy):
    sid, _version, config = strategy
    result = user_cli("scenario", "create", sid, "--config", config(), "--wait")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert any(line.startswith("✓ Scenario scen_") and line.endswith(" complete") for line in lines)
    assert any(line.startswith("Total Return ") for line in lines)
    as_json = user_cli("--output", "json", "scenario", "create", sid, "--config", config(), "--wait")
    assert json.loads(as_json.out)["data"]["state"] == "COMPLETE"  # progress went to stderr


def test_config_problems_are_all_reported_before_any_request(user_cli, strategy, tmp_path):
    sid, _version, config = strategy
    bad = config("bad.json", positionMode="both", initialCapital=0, endTime="2023-01-01T00:00:00Z",
                 subscriptions=[{"instrument": SYMBOL, "events": ["candle_3m"]}], extra=1)
    offline = {"TEKTII_API_URL": "http://127.0.0.1:9"}  # nothing listens: a request would fail differently
    result = user_cli("scenario", "create", sid, "--config", bad, env=offline)
    assert result.code == 1
    assert result.err.splitlines()[0].startswith(f"Error: {bad} is not a valid scenario config (")
    for path in ("positionMode", "initialCapital", "endTime", "subscriptions[0].events[0]", "extra"):
        assert f"  {path}: " in result.err, path
    assert 'unknown event "candle_3m"' in result.err
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{\n  "strategyVersionId": "ver_x",\n  "subscriptions": [\n}\n')
    broken = user_cli("scenario", "create", sid, "--config", str(malformed), env=offline)
    assert broken.code == 1 and "line 4" in broken.err and "column" in broken.err
    listed = json.loads(user_cli("--output", "json", "scenario", "list", sid).out)["data"]["scenarios"]
    assert listed == []


def test_platform_side_checks_reach_the_user(user_cli, strategy):
    sid, _version, config = strategy
    outside = config(startTime="2023-06-01T00:00:00Z")  # valid file, but before the platform's data
    result = user_cli("scenario", "create", sid, "--config", outside)
    assert result.code == 1 and result.err.startswith("Error: ") and SYMBOL in result.err


def test_results_report_logs_list_and_cancel(user_cli, strategy, tmp_path):
    sid, version, config = strategy
    scen = json.loads(user_cli("--output", "json", "scenario", "create", sid, "--config", config(), "--wait").out
                      )["data"]["scenarioId"]
    trades_csv = tmp_path / "trades.csv"
    wrote = user_cli("scenario", "results", sid, scen, "--type", "trades", "--format", "csv", "-o", str(trades_csv))
    assert wrote.code == 0 and f"✓ Wrote trades (csv) to {trades_csv}" in wrote.out
    rows = list(csv.DictReader(io.StringIO(trades_csv.read_text())))
    assert rows and {"pnl", "fees"} <= set(rows[0])
    series = json.loads(user_cli("scenario", "results", sid, scen, "--type", "timeseries").out)["data"]["rows"]
    assert len(series) > 100 and {"time", "equity"} <= set(series[0])
    meta = json.loads(user_cli("scenario", "results", sid, scen, "--type", "metadata").out)["data"]
    assert meta["scenarioId"] == scen
    report = tmp_path / "report.html"
    made = user_cli("scenario", "report", sid, scen, "-o", str(report))
    assert made.code == 0 and report.read_text().lstrip().lower().startswith("<!doctype html")
    on_terminal = user_cli("scenario", "get", sid, scen, tty=True)
    assert on_terminal.code == 0 and "┌" in on_terminal.out
    spark = [line for line in on_terminal.out.splitlines() if line.startswith("Equity  ")]
    assert spark and set(spark[0].removeprefix("Equity  ")) <= set("▁▂▃▄▅▆▇█") and len(spark[0]) > 20
    piped = user_cli("scenario", "get", sid, scen).out.splitlines()
    assert not [line for line in piped if line.startswith("Equity  ")]  # piped: no sparkline
    logs = user_cli("scenario", "logs", sid, scen)
    assert logs.code == 0 and "starting" in logs.out  # the template's own first log line
    listed = json.loads(user_cli("--output", "json", "scenario", "list", sid, "--state", "complete",
                                 "--version", version).out)["data"]["scenarios"]
    assert scen in {s["scenarioId"] for s in listed}
    assert json.loads(user_cli("--output", "json", "scenario", "list", sid, "--state", "FAILED").out
                      )["data"]["scenarios"] == []
    finished = user_cli("scenario", "cancel", sid, scen)
    assert finished.code == 1 and finished.err.startswith("Error: ")


def test_ctrl_c_stops_waiting_not_the_run(user_cli, strategy):
    sid, _version, config = strategy
    long_run = config("long.json", subscriptions=[{"instrument": SYMBOL, "events": ["candle_1m"]}],
                      endTime="2024-03-01T00:00:00Z")
    proc = subprocess.Popen([TEKTII, "scenario", "create", sid, "--config", long_run, "--wait"], env=user_cli.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    scen = None
    deadline = time.monotonic() + 60
    while scen is None and time.monotonic() < deadline:
        listed = json.loads(user_cli("--output", "json", "scenario", "list", sid).out)["data"]["scenarios"]
        running = [s for s in listed if s["state"] == "RUNNING"]
        scen = running[0]["scenarioId"] if running else None
        time.sleep(0.2)
    assert scen, "the run never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert f"Stopped waiting; the run goes on. Check it with: tektii scenario get {sid} {scen}" in err
    time.sleep(1)
    state = json.loads(user_cli("--output", "json", "scenario", "get", sid, scen).out)["data"]["state"]
    assert state in ("RUNNING", "COMPLETE")
    cancelled = user_cli("--output", "json", "scenario", "cancel", sid, scen)
    if state == "RUNNING":
        assert cancelled.code == 0 and json.loads(cancelled.out)["data"]["state"] == "CANCELLED"


def test_cancel_waits_until_the_run_has_stopped(user_cli, strategy):
    sid, _version, config = strategy
    long_run = config("cancel.json", subscriptions=[{"instrument": SYMBOL, "events": ["candle_1m"]}],
                      endTime="2024-03-01T00:00:00Z")
    created = json.loads(user_cli("--output", "json", "scenario", "create", sid, "--config", long_run).out)["data"]
    scen = created["scenarioId"]
    deadline = time.monotonic() + 60
    while json.loads(user_cli("--output", "json", "scenario", "get", sid, scen).out)["data"]["state"] == "PENDING":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    # the platform answers the cancel at once; the CLI waits until the run has ended
    cancelled = user_cli("scenario", "cancel", sid, scen)
    assert cancelled.code == 0, cancelled.err
    assert f"✓ Cancelled scenario {scen}" in cancelled.out and "CANCELLED" in cancelled.out
    assert json.loads(user_cli("--output", "json", "scenario", "get", sid, scen).out)["data"]["state"] == "CANCELLED"

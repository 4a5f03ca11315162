"""`tektii scenario report` end to end: a real backtest on a real platform, its report opened in
headless Chromium. The spec loop up to Step 6, then the report of what it produced."""

from __future__ import annotations

import json
from pathlib import Path

from tektii_testkit.chromium import pixels_of, run_chromium
from tektii_testkit.html_tree import parse
from tektii_testkit.png_reader import read_png

from tektii_plugins.reports.svg_charts import EQUITY_COLOUR

# A symbol of its own: the shared test platform's market data is shared by every test.
SYMBOL = "C:RPTUSD"


def ok(result) -> str:
    assert result.code == 0, result.err
    return result.out


def test_report_of_a_real_backtest(admin_cli, tmp_path: Path):
    quant = admin_cli  # logged in to the shared test platform as a fresh admin (it generates the data)
    ok(quant("data", "generate", SYMBOL, "--start", "2024-01-01", "--end", "2024-01-08", "--seed", "5"))
    strategy = json.loads(ok(quant("--output", "json", "strategy", "create", "--name", "report-e2e")))["data"]["id"]
    upload = quant("--output", "json", "version", "upload", strategy, "--template", "ma-crossover")
    version_id = json.loads(ok(upload))["data"]["id"]
    config = tmp_path / "backtest-config.json"
    config.write_text(json.dumps({
        "strategyVersionId": version_id,
        "subscriptions": [{"instrument": SYMBOL, "events": ["candle_5m"]}],
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-07T00:00:00Z",
        "initialCapital": 100000,
        "positionMode": "netting",
    }))  # fmt: skip
    created = json.loads(ok(quant("--output", "json", "scenario", "create", strategy, "--config", str(config), "--wait")))
    scenario = created["data"]
    assert scenario["state"] == "COMPLETE", scenario
    out = tmp_path / "report.html"
    ok(quant("scenario", "report", strategy, scenario["scenarioId"], "-o", str(out)))

    page = parse(out.read_text(encoding="utf-8"))
    facts = page.one("dl", class_="facts").text
    assert scenario["scenarioId"] in facts and version_id in facts and "COMPLETE" in facts
    assert "2024-01-01 00:00 → 2024-01-07 00:00 UTC" in facts
    shown = page.one(data_metric="totalTrades").one("div", class_="value").text
    assert shown == f"{scenario['totalTrades']:,}"
    assert page.one(data_metric="totalReturn").one("div", class_="value").text.endswith("%")
    rows = page.one("table", class_="trades").one("tbody").find("tr") if scenario["totalTrades"] else []
    assert len(rows) == min(scenario["totalTrades"], 5000)
    assert len(page.one("svg", id="equity-chart").one("polyline", class_="equity-line").attrs["points"].split()) > 100

    png = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,1400", out.as_uri())
    image = read_png(str(png))
    equity = pixels_of(image, EQUITY_COLOUR)
    assert len(equity) > 1000
    xs = [x for x, _ in equity]
    assert max(xs) - min(xs) > 1280 * 0.6

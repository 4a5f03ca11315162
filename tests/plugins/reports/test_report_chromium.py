"""The report in a real browser: headless Chromium (Debian's `chromium`) lays it out, takes a
screenshot, and the screenshot shows the equity and drawdown lines drawn where they belong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_samples import equity_rows, scenario, trade_rows
from tektii_testkit.chromium import HEIGHT, WIDTH, pixels_of, run_chromium
from tektii_testkit.html_tree import parse
from tektii_testkit.png_reader import read_png

from tektii_plugins.reports.scenario_page import render_report
from tektii_plugins.reports.svg_charts import DRAWDOWN_COLOUR, EQUITY_COLOUR


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A quarter of one-minute equity (131,040 points) with 60 trades, as `scenario report` writes it."""
    rows = equity_rows(131_040)
    trades = trade_rows(60, span_s=131_040 * 60)
    meta = scenario(rows, trades, strategyName="momentum-v1")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(meta, rows, trades), encoding="utf-8")
    return path, {"rows": rows, "trades": trades, "meta": meta}


def test_screenshot_shows_the_charts_drawn(report_file, tmp_path):
    html_path, data = report_file
    png = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", html_path.as_uri())
    assert png.is_file() and png.stat().st_size > 10_000
    image = read_png(str(png))
    assert (image.width, image.height) == (WIDTH, HEIGHT)

    equity = pixels_of(image, EQUITY_COLOUR)
    drawdown = pixels_of(image, DRAWDOWN_COLOUR)
    assert len(equity) > 1500, "the equity line is missing from the screenshot"
    assert len(drawdown) > 1500, "the drawdown line is missing from the screenshot"
    # each line runs across most of the page width: the whole window is drawn
    for name, found in (("equity", equity), ("drawdown", drawdown)):
        xs = [x for x, _ in found]
        assert max(xs) - min(xs) > WIDTH * 0.6, f"the {name} line covers {min(xs)}..{max(xs)} only"
    # the equity chart is above the drawdown chart, each in its own band
    assert max(y for _, y in equity) < min(y for _, y in drawdown)
    # drawn the right way up: this curve ends higher than it starts, so its right end is nearer the top
    rows = data["rows"]
    assert rows[-1]["equity"] > rows[0]["equity"] * 1.05
    xs = [x for x, _ in equity]
    left = [y for x, y in equity if x < min(xs) + 15]
    right = [y for x, y in equity if x > max(xs) - 15]
    assert sum(right) / len(right) < sum(left) / len(left) - 20
    # the drawdown hangs below its zero line: its deepest pixel is well below its shallowest
    ys = [y for _, y in drawdown]
    assert max(ys) - min(ys) > 60


def test_dom_as_chromium_laid_it_out(report_file, tmp_path):
    html_path, data = report_file
    done = run_chromium(tmp_path, "--dump-dom", html_path.as_uri())
    page = parse(done.stdout)
    for section in ("summary", "metrics", "equity", "drawdown", "trades", "config"):
        assert len(page.find(id=section)) == 1, section
    # the SVG survived the browser's parser as SVG: viewBox, lines with points, axis labels
    for chart, line in (("equity-chart", "equity-line"), ("drawdown-chart", "drawdown-line")):
        svg = page.one("svg", id=chart)
        assert svg.attrs["viewbox"].startswith("0 0 1000 ")
        points = svg.one("polyline", class_=line).attrs["points"].split()
        assert 500 < len(points) <= 4000, len(points)
        assert len(svg.one("g", class_="ylab").find("text")) >= 3
        assert len(svg.one("g", class_="xlab").find("text")) >= 3
    assert len(page.one("table", class_="trades").one("tbody").find("tr")) == len(data["trades"])
    assert page.one("h1").text == "momentum-v1"


def test_the_report_prints(report_file, tmp_path):
    html_path, _ = report_file
    pdf = tmp_path / "report.pdf"
    run_chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html_path.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
    pages = re.search(rb"/Count (\d+)", data)
    assert pages and 2 <= int(pages[1]) <= 12, "the report should print on a few pages"

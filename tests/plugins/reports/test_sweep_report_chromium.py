"""The sweep report (`tektii sweep report`) in headless Chromium: the screenshot shows the
heatmap with its best cell where the best parameters are, and the best trials' equity curves
overlaid across the page below it. (The page from a real sweep: tests/sweeps.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from report_samples import equity_rows
from tektii_testkit.chromium import HEIGHT, WIDTH, pixels_of, run_chromium
from tektii_testkit.html_tree import parse
from tektii_testkit.png_reader import read_png

from tektii_plugins.reports.svg_charts import HEAT_BEST, HEAT_WORST, OVERLAY_COLOURS
from tektii_plugins.reports.sweep_page import render_sweep_report

FAST, SLOW = ("5", "10"), ("20", "30", "40")


def sample_sweep() -> dict:
    """A finished 2x3 grid whose objective grows with both parameters: best at (10, 40)."""
    trials = []
    for n, (fast, slow) in enumerate((f, s) for f in FAST for s in SLOW):
        value = int(fast) / 10 + int(slow) / 100
        trials.append({"trial": n, "parameters": {"FAST_PERIOD": fast, "SLOW_PERIOD": slow}, "scenarioId": f"scen_{n}",
                       "state": "COMPLETE", "objective": value, "metrics": {"totalReturn": value, "totalTrades": 3},
                       "rank": None, "outOfSample": None})
    ranking = sorted(trials, key=lambda t: -t["objective"])
    for rank, t in enumerate(ranking, 1):
        t["rank"] = rank
    return {"sweepId": "swp_sample", "strategyId": "strat_x", "strategyVersionId": "ver_x", "state": "COMPLETE",
            "method": "grid", "seed": 0, "objective": "sharpeRatio", "direction": "maximize", "trialCount": 6,
            "parameters": {"FAST_PERIOD": {"values": list(FAST)}, "SLOW_PERIOD": {"low": 20, "high": 40, "step": 10}},
            "constraints": ["FAST_PERIOD < SLOW_PERIOD"], "holdout": None, "config": {"initialCapital": 100000},
            "counts": {"COMPLETE": 6}, "ranking": [t["trial"] for t in ranking], "best": ranking[0]["trial"],
            "trials": trials}


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    curves = [(f"trial {k}", equity_rows(3000, seed=k)) for k in (1, 2)]
    path = tmp_path_factory.mktemp("sweep") / "sweep.html"
    path.write_text(render_sweep_report(sample_sweep(), curves), encoding="utf-8")
    return path


def centre(points: list[tuple[int, int]]) -> tuple[float, float]:
    return sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)


def test_screenshot_shows_heatmap_and_overlaid_curves(page_file, tmp_path):
    png = tmp_path / "sweep.png"
    run_chromium(tmp_path, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", page_file.as_uri())
    image = read_png(str(png))
    best, worst = pixels_of(image, HEAT_BEST, 6), pixels_of(image, HEAT_WORST, 6)
    assert len(best) > 2000 and len(worst) > 2000, "the heatmap's best or worst cell is missing"
    (bx, by), (wx, wy) = centre(best), centre(worst)
    # FAST grows to the right, SLOW upwards: the best cell (10, 40) is top right of the worst (5, 20)
    assert bx > wx + 200 and by < wy - 60
    lines = [pixels_of(image, colour) for colour in OVERLAY_COLOURS[:2]]
    for found in lines:
        assert len(found) > 800, "an equity curve is missing"
        xs = [x for x, _ in found]
        assert max(xs) - min(xs) > WIDTH * 0.6
        assert min(y for _, y in found) > max(by, wy)  # below the heatmap


def test_dom_as_chromium_laid_it_out(page_file, tmp_path):
    done = run_chromium(tmp_path, "--dump-dom", page_file.as_uri())
    page = parse(done.stdout)
    for section in ("summary", "ranking", "heatmap-section", "equity"):
        assert len(page.find(id=section)) == 1, section
    assert len(page.one("section", id="ranking").one("tbody").find("tr")) == 6
    cells = page.one("svg", id="heatmap").find("rect", class_="cell")
    assert sorted((c.attrs["data-x"], c.attrs["data-y"]) for c in cells) == sorted((f, s) for f in FAST for s in SLOW)
    assert len(page.one("svg", id="overlay-chart").find("polyline", class_="overlay-line")) == 2

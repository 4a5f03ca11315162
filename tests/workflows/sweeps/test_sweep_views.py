"""What a user sees of a sweep, from a real holdout sweep on a real platform process (real EUR/USD
hours through the ma-crossover template): the live table on a pseudo-terminal while the trials
run, the ranking with every key metric in- and out-of-sample side by side, the report page
(chosen heatmap axes, self-contained, as headless Chromium draws it), and the version tree's
latest completed scenario (the last to finish) apart from its best."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import UTC, datetime

import pytest
from tektii_testkit import HOLDOUT, children, ok_json
from tektii_testkit.chromium import HEIGHT, WIDTH, pixels_of, run_chromium
from tektii_testkit.html_tree import assert_self_contained, parse
from tektii_testkit.png_reader import read_png

from tektii_plugins.reports.formatting import fixed, metric_text
from tektii_plugins.reports.svg_charts import HEAT_BEST, HEAT_WORST, OVERLAY_COLOURS

FAST, SLOW = ("5", "10"), ("20", "30", "40")
REDRAW = re.compile(r"\033\[(\d+)F\033\[J")  # back to the table's first line, clear below


@pytest.fixture(scope="module")
def live(tk, owner, base_config):
    """(what the terminal showed, the sweep as JSON) of a 2x3 grid with a holdout, followed with
    --wait on a pseudo-terminal from its creation to its end."""
    shown = tk("scenario", "sweep", owner[1], "--config", str(base_config), "--param", "FAST_PERIOD=5,10",
               "--param", "SLOW_PERIOD=20:40:10", "--holdout", HOLDOUT, "--holdout-top", "2", "--wait", tty=True)
    assert shown.code == 0, shown.err + shown.out
    sweep_id = re.search(r"Sweep (swp_[a-z2-7]+) complete", shown.out)[1]
    return shown.out, ok_json(tk("--output", "json", "sweep", "get", sweep_id))


def table_rows(frame: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in frame.splitlines() if line.startswith("│")]


def num(value: float | None, unit: str = "") -> str:
    """A number as the CLI's tables write it."""
    if value is None:
        return "-"
    return (f"{value:,.2f}" if isinstance(value, float) else f"{value:,}") + unit


def test_the_live_table_redraws_while_the_trials_run(live):
    out, sweep = live
    pieces = REDRAW.split(out)
    frames, final = pieces[0:-1:2], pieces[-1]
    moves = [int(n) for n in pieces[1::2]]
    assert len(frames) >= 3, out
    # each redraw moves up exactly over the table it replaces
    assert moves == [frame.count("\n") for frame in frames]
    trials = {t["trial"]: t for t in sweep["trials"]}
    seen_states = []
    for frame in frames:
        header, *rows = table_rows(frame)
        assert header == ["Trial", "FAST_PERIOD", "SLOW_PERIOD", "State", "sharpeRatio"]
        assert [int(r[0]) for r in rows] == list(range(6))
        for trial, fast, slow, state, value in rows:
            assert trials[int(trial)]["parameters"] == {"FAST_PERIOD": fast, "SLOW_PERIOD": slow}
            assert state in ("PENDING", "RUNNING", "COMPLETE"), frame
            assert (value == "-") == (state != "COMPLETE"), frame
        seen_states.append(tuple(r[3] for r in rows))
    assert set(seen_states[0]) <= {"PENDING", "RUNNING"}
    # while the trials ran: some done, others not yet, in one and the same table
    assert any("COMPLETE" in states and set(states) != {"COMPLETE"} for states in seen_states), seen_states
    assert any("RUNNING" in states for states in seen_states), seen_states
    last = frames[-1]
    assert [r[4] for r in table_rows(last)[1:]] == [num(trials[n]["objective"]) for n in range(6)]
    assert last.splitlines()[-1].startswith(f"{sweep['sweepId']}  COMPLETE  complete 6")
    assert f"Sweep {sweep['sweepId']} complete" in final and "Ranking:" in final
    assert "sharpeRatio (in)" in final and "Return (out)" in final and "┌" in final


def test_piped_the_same_sweep_is_plain_lines(tk, live):
    _, sweep = live
    piped = tk("sweep", "get", sweep["sweepId"], "--wait")
    assert piped.code == 0, piped.err
    assert "\033[" not in piped.out and "┌" not in piped.out
    for t in sweep["trials"]:
        line = (f"trial {t['trial']} FAST_PERIOD={t['parameters']['FAST_PERIOD']} "
                f"SLOW_PERIOD={t['parameters']['SLOW_PERIOD']}: COMPLETE sharpeRatio={num(t['objective'])}")
        assert line in piped.out.splitlines(), piped.out


def test_the_ranking_shows_every_key_metric_in_and_out_of_sample(tk, owner, live):
    _, sweep = live
    shown = tk("sweep", "get", sweep["sweepId"])
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Rank  Trial"))
    labels = ["Rank", "Trial", "FAST_PERIOD", "SLOW_PERIOD", "sharpeRatio (in)", "sharpeRatio (out)", "Return (in)",
              "Return (out)", "Max DD (in)", "Max DD (out)", "Trades (in)", "Trades (out)", "Scenario ID"]
    starts, at = [], 0
    for label in labels:  # the columns in this order, side by side
        at = lines[head].index(label, at)
        starts.append(at)
    assert lines[head].split("  ")[-1].strip() == "Scenario ID" and "Sharpe (in)" not in lines[head]
    bounds = list(zip(starts, [*starts[1:], None]))
    rows = [[line[a:b].strip() for a, b in bounds] for line in lines[head + 1: head + 7]]
    trials = {t["trial"]: t for t in sweep["trials"]}
    assert [int(r[1]) for r in rows] == sweep["ranking"]
    rerun = 0
    for row in rows:
        t = trials[int(row[1])]
        values = dict(zip(labels, row))
        scenario = ok_json(tk("--output", "json", "scenario", "get", owner[1], t["scenarioId"]))
        assert values["sharpeRatio (in)"] == num(scenario["sharpeRatio"])
        assert values["Return (in)"] == num(scenario["totalReturn"], "%")
        assert values["Max DD (in)"] == num(scenario["maxDrawdownPct"], "%")
        assert values["Trades (in)"] == num(scenario["totalTrades"]) and values["Scenario ID"] == t["scenarioId"]
        if t["outOfSample"] is None:
            assert [values[k] for k in labels if k.endswith("(out)")] == ["-"] * 4
            continue
        rerun += 1
        oos = ok_json(tk("--output", "json", "scenario", "get", owner[1], t["outOfSample"]["scenarioId"]))
        assert oos["config"]["startTime"] == HOLDOUT
        assert values["sharpeRatio (out)"] == num(oos["sharpeRatio"])
        assert values["Return (out)"] == num(oos["totalReturn"], "%")
        assert values["Max DD (out)"] == num(oos["maxDrawdownPct"], "%")
        assert values["Trades (out)"] == num(oos["totalTrades"])
    assert rerun == 2 and [r[0] for r in rows[:2]] == ["1", "2"]


@pytest.fixture(scope="module")
def report(tk, live, tmp_path_factory):
    """The sweep's page with the axes swapped: SLOW_PERIOD across, FAST_PERIOD up."""
    _, sweep = live
    path = tmp_path_factory.mktemp("report") / "sweep.html"
    done = tk("sweep", "report", sweep["sweepId"], "-o", str(path), "--x", "SLOW_PERIOD", "--y", "FAST_PERIOD",
              "--top", "2")
    assert done.code == 0, done.err
    return path


def test_the_report_has_the_chosen_axes_both_samples_and_nothing_external(tk, live, report):
    _, sweep = live
    document = report.read_text()
    assert_self_contained(document, svgs=2)
    page = parse(document)
    cells = page.one("svg", id="heatmap").find("rect", class_="cell")
    assert sorted((c.attrs["data-x"], c.attrs["data-y"]) for c in cells) == sorted((s, f) for f in FAST for s in SLOW)
    trials = {t["trial"]: t for t in sweep["trials"]}
    for c in cells:  # each cell the trial with those values: SLOW_PERIOD its x, FAST_PERIOD its y
        t = next(t for t in trials.values() if t["parameters"] == {"FAST_PERIOD": c.attrs["data-y"],
                                                                   "SLOW_PERIOD": c.attrs["data-x"]})
        assert float(c.attrs["data-value"]) == t["objective"]
    assert [t.text for t in page.find("text", class_="axis-title")] == ["SLOW_PERIOD", "FAST_PERIOD"]
    ranking = page.one("section", id="ranking")
    heads = [th.text for th in ranking.find("th")]
    assert heads[4:] == [f"{name} ({sample})" for name in ("sharpeRatio", "Total return", "Max drawdown", "Trades")
                         for sample in ("in-sample", "out-of-sample")]
    body = ranking.one("tbody").find("tr")
    assert len(body) == 6
    for tr, number in zip(body, sweep["ranking"]):
        t = trials[number]
        cells_text = [td.text for td in tr.find("td")]
        assert cells_text[1] == str(number) and cells_text[2:4] == [t["parameters"]["FAST_PERIOD"],
                                                                     t["parameters"]["SLOW_PERIOD"]]
        samples = [t, t["outOfSample"] or {}]
        expected = [fixed(s["objective"], 3) if s else "—" for s in samples]
        for field, kind in (("totalReturn", "signed_pct"), ("maxDrawdownPct", "pct"), ("totalTrades", "int")):
            expected += [metric_text(s["metrics"][field], kind) if s else "—" for s in samples]
        assert cells_text[4:] == expected
    assert len([t for t in trials.values() if t["outOfSample"]]) == 2
    assert len(page.one("svg", id="overlay-chart").find("polyline", class_="overlay-line")) == 2


def test_the_comparison_page_of_two_trials_is_self_contained(tk, owner, live, tmp_path):
    _, sweep = live
    trials = {t["trial"]: t for t in sweep["trials"]}
    ids = [trials[n]["scenarioId"] for n in sweep["ranking"][:2]]
    path = tmp_path / "compare.html"
    done = tk("scenario", "report", owner[1], *ids, "-o", str(path))
    assert done.code == 0, done.err
    document = path.read_text()
    assert document.count('class="overlay-line"') == 2
    assert_self_contained(document, svgs=document.count("<svg"))


def test_chromium_draws_the_real_sweep(live, report, tmp_path):
    _, sweep = live
    png = tmp_path / "sweep.png"
    run_chromium(tmp_path, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", report.as_uri())
    image = read_png(str(png))
    trials = {t["trial"]: t for t in sweep["trials"]}
    best, worst = trials[sweep["ranking"][0]]["parameters"], trials[sweep["ranking"][-1]]["parameters"]
    best_px, worst_px = pixels_of(image, HEAT_BEST, 6), pixels_of(image, HEAT_WORST, 6)
    assert len(best_px) > 2000 and len(worst_px) > 2000, "the heatmap's best or worst cell is missing"
    (bx, by), (wx, wy) = (sum(p[0] for p in best_px) / len(best_px), sum(p[1] for p in best_px) / len(best_px)), \
        (sum(p[0] for p in worst_px) / len(worst_px), sum(p[1] for p in worst_px) / len(worst_px))
    # SLOW_PERIOD grows to the right (cells ~290 px wide), FAST_PERIOD upwards (44 px high)
    columns = SLOW.index(best["SLOW_PERIOD"]) - SLOW.index(worst["SLOW_PERIOD"])
    assert (bx - wx > 150) if columns > 0 else (wx - bx > 150) if columns < 0 else abs(bx - wx) < 20
    rows = FAST.index(best["FAST_PERIOD"]) - FAST.index(worst["FAST_PERIOD"])
    assert (wy - by > 30) if rows > 0 else (by - wy > 30) if rows < 0 else abs(by - wy) < 10
    for colour in OVERLAY_COLOURS[:2]:  # the two best trials' equity, across the page below the heatmap
        found = pixels_of(image, colour)
        assert len(found) > 800, f"the equity curve in {colour} is missing"
        assert max(x for x, _ in found) - min(x for x, _ in found) > WIDTH * 0.6
        assert min(y for _, y in found) > max(by, wy)
    dom = parse(run_chromium(tmp_path, "--dump-dom", report.as_uri()).stdout)
    assert len(dom.one("section", id="ranking").one("tbody").find("tr")) == 6
    assert len(dom.one("svg", id="heatmap").find("rect", class_="cell")) == 6


def test_the_version_tree_tells_the_latest_completed_from_the_best(tk, platform, owner, live):
    """The latest completed scenario is the one that finished last: here one created first and
    held (its processes stopped) until one created after it has finished."""
    key, strategy_id, version_id = owner
    _, sweep = live
    trials = {t["trial"]: t for t in sweep["trials"]}
    worst = trials[sweep["ranking"][-1]]
    config = {**sweep["config"], "endTime": HOLDOUT}  # the search window: the worst trial's result again
    first = platform.create(key, strategy_id, {**config, "environment": worst["parameters"]})["scenarioId"]
    platform.wait(key, strategy_id, first, states=("RUNNING",), timeout=120)
    while (handle := platform.scenario_row(first)["handle"]) is None:  # set just after the start
        time.sleep(0.05)
    worker = int(handle.split(":")[1])  # "pid:PID:START"
    held = [worker, *children(worker)]
    for pid in held:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert platform.get(key, strategy_id, first)["state"] == "RUNNING"
        second = platform.create(key, strategy_id, {**config, "environment": trials[sweep["ranking"][0]]["parameters"]})
        done = platform.wait(key, strategy_id, second["scenarioId"], timeout=300)
        assert done["state"] == "COMPLETE", done
        finished = datetime.strptime(done["finishedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        while datetime.now(UTC).replace(microsecond=0) <= finished:  # finishedAt is to the second
            time.sleep(0.1)
    finally:
        for pid in held:
            os.kill(pid, signal.SIGCONT)
    last = platform.wait(key, strategy_id, first, timeout=300)
    assert last["state"] == "COMPLETE" and last["finishedAt"] > done["finishedAt"]
    assert last["sharpeRatio"] == worst["objective"]

    tree = ok_json(tk("--output", "json", "version", "tree", strategy_id, "--metric", "sharpeRatio"))
    score = next(n for n in tree["versions"] if n["id"] == version_id)["metric"]
    assert score["latest"] == {"scenarioId": first, "value": worst["objective"]}
    everything = ok_json(tk("--output", "json", "scenario", "list", strategy_id, "--state", "COMPLETE", "--limit", "100"))
    values = {s["scenarioId"]: s["sharpeRatio"] for s in everything["scenarios"] if s["strategyVersionId"] == version_id}
    assert score["completedScenarios"] == len(values) == 6 + 2 + 2
    assert score["best"]["value"] == max(values.values()) > worst["objective"]
    assert score["best"]["scenarioId"] != first
    text = tk("version", "tree", strategy_id, "--metric", "sharpeRatio")
    line = next(line for line in text.out.splitlines() if version_id in line)
    assert f"best {score['best']['value']:.2f} ({score['best']['scenarioId']})" in line
    assert f"latest {worst['objective']:.2f} ({first})" in line

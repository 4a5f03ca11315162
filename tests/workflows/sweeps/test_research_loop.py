"""The research loop end to end through the real `tektii` entry point and a real platform
process: sweeps (grid with a holdout, seeded Optuna twice, cancel mid-sweep), their report,
compare of two versions, the lineage tree with metrics, and reruns (identical, then after the
market data was replaced). Real data: gym-anytrading's hourly EUR/USD, two weeks of it, through
the ma-crossover template in the process runtime (a few seconds per scenario)."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
from tektii_testkit import END, FINISHED, HOLDOUT, alive, children, ok_json, shipped_file

GRID = ["--param", "FAST_PERIOD=5,10", "--param", "SLOW_PERIOD=20:40:10", "--constraint", "FAST_PERIOD < SLOW_PERIOD"]


@pytest.fixture(scope="module")
def grid_sweep(tk, owner, base_config) -> dict:
    """A 2x3 grid of the template's periods (one combination cut by nothing: all six run), with a
    holdout from HOLDOUT on for the two best trials."""
    done = tk("--output", "json", "scenario", "sweep", owner[1], "--config", str(base_config), *GRID,
              "--holdout", HOLDOUT, "--holdout-top", "2", "--wait")
    return ok_json(done)


def test_grid_sweep_ranking_equals_the_one_from_its_scenarios(tk, owner, grid_sweep):
    sweep = grid_sweep
    assert sweep["sweepId"].startswith("swp_") and sweep["state"] == "COMPLETE"
    assert sweep["method"] == "grid" and sweep["trialCount"] == 6 and sweep["objective"] == "sharpeRatio"
    trials = sweep["trials"]
    assert [t["parameters"] for t in trials] == [{"FAST_PERIOD": f, "SLOW_PERIOD": s}
                                                 for f in ("5", "10") for s in ("20", "30", "40")]
    # every trial is an ordinary scenario: its own `scenario get` has the metrics the sweep ranked by
    sharpe = {}
    for t in trials:
        scenario = ok_json(tk("--output", "json", "scenario", "get", owner[1], t["scenarioId"]))
        assert scenario["state"] == "COMPLETE" and scenario["sweepId"] == sweep["sweepId"]
        assert scenario["config"]["environment"] == t["parameters"]
        assert scenario["config"]["endTime"] == HOLDOUT  # the search runs before the holdout
        assert t["objective"] == scenario["sharpeRatio"] and t["metrics"]["totalTrades"] == scenario["totalTrades"]
        sharpe[t["trial"]] = scenario["sharpeRatio"]
    expected = sorted(sharpe, key=lambda n: (-sharpe[n], n))
    assert sweep["ranking"] == expected and sweep["best"] == expected[0]
    assert [t["rank"] for t in sorted(trials, key=lambda t: t["rank"])] == [1, 2, 3, 4, 5, 6]
    assert len(set(sharpe.values())) > 1  # the periods matter: the ranking is not a tie


def test_holdout_reruns_the_best_trials_on_the_rest_of_the_window(tk, owner, grid_sweep):
    best_two = grid_sweep["ranking"][:2]
    for t in grid_sweep["trials"]:
        oos = t["outOfSample"]
        if t["trial"] not in best_two:
            assert oos is None
            continue
        assert oos["state"] == "COMPLETE" and isinstance(oos["objective"], float)
        scenario = ok_json(tk("--output", "json", "scenario", "get", owner[1], oos["scenarioId"]))
        assert (scenario["config"]["startTime"], scenario["config"]["endTime"]) == (HOLDOUT, END)
        assert scenario["config"]["environment"] == t["parameters"]
        assert oos["objective"] == scenario["sharpeRatio"]
    shown = tk("sweep", "get", grid_sweep["sweepId"])  # piped: plain columns, in- and out-of-sample side by side
    assert shown.code == 0, shown.err
    assert "sharpeRatio (in)" in shown.out and "sharpeRatio (out)" in shown.out
    rows = [line for line in shown.out.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])]
    assert len(rows) == 3


def test_sweep_list_and_the_live_table_on_a_terminal(tk, owner, grid_sweep):
    listed = ok_json(tk("--output", "json", "sweep", "list", "--strategy", owner[1]))
    assert grid_sweep["sweepId"] in [s["sweepId"] for s in listed["sweeps"]]
    assert "trials" not in listed["sweeps"][0]
    live = tk("sweep", "get", grid_sweep["sweepId"], "--wait", tty=True)
    assert live.code == 0, live.err
    assert "┌" in live.out and "\033[J" in live.out  # the trial table, drawn and then cleared
    assert f"Sweep {grid_sweep['sweepId']} complete" in live.out and "Ranking:" in live.out


def test_optuna_with_a_seed_proposes_the_same_trials_twice(tk, platform, owner, base_config):
    from tektii_core.sweep_spec import validate_sweep
    from tektii_platform.sweeps import propose_optuna

    flags = ["--method", "optuna", "--trials", "3", "--seed", "11", "--param", "FAST_PERIOD=3:12",
             "--param", "SLOW_PERIOD=20:40:5", "--objective", "totalReturn"]
    first = tk("scenario", "sweep", owner[1], "--config", str(base_config), *flags, "--wait")  # piped: plain lines
    assert first.code == 0, first.err + first.out
    lines = [line for line in first.out.splitlines() if line.startswith("trial ")]
    assert any(re.fullmatch(r"trial 0 FAST_PERIOD=\d+ SLOW_PERIOD=\d+: (PENDING|RUNNING)", line) for line in lines), first.out
    assert any(re.fullmatch(r"trial 2 .*: COMPLETE totalReturn=-?[\d.,]+%?", line) for line in lines), first.out
    assert "\033[" not in first.out
    sweep_id = re.search(r"swp_[a-z2-7]+", first.out)[0]
    again = ok_json(tk("--output", "json", "scenario", "sweep", owner[1], "--config", str(base_config), *flags, "--wait"))
    once = ok_json(tk("--output", "json", "sweep", "get", sweep_id))
    assert [t["parameters"] for t in once["trials"]] == [t["parameters"] for t in again["trials"]]
    assert len(once["trials"]) == 3 and once["parallelism"] == 2
    # another seed proposes other trials (the same function the driver calls)
    spec, problems = validate_sweep({"config": once["config"], "parameters": once["parameters"], "method": "optuna",
                                     "trials": 3, "seed": 12})
    assert not problems
    assert propose_optuna(spec, [], 2) != [t["parameters"] for t in once["trials"][:2]]


def test_cancel_mid_sweep_stops_pending_and_running_trials(tk, platform, owner, base_config):
    created = ok_json(tk("--output", "json", "scenario", "sweep", owner[1], "--config", str(base_config),
                         "--param", "FAST_PERIOD=3:8:1", "--param", "SLOW_PERIOD=30"))
    assert created["state"] == "RUNNING" and len(created["trials"]) == 6
    deadline = time.monotonic() + 120
    while not any(t["state"] == "RUNNING" for t in created["trials"]):
        assert time.monotonic() < deadline, created
        time.sleep(0.2)
        created = ok_json(tk("--output", "json", "sweep", "get", created["sweepId"]))
    running = [t["scenarioId"] for t in created["trials"] if t["state"] == "RUNNING"]
    workers = {}
    for scenario_id in running:
        while (handle := platform.scenario_row(scenario_id)["handle"]) is None:  # set just after the start
            time.sleep(0.05)
        workers[scenario_id] = int(handle.split(":")[1])  # "pid:PID:START"
    processes = set(workers.values()).union(*(children(pid) for pid in workers.values()))
    cancelled = tk("sweep", "cancel", created["sweepId"])
    assert cancelled.code == 0, cancelled.err
    assert f"✓ Cancelled sweep {created['sweepId']}" in cancelled.out
    deadline = time.monotonic() + 60
    while True:
        sweep = ok_json(tk("--output", "json", "sweep", "get", created["sweepId"]))
        if all(t["state"] in FINISHED for t in sweep["trials"]):
            break
        assert time.monotonic() < deadline, sweep
        time.sleep(0.2)
    assert sweep["state"] == "CANCELLED"
    states = [t["state"] for t in sweep["trials"]]
    assert states.count("CANCELLED") >= 4, states  # at most two were running when it was cancelled
    assert not [pid for pid in processes if alive(pid)], "a cancelled trial's worker or strategy is still running"
    again = tk("sweep", "cancel", created["sweepId"])
    assert again.code != 0 and "Traceback" not in again.err
    assert again.err.startswith("Error: ") and "already finished (CANCELLED)" in again.err


def test_invalid_sweep_reports_every_problem_before_any_request(tk, owner, base_config):
    done = tk("scenario", "sweep", owner[1], "--config", str(base_config), "--param", "FAST_PERIOD=5,10",
              "--param", "TEKTII_X=1:3", "--param", "SLOW_PERIOD=9:1", "--constraint", "FAST_PERIOD < NOPE",
              "--objective", "sharp", "--holdout", "2018-01-01T00:00:00Z", "--method", "random",
              env={"TEKTII_API_URL": "http://127.0.0.1:9"})  # nothing listens there: no request may be made
    assert done.code != 0 and "Traceback" not in done.err
    assert done.err.startswith("Error: not a valid sweep (6 problems):")
    for expected in ("parameters.SLOW_PERIOD: high (1) is below low (9)", "constraints[0]: names no parameter: NOPE",
                     "objective: must be a metric", "holdout: must lie inside the window",
                     "trials: required for the random method", "parameters.TEKTII_X:"):
        assert expected in done.err, done.err


def test_the_api_checks_the_sweep_again(platform, owner, base_config):
    from tektii_testkit import assert_error

    key, strategy_id, _ = owner
    config = {**json.loads(base_config.read_text()), "strategyVersionId": "ver_unknown",
              "subscriptions": [{"instrument": "F:GBPUSD", "events": ["candle_1h"]}]}
    body = {"config": config, "parameters": {"FAST_PERIOD": "5:x"}, "method": "grid", "seed": -1}
    response = platform.call("POST", f"/v1/strategies/{strategy_id}/sweeps", key, json=body)
    error = assert_error(response, 422, "validation_failed")
    fields = [d["field"] for d in error["details"]]
    assert fields == ["parameters.FAST_PERIOD.high", "seed", "config.strategyVersionId", "config.subscriptions[0].instrument"]
    assert platform.ok("GET", "/v1/sweeps", key, params={"strategyId": strategy_id, "state": "FAILED"})["sweeps"] == []
    missing = platform.call("GET", "/v1/sweeps/swp_nope", key)
    assert_error(missing, 404, "not_found")


def test_sweep_report_page(tk, grid_sweep, tmp_path):
    out = tmp_path / "sweep.html"
    done = tk("sweep", "report", grid_sweep["sweepId"], "-o", str(out), "--top", "3")
    assert done.code == 0, done.err
    assert f"✓ Sweep report written to {out}" in done.out
    page = out.read_text()
    assert page.count('<rect class="cell"') == 6  # 2 x 3 grid, every cell measured
    assert page.count('class="overlay-line"') == 3
    best = next(t for t in grid_sweep["trials"] if t["rank"] == 1)
    assert f'data-x="{best["parameters"]["FAST_PERIOD"]}" data-y="{best["parameters"]["SLOW_PERIOD"]}" ' \
           f'data-value="{best["objective"]}"' in page
    bad = tk("sweep", "report", grid_sweep["sweepId"], "-o", str(out), "--x", "NOPE")
    assert bad.code != 0 and bad.err.startswith("Error: --x NOPE: the sweep has no such parameter")


@pytest.fixture(scope="module")
def second_version(platform, owner, grid_sweep) -> tuple[str, str]:
    """A child version of the swept one and one completed scenario of it: (version, scenario)."""
    key, strategy_id, parent = owner
    body = {"gitSha": "def5678", "template": "ma-crossover", "parentId": parent}
    version = platform.ok("POST", f"/v1/strategies/{strategy_id}/versions", key, 201, json=body)["id"]
    best = next(t for t in grid_sweep["trials"] if t["rank"] == 1)
    config = {**grid_sweep["config"], "strategyVersionId": version,
              "environment": {"FAST_PERIOD": "10", "SLOW_PERIOD": "40"}}
    scenario = platform.create(key, strategy_id, config)
    done = platform.wait(key, strategy_id, scenario["scenarioId"])
    assert done["state"] == "COMPLETE", done
    assert best["scenarioId"]
    return version, done["scenarioId"]


def test_compare_two_versions(tk, owner, grid_sweep, second_version, tmp_path):
    first = grid_sweep["trials"][0]["scenarioId"]
    _, second = second_version
    data = ok_json(tk("--output", "json", "scenario", "compare", owner[1], first, second))
    assert data["scenarioIds"] == [first, second]
    a = ok_json(tk("--output", "json", "scenario", "get", owner[1], first))
    b = ok_json(tk("--output", "json", "scenario", "get", owner[1], second))
    sharpe = next(m for m in data["metrics"] if m["metric"] == "sharpeRatio")
    assert sharpe["values"] == [a["sharpeRatio"], b["sharpeRatio"]]
    assert sharpe["differences"] == [b["sharpeRatio"] - a["sharpeRatio"]]
    changed = {d["field"]: d["values"] for d in data["configDifferences"]}
    assert changed["strategyVersionId"] == [a["strategyVersionId"], b["strategyVersionId"]]
    assert changed["environment.FAST_PERIOD"] == ["5", "10"] and changed["endTime"] == [HOLDOUT, END]
    assert "initialCapital" not in changed
    table = tk("--output", "csv", "scenario", "compare", owner[1], first, second)
    rows = list(csv.reader(io.StringIO(table.out)))
    assert rows[0] == ["Metric", first, second, f"Δ {second}"] and rows[1][0] == "Total Return"
    shown = tk("scenario", "compare", owner[1], first, second)
    assert "Config differences:" in shown.out and "environment.FAST_PERIOD" in shown.out
    report = tmp_path / "compare.html"
    done = tk("scenario", "report", owner[1], first, second, "-o", str(report))
    assert done.code == 0, done.err
    assert report.read_text().count('class="overlay-line"') == 2


def test_version_tree_with_metrics(tk, owner, grid_sweep, second_version):
    version, scenario_id = second_version
    tree = ok_json(tk("--output", "json", "version", "tree", owner[1], "--metric", "sharpeRatio"))
    nodes = {n["id"]: n for n in tree["versions"]}
    parent = nodes[owner[2]]["metric"]
    # the parent's best: the best of all its completed scenarios (the sweep's trials, both windows)
    values = [t["objective"] for t in grid_sweep["trials"]]
    values += [t["outOfSample"]["objective"] for t in grid_sweep["trials"] if t["outOfSample"]]
    assert parent["best"]["value"] >= max(values)
    child = nodes[version]["metric"]
    assert child["best"]["scenarioId"] == child["latest"]["scenarioId"] == scenario_id
    assert child["changeFromParent"] == child["best"]["value"] - parent["best"]["value"]
    assert child["improved"] == (child["changeFromParent"] > 0)
    text = tk("version", "tree", owner[1], "--metric", "sharpeRatio")
    lines = text.out.splitlines()
    child_line = next(line for line in lines if version in line)
    assert child_line.startswith("`-- ") and ("regressed" in child_line or "improved" in child_line)
    assert f"best {parent['best']['value']:.2f} ({parent['best']['scenarioId']})" in lines[0]


def test_rerun_is_identical_then_names_the_replaced_data(tk, platform, owner, grid_sweep, second_version, tmp_path):
    key, strategy_id, _ = owner
    scenario_id = grid_sweep["trials"][0]["scenarioId"]
    shown = tk("scenario", "get", strategy_id, scenario_id)
    assert "Candles Checksum" in shown.out and "template ma-crossover (sha256:" in shown.out
    metadata = ok_json(tk("--output", "json", "scenario", "results", strategy_id, scenario_id, "--type", "metadata"))
    record = metadata["reproducibility"]
    assert record["template"] == "ma-crossover" and record["imageDigest"] is None
    assert record["candlesReplayed"] > 100 and re.fullmatch(r"sha256:[0-9a-f]{64}", record["candlesChecksum"])
    assert record["engineVersion"] and record["configHash"].startswith("sha256:")

    same = tk("scenario", "rerun", strategy_id, scenario_id)
    assert same.code == 0, same.err + same.out
    assert re.search(r"identical: scen_\w+ reproduced " + scenario_id, same.out)

    # one close inside the window moves: the rerun replays other candles and says so
    path = shipped_file("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    text = path.read_text().splitlines()
    header, rows = text[0], text[1:]
    changed = tmp_path / "eurusd.csv"
    index = next(i for i, row in enumerate(rows) if row.startswith("06.02.2017 10:00"))
    fields = rows[index].split(",")
    fields[4] = f"{float(fields[4]) + 0.0001:.5f}"  # the close, still within high and low
    fields[2] = f"{max(float(fields[2]), float(fields[4])):.5f}"
    rows[index] = ",".join(fields)
    changed.write_text("\n".join([header, *rows]) + "\n")
    platform.ok("POST", "/v1/instruments/F:EURUSD/import", key, data=changed.read_bytes(), params={"mode": "replace"})
    other = tk("scenario", "rerun", strategy_id, scenario_id)
    assert other.code == 1, other.err + other.out
    assert "different: " in other.out and "data: the market data changed since the first run" in other.out
    assert "candlesChecksum: sha256:" in other.out
    assert "strategy:" not in other.out and "engine:" not in other.out

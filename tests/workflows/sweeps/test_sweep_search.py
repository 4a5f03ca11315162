"""How a sweep searches and ranks, end to end through the `tektii` CLI and a real platform process
(real EUR/USD hours through the ma-crossover template): a sweep file with flags on top of it, the
objective's direction (`--maximize`, `--minimize`, and the objectives minimised by default),
the seeded random method, and Optuna's TPE past its random start."""

from __future__ import annotations

import json
import re

from tektii_testkit import HOLDOUT, START, ok_json

from tektii_core.sweep_spec import validate_sweep
from tektii_platform.sweeps import propose_optuna, startup_trials


def sweep(tk, owner, config, *flags) -> dict:
    return ok_json(tk("--output", "json", "scenario", "sweep", owner[1], "--config", str(config), *flags, "--wait"))


def metric_of(tk, owner, scenario_id: str, metric: str) -> float:
    scenario = ok_json(tk("--output", "json", "scenario", "get", owner[1], scenario_id))
    assert scenario["state"] == "COMPLETE"
    return scenario[metric]


def assert_ranked(tk, owner, s: dict, metric: str, direction: str) -> None:
    """The sweep's ranking is the order of its trials' own `scenario get` values of `metric`."""
    values = {t["trial"]: metric_of(tk, owner, t["scenarioId"], metric) for t in s["trials"]}
    assert len(set(values.values())) == len(values), values  # no tie: the order says something
    sign = -1 if direction == "maximize" else 1
    assert s["ranking"] == sorted(values, key=lambda n: sign * values[n]), values
    assert [t["objective"] for t in s["trials"]] == [values[t["trial"]] for t in s["trials"]]


def test_a_sweep_file_with_flags_on_top(tk, owner, short_config, tmp_path):
    file = tmp_path / "sweep.json"
    file.write_text(json.dumps({
        "parameters": {"FAST_PERIOD": [5, 10, 15, 25], "SLOW_PERIOD": "20:30:10"},
        "constraints": ["FAST_PERIOD < SLOW_PERIOD"], "method": "grid", "objective": "totalReturn"}))
    # --param replaces the file's SLOW_PERIOD, --constraint adds to its constraints, --objective
    # replaces its objective; the file's direction is not set, so maxDrawdownPct is minimised
    s = sweep(tk, owner, short_config, "--sweep-file", str(file), "--param", "SLOW_PERIOD=40",
              "--constraint", "FAST_PERIOD <= 15", "--objective", "maxDrawdownPct")
    assert s["state"] == "COMPLETE" and s["method"] == "grid"
    assert s["parameters"] == {"FAST_PERIOD": {"values": ["5", "10", "15", "25"]}, "SLOW_PERIOD": {"values": ["40"]}}
    assert s["constraints"] == ["FAST_PERIOD < SLOW_PERIOD", "FAST_PERIOD <= 15"]
    assert [t["parameters"] for t in s["trials"]] == [{"FAST_PERIOD": f, "SLOW_PERIOD": "40"} for f in ("5", "10", "15")]
    assert (s["objective"], s["direction"]) == ("maxDrawdownPct", "minimize")
    assert_ranked(tk, owner, s, "maxDrawdownPct", "minimize")

    # a flag's constraint that leaves nothing of the file's grid: said before any request
    empty = tk("scenario", "sweep", owner[1], "--config", str(short_config), "--sweep-file", str(file),
               "--constraint", "FAST_PERIOD > 30", env={"TEKTII_API_URL": "http://127.0.0.1:9"})
    assert empty.code != 0 and "Traceback" not in empty.err
    assert "constraints: no combination of the parameters satisfies the constraints" in empty.err

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"parameters": {"FAST_PERIOD": "9:1"}, "method": "annealing", "objektive": 1}))
    bad = tk("scenario", "sweep", owner[1], "--config", str(short_config), "--sweep-file", str(broken))
    assert bad.code != 0 and bad.err.startswith("Error: not a valid sweep (3 problems):"), bad.err
    for expected in ("objektive: unknown field", "method: must be one of grid, random, optuna",
                     "parameters.FAST_PERIOD: high (1) is below low (9)"):
        assert expected in bad.err, bad.err
    # a flag repairs the file's parameter: the flag wins per name
    fixed = tk("scenario", "sweep", owner[1], "--config", str(short_config), "--sweep-file", str(broken),
               "--param", "FAST_PERIOD=1:9:4", env={"TEKTII_API_URL": "http://127.0.0.1:9"})
    assert "parameters.FAST_PERIOD" not in fixed.err and "Error: not a valid sweep (2 problems):" in fixed.err


def test_maximize_and_minimize_override_the_objective_default(tk, owner, short_config):
    grid = ["--param", "FAST_PERIOD=5,10,15", "--param", "SLOW_PERIOD=40"]
    maximised = sweep(tk, owner, short_config, *grid, "--objective", "maxDrawdownPct", "--maximize")
    assert (maximised["objective"], maximised["direction"]) == ("maxDrawdownPct", "maximize")
    assert_ranked(tk, owner, maximised, "maxDrawdownPct", "maximize")

    minimised = sweep(tk, owner, short_config, *grid, "--objective", "totalReturn", "--minimize")
    assert (minimised["objective"], minimised["direction"]) == ("totalReturn", "minimize")
    assert_ranked(tk, owner, minimised, "totalReturn", "minimize")
    shown = tk("sweep", "get", minimised["sweepId"])
    assert re.search(r"Objective +totalReturn \(minimize\)", shown.out), shown.out

    clash = tk("scenario", "sweep", owner[1], "--config", str(short_config), *grid, "--maximize", "--minimize")
    assert clash.code != 0 and "not allowed with argument" in clash.err and "Traceback" not in clash.err


def test_random_trials_run_through_the_platform_the_same_twice(tk, owner, short_config):
    flags = ["--method", "random", "--trials", "3", "--seed", "5", "--param", "FAST_PERIOD=3:12",
             "--param", "SLOW_PERIOD=20:40:5", "--constraint", "FAST_PERIOD < SLOW_PERIOD - 10"]
    bad = tk("scenario", "sweep", owner[1], "--config", str(short_config), *flags)
    assert bad.code != 0 and "constraints[0]:" in bad.err  # a side is a name or a number, not an expression
    flags[-1] = "FAST_PERIOD < 10"
    piped = tk("scenario", "sweep", owner[1], "--config", str(short_config), *flags, "--wait")
    assert piped.code == 0, piped.err + piped.out
    assert "\033[" not in piped.out
    first_id = re.search(r"Sweep (swp_[a-z2-7]+) complete", piped.out)[1]
    first = ok_json(tk("--output", "json", "sweep", "get", first_id))
    assert first["method"] == "random" and first["seed"] == 5 and first["trialCount"] == 3
    for t in first["trials"]:  # a plain line per trial when it finished, with the objective
        assert f"trial {t['trial']} FAST_PERIOD={t['parameters']['FAST_PERIOD']} " \
               f"SLOW_PERIOD={t['parameters']['SLOW_PERIOD']}: COMPLETE sharpeRatio=" in piped.out
    again = sweep(tk, owner, short_config, *flags)
    drawn = [t["parameters"] for t in first["trials"]]
    assert [t["parameters"] for t in again["trials"]] == drawn and len({json.dumps(d) for d in drawn}) == 3
    assert all(int(d["FAST_PERIOD"]) < 10 and 3 <= int(d["FAST_PERIOD"]) <= 12 and d["SLOW_PERIOD"] in
               ("20", "25", "30", "35", "40") for d in drawn)
    for t in again["trials"]:  # each trial a scenario of its own with the drawn parameters
        scenario = ok_json(tk("--output", "json", "scenario", "get", owner[1], t["scenarioId"]))
        assert scenario["config"]["environment"] == t["parameters"] and scenario["sweepId"] == again["sweepId"]
    # the draws are the seed's: the sweep document's own random_trials, and another seed differs
    definition = {**{k: first[k] for k in ("config", "parameters", "constraints", "method", "seed")},
                  "trials": first["trialCount"]}
    spec, problems = validate_sweep(definition)
    assert not problems and spec is not None and spec.random_trials() == drawn
    other, _ = validate_sweep({**definition, "seed": 6})
    assert other is not None and other.random_trials() != drawn


def test_optuna_past_its_random_start_proposes_the_same_trials_twice(tk, owner, short_config):
    """Six trials: TPE samples the first startup_trials(6) == 2 at random, then its model of the
    finished trials proposes the other four (batches of two, the platform's parallelism)."""
    flags = ["--method", "optuna", "--trials", "6", "--seed", "4", "--param", "FAST_PERIOD=3:15",
             "--param", "SLOW_PERIOD=20:60:5"]
    assert startup_trials(6) == 2
    first = sweep(tk, owner, short_config, *flags, "--maximize")
    again = sweep(tk, owner, short_config, *flags, "--maximize")
    proposed = [t["parameters"] for t in first["trials"]]
    assert len(proposed) == 6 and [t["parameters"] for t in again["trials"]] == proposed
    assert [t["objective"] for t in again["trials"]] == [t["objective"] for t in first["trials"]]
    # the model guides from the third trial on: the same history ranked the other way round (the
    # only change) keeps the random start and changes what the model proposes
    minimised = sweep(tk, owner, short_config, *flags, "--minimize")
    other = [t["parameters"] for t in minimised["trials"]]
    assert other[:2] == proposed[:2] and other[2:4] != proposed[2:4]
    # each batch is what the driver's own function proposes from the trials before it
    definition = {**{k: first[k] for k in ("config", "parameters", "constraints", "method", "seed", "objective",
                                           "direction")}, "trials": first["trialCount"]}
    spec, problems = validate_sweep(definition)
    assert not problems and spec is not None
    history = [(t["parameters"], t["objective"]) for t in first["trials"]]
    for done in (2, 4):
        assert propose_optuna(spec, history[:done], 2) == proposed[done:done + 2]
    assert first["config"]["startTime"] == START and first["config"]["endTime"] == HOLDOUT

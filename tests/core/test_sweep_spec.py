"""The sweep document: its written forms, grids under constraints, seeded random draws, Optuna's
seeded proposals, and the problems of a bad sweep (sweeps end to end: tests/sweeps)."""

from __future__ import annotations

import pytest

from tektii_core.sweep_spec import rank_trials, validate_sweep
from tektii_platform.sweeps import propose_optuna

CONFIG = {"strategyVersionId": "ver_x", "subscriptions": [{"instrument": "F:EURUSD", "events": ["candle_1h"]}],
          "startTime": "2017-02-01T00:00:00Z", "endTime": "2017-03-01T00:00:00Z"}


def spec(**fields):
    found, problems = validate_sweep({"config": CONFIG, **fields})
    assert not problems, problems
    return found


@pytest.mark.parametrize("written", [[5, 10, 20], "5,10,20", {"values": ["5", "10", "20"]}, ["5", 10, 20.0]])
def test_the_forms_of_a_value_list(written):
    assert spec(parameters={"FAST": written}).grid() == [{"FAST": "5"}, {"FAST": "10"}, {"FAST": "20"}]


def test_ranges_are_inclusive_and_exact():
    s = spec(parameters={"A": "20:60:10", "B": {"low": 0.1, "high": 0.3, "step": 0.1}})
    assert [p.grid() for p in s.parameters] == [("20", "30", "40", "50", "60"), ("0.1", "0.2", "0.3")]
    assert s.to_api()["parameters"] == {"A": {"low": 20, "high": 60, "step": 10},
                                        "B": {"low": 0.1, "high": 0.3, "step": 0.1}}


def test_constraints_cut_the_grid():
    s = spec(parameters={"FAST": "5,10,20", "SLOW": "10:30:10"}, constraints=["FAST < SLOW", "SLOW != 30"])
    assert s.grid() == [{"FAST": "5", "SLOW": "10"}, {"FAST": "5", "SLOW": "20"}, {"FAST": "10", "SLOW": "20"}]
    assert s.trials == 3
    assert s.in_sample_config({"FAST": "5", "SLOW": "10"})["environment"] == {"FAST": "5", "SLOW": "10"}


def test_random_draws_are_seeded_distinct_and_allowed():
    fields = {"parameters": {"FAST": "1:20:1", "SLOW": "2:40:2"}, "constraints": ["FAST < SLOW"], "method": "random",
              "trials": 8, "seed": 5}
    first, again = spec(**fields).random_trials(), spec(**fields).random_trials()
    assert first == again and len(first) == 8
    assert len({tuple(t.values()) for t in first}) == 8
    assert all(int(t["FAST"]) < int(t["SLOW"]) for t in first)
    assert spec(**{**fields, "seed": 6}).random_trials() != first
    continuous = spec(parameters={"X": "0.5:1.5"}, method="random", trials=3, seed=1).random_trials()
    assert all(0.5 <= float(t["X"]) <= 1.5 for t in continuous) and len(continuous) == 3


def test_optuna_proposals_are_seeded_and_respect_the_space():
    s = spec(parameters={"FAST": "3:12", "SLOW": "20:40:5", "F": {"low": 0.1, "high": 0.9, "step": 0.1},
                         "MODE": ["a", "b"]}, constraints=["FAST < SLOW"], method="optuna", trials=6, seed=3)
    first = propose_optuna(s, [], 3)
    assert first == propose_optuna(s, [], 3) and len(first) == 3
    for t in first:
        assert 3 <= int(t["FAST"]) <= 12 and t["SLOW"] in ("20", "25", "30", "35", "40") and t["MODE"] in ("a", "b")
        assert len(t["F"]) <= 3 and 0.1 <= float(t["F"]) <= 0.9  # on the step: "0.3", not "0.30000000000000004"
    history = [(t, float(n)) for n, t in enumerate(first)]
    after = propose_optuna(s, history, 3)
    assert after == propose_optuna(s, history, 3)
    assert not set(map(str, after)) & set(map(str, first))  # never a trial already run


def test_ranking_respects_the_direction_and_leaves_out_missing_values():
    trials = [{"trial": 0, "objective": 1.0}, {"trial": 1, "objective": None}, {"trial": 2, "objective": 3.0},
              {"trial": 3, "objective": 1.0}]
    assert [t["trial"] for t in rank_trials(trials, "maximize")] == [2, 0, 3]
    assert [t["trial"] for t in rank_trials(trials, "minimize")] == [0, 3, 2]


def test_every_problem_at_once():
    _, problems = validate_sweep({"config": {**CONFIG, "endTime": "soon"}, "parameters": {"A": "1:2:0", "B": [], "9X": [1]},
                                  "constraints": ["A <"], "method": "bayes", "trials": 0, "direction": "up", "extra": 1})
    assert [p.path for p in problems] == ["extra", "config.endTime", "parameters.A.step", "parameters.B.values",
                                          "constraints[0]", "method", "trials", "direction", "parameters[\"9X\"]"]
    _, problems = validate_sweep({"config": CONFIG, "parameters": {"A": "1:2000:1"}})
    assert [p.path for p in problems] == ["parameters.A.step"]
    _, problems = validate_sweep({"config": CONFIG, "parameters": {"A": "1:2"}})
    assert [p.message for p in problems] == ["a grid needs values or a range with a step, e.g. 20:60:10"]
    _, problems = validate_sweep({"config": CONFIG, "parameters": {"A": [1, 2]}, "constraints": ["A > 5"]})
    assert [p.message for p in problems] == ["no combination of the parameters satisfies the constraints"]

"""Optuna's seeded TPE search over a longer run than the end-to-end tests afford: fourteen trials in
batches of two, as the sweep driver asks for them, past Optuna's own default random start of ten
trials. The objective is a plain function of the parameters (the runs are tested end to end in
test_sweep_search.py)."""

from __future__ import annotations

from tektii_core.sweep_spec import SweepSpec, validate_sweep
from tektii_platform.sweeps import propose_optuna, startup_trials

CONFIG = {"strategyVersionId": "ver_abc123", "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1h"]}],
          "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-02-01T00:00:00Z"}


def spec_of(trials: int, direction: str) -> SweepSpec:
    spec, problems = validate_sweep({"config": CONFIG, "parameters": {"FAST": "2:30", "SLOW": "20:80:5"},
                                     "constraints": ["FAST < SLOW"], "method": "optuna", "trials": trials, "seed": 9,
                                     "objective": "totalReturn", "direction": direction})
    assert not problems and spec is not None
    return spec


def score(params: dict[str, str]) -> float:
    """Best at FAST=12, SLOW=50."""
    return -((int(params["FAST"]) - 12) ** 2) - (int(params["SLOW"]) - 50) ** 2 / 10


def search(spec: SweepSpec) -> list[tuple[dict[str, str], float]]:
    history: list[tuple[dict[str, str], float]] = []
    while len(history) < spec.trials:
        batch = propose_optuna(spec, history, min(2, spec.trials - len(history)))
        assert batch, history
        history += [(params, score(params)) for params in batch]
    return history


def test_the_guided_search_is_seeded_and_follows_the_objective():
    assert [startup_trials(n) for n in (3, 6, 12, 30, 40, 200)] == [2, 2, 4, 10, 10, 10]
    spec = spec_of(14, "maximize")
    first = search(spec)
    assert search(spec) == first  # the same sweep proposes the same trials, all fourteen
    assert len({tuple(p.items()) for p, _ in first}) == 14 and all(spec.allowed(p) for p, _ in first)
    start = startup_trials(14)
    # the random start does not look at the values; the model does: minimising the same
    # function keeps the first `start` trials and then goes elsewhere
    other = search(spec_of(14, "minimize"))
    assert [p for p, _ in other[:start]] == [p for p, _ in first[:start]]
    assert [p for p, _ in other[start:]] != [p for p, _ in first[start:]]
    # and guided, it finds better trials than its random start did
    assert max(v for _, v in first[start:]) > max(v for _, v in first[:start])

"""The sweep driver: turns a sweep into trial scenarios, runs its search, ranks the trials.

A sweep (``swp_…``, table ``sweeps``) owns its trials as ordinary scenarios (``sweep_id``,
``trial``, ``sample``), which the run scheduler runs like any other, in parallel up to its
capacity. The driver thread advances every RUNNING sweep a few times a second:

* grid and random: every trial is queued at once (random draws with ``random.Random(seed)``);
* optuna: batches of ``parallelism`` trials (the scheduler's capacity when the sweep was
  created); after a batch has finished, an Optuna study is rebuilt from every finished trial
  with a TPE sampler seeded from (seed, trials so far) and asked for the next batch (random
  for the first ``startup_trials`` completed trials, then guided by TPE's model). Nothing
  depends on timing, so the same sweep over the same data proposes the same trials;
* holdout: once the search has finished, the best ``holdoutTop`` trials run again on the
  window from the holdout time on (``sample = 'out'``);
* then the sweep is COMPLETE (FAILED when no trial completed). Cancel stops the rest.

Optuna is imported only here, when an optuna sweep proposes trials. See docs/sweeps.md.
"""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal
from typing import Any

from tektii_core.scenario_config.validate import validate_config
from tektii_core.sweep_spec import SweepSpec, number_text, rank_trials, validate_sweep

from .http import AppContext
from .ids import now_db, rfc3339
from .scheduler import wake_scheduler
from .store import scenarios, sweeps

log = logging.getLogger(__name__)

FINISHED = ("COMPLETE", "FAILED", "CANCELLED")
SWEEP_STATES = ("RUNNING", "COMPLETE", "FAILED", "CANCELLED")
POLL_INTERVAL_S = 0.25
OPTUNA_STARTUP_TRIALS = 10  # TPESampler's default n_startup_trials
MAX_ASKS_PER_TRIAL = 100  # proposals a constraint or a repeat may reject before the search stops


def load_spec(spec_json: dict[str, Any]) -> SweepSpec:
    spec, problems = validate_sweep({k: v for k, v in spec_json.items() if k != "parallelism"})
    if spec is None:
        raise ValueError(f"stored sweep no longer validates: {problems}")
    return spec


# -- representation ----------------------------------------------------------------------------


def _result(row: Any, objective: str) -> dict[str, Any]:
    metrics = json.loads(row["metrics"]) if row["state"] == "COMPLETE" and row["metrics"] else None
    return {"scenarioId": row["id"], "state": row["state"], "failureReason": row["failure_reason"],
            "objective": (metrics or {}).get(objective), "metrics": metrics}


def sweep_json(db: Any, row: Any, *, with_trials: bool = True) -> dict[str, Any]:
    """The sweep object: its definition, counts, ranking and (unless listed) every trial."""
    spec = json.loads(row["spec"])
    objective, direction = spec["objective"], spec["direction"]
    trials: list[dict[str, Any]] = []
    out_of_sample: dict[int, dict[str, Any]] = {}
    counts = dict.fromkeys(("PENDING", "RUNNING", "COMPLETE", "FAILED", "CANCELLED"), 0)
    for scenario in scenarios.trials(db, row["id"]):
        if scenario["sample"] == "out":
            out_of_sample[scenario["trial"]] = _result(scenario, objective)
            continue
        counts[scenario["state"]] += 1
        trials.append({"trial": scenario["trial"], "parameters": json.loads(scenario["trial_params"]),
                       **_result(scenario, objective), "rank": None, "outOfSample": None})
    ranking = rank_trials(trials, direction)
    for rank, trial in enumerate(ranking, 1):
        trial["rank"] = rank  # type: ignore[index]
    for trial in trials:
        trial["outOfSample"] = out_of_sample.get(trial["trial"])
    data: dict[str, Any] = {
        "sweepId": row["id"], "strategyId": row["strategy_id"], "strategyVersionId": row["version_id"],
        "state": row["state"], "failureReason": row["failure_reason"],
        "method": spec["method"], "objective": objective, "direction": direction, "seed": spec["seed"],
        "trialCount": spec["trials"], "parallelism": spec["parallelism"], "parameters": spec["parameters"],
        "constraints": spec["constraints"], "holdout": spec["holdout"], "holdoutTop": spec["holdoutTop"],
        "config": spec["config"], "counts": counts, "ranking": [t["trial"] for t in ranking],
        "best": ranking[0]["trial"] if ranking else None,
        "createdAt": rfc3339(row["created_at"]), "finishedAt": rfc3339(row["finished_at"]) if row["finished_at"] else None,
    }
    if with_trials:
        data["trials"] = trials
    return data


# -- proposing trials -------------------------------------------------------------------------


def _distributions(spec: SweepSpec) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in spec.parameters:
        if p.values is not None:
            out[p.name] = CategoricalDistribution(list(p.values))
        elif p.integer:
            assert p.low is not None and p.high is not None
            out[p.name] = IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
        else:
            assert p.low is not None and p.high is not None
            step = float(p.step) if p.step is not None else None
            out[p.name] = FloatDistribution(float(p.low), float(p.high), step=step)
    return out


def _as_text(spec: SweepSpec, name: str, value: Any) -> str:
    parameter = next(p for p in spec.parameters if p.name == name)
    if parameter.values is not None or isinstance(value, int):
        return str(value)
    number = Decimal(repr(float(value)))
    if parameter.step is not None:
        number = number.quantize(parameter.step.normalize()) if parameter.step.as_tuple().exponent < 0 else number
    return number_text(number)


def _internal(spec: SweepSpec, name: str, text: str) -> Any:
    parameter = next(p for p in spec.parameters if p.name == name)
    if parameter.values is not None:
        return text
    return int(text) if parameter.integer else float(text)


def startup_trials(trials: int) -> int:
    """How many completed trials TPE samples at random before its model guides the search: a
    third of the budget, at least 2, at most Optuna's default of 10 (with the default, a sweep
    of 10 trials or fewer would never leave the random start)."""
    return min(OPTUNA_STARTUP_TRIALS, max(2, trials // 3))


def propose_optuna(spec: SweepSpec, finished: list[tuple[dict[str, str], float | None]], count: int) -> list[dict[str, str]]:
    """The next ``count`` trials of a seeded TPE search, given every finished trial in order
    (its parameters and objective, None when it has none). The same history gives the same
    proposals; allowed by the constraints and not tried before, else left out."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = _distributions(spec)
    sampler = optuna.samplers.TPESampler(seed=spec.seed + len(finished), n_startup_trials=startup_trials(spec.trials))
    study = optuna.create_study(direction=spec.direction, sampler=sampler)
    for params, value in finished:
        internal = {name: _internal(spec, name, text) for name, text in params.items()}
        state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(params=internal, distributions=distributions, value=value, state=state))
    seen = [params for params, _ in finished]
    proposals: list[dict[str, str]] = []
    for _ in range(count * MAX_ASKS_PER_TRIAL):
        if len(proposals) == count:
            break
        trial = study.ask(distributions)
        params = {name: _as_text(spec, name, trial.params[name]) for name in distributions}
        if spec.allowed(params) and params not in seen:
            seen.append(params)
            proposals.append(params)  # the trial stays pending in this study: later asks look elsewhere
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return proposals


# -- the driver ----------------------------------------------------------------------------------


class SweepDriver:
    """Advances the RUNNING sweeps of one data directory (in the process that schedules runs)."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.db = ctx.db
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tektii-sweeps", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                for sweep_id in sweeps.running_ids(self.db):
                    self.advance(sweep_id)
            except Exception:  # noqa: BLE001 - keep driving; the error is in the log
                log.exception("sweep driver tick failed")
            self._wake.wait(POLL_INTERVAL_S)
            self._wake.clear()

    def advance(self, sweep_id: str) -> None:
        """One step of a sweep: queue what is due, or finish it. Safe to call at any time."""
        with self._lock:
            row = sweeps.get(self.db, sweep_id)
            if row is None or row["state"] != "RUNNING":
                return
            try:
                self._advance(row)
            except Exception as exc:  # noqa: BLE001 - a broken sweep fails, the others go on
                log.exception("sweep %s failed", sweep_id)
                self._finish(sweep_id, "FAILED", f"internal error in the sweep driver: {exc}")

    def _advance(self, row: Any) -> None:
        stored = json.loads(row["spec"])
        spec = load_spec(stored)
        trials = scenarios.trials(self.db, row["id"])
        searched = [t for t in trials if t["sample"] == "in"]
        if not searched and spec.method != "optuna":
            proposals = spec.grid() if spec.method == "grid" else spec.random_trials()
            self._queue(row, spec, [(n, p, "in") for n, p in enumerate(proposals)])
            return
        if any(t["state"] not in FINISHED for t in searched):
            return
        if spec.method == "optuna" and len(searched) < spec.trials:
            history = [(json.loads(t["trial_params"]), self._objective(t, spec)) for t in searched]
            batch = min(int(stored["parallelism"]), spec.trials - len(searched))
            proposals = propose_optuna(spec, history, batch)
            if proposals:
                self._queue(row, spec, [(len(searched) + i, p, "in") for i, p in enumerate(proposals)])
                return
            # the constraints leave nothing new to try: the search ends early
        ranked = rank_trials([{"trial": t["trial"], "objective": self._objective(t, spec), "params": t["trial_params"]}
                              for t in searched], spec.direction)
        if not ranked:
            reasons = [t["failure_reason"] for t in searched if t["failure_reason"]]
            self._finish(row["id"], "FAILED", "no trial completed with a value of the objective"
                         + (f"; the first failure: {reasons[0]}" if reasons else ""))
            return
        if spec.holdout is not None:
            out = [t for t in trials if t["sample"] == "out"]
            if not out:
                best = ranked[: spec.holdout_top]
                self._queue(row, spec, [(t["trial"], json.loads(t["params"]), "out") for t in best])
                return
            if any(t["state"] not in FINISHED for t in out):
                return
        self._finish(row["id"], "COMPLETE", None)

    @staticmethod
    def _objective(trial: Any, spec: SweepSpec) -> float | None:
        if trial["state"] != "COMPLETE" or not trial["metrics"]:
            return None
        value = json.loads(trial["metrics"]).get(spec.objective)
        return float(value) if isinstance(value, (int, float)) else None

    def _queue(self, row: Any, spec: SweepSpec, trials: list[tuple[int, dict[str, str], str]]) -> None:
        with self.db.transaction():
            # re-read under the write lock: a cancel that came in meanwhile wins
            current = sweeps.get(self.db, row["id"])
            if current is None or current["state"] != "RUNNING":
                return
            for number, params, sample in trials:
                raw = spec.in_sample_config(params) if sample == "in" else spec.out_of_sample_config(params)
                config, problems = validate_config(raw)
                if config is None:
                    raise ValueError(f"trial {number} has an invalid config: {'; '.join(map(str, problems))}")
                scenarios.create(self.db, row["strategy_id"], row["owner_id"], config.to_api(),
                                 sweep_id=row["id"], trial=number, trial_params=params, sample=sample)
        wake_scheduler(self.ctx)
        log.info("sweep %s: queued %d %s-sample trial(s)", row["id"], len(trials), trials[0][2] if trials else "")

    def _finish(self, sweep_id: str, state: str, reason: str | None) -> None:
        sweeps.finish(self.db, sweep_id, state, reason, now_db())
        log.info("sweep %s ended %s%s", sweep_id, state, f": {reason}" if reason else "")


def cancel_sweep(ctx: AppContext, sweep_id: str) -> None:
    """Stop a sweep: pending trials are cancelled at once, running ones within seconds."""
    now = now_db()
    with ctx.db.transaction():
        sweeps.finish(ctx.db, sweep_id, "CANCELLED", None, now)
        scenarios.request_cancel(ctx.db, now, sweep_id=sweep_id)
    wake_scheduler(ctx)

"""Parameter sweeps: the sweep document, its validation, and the trials a grid or a seeded
random search proposes (Optuna's TPE search runs on the platform: tektii_platform/sweeps.py).

A sweep runs one scenario per trial; a trial's parameters become environment entries of the
base scenario config (the variables strategies read, as the templates do). Shared by the CLI
(`tektii scenario sweep` checks everything before any request) and the platform API, which
checks again. Stdlib only; see docs/sweeps.md.

The document (camelCase JSON, as ``POST /v1/strategies/{id}/sweeps`` takes it)::

    {"config": {...a scenario config...},
     "parameters": {"FAST": {"values": ["5", "10", "20"]}, "SLOW": {"low": 20, "high": 60, "step": 10}},
     "constraints": ["FAST < SLOW"], "method": "grid", "trials": null, "seed": 0,
     "objective": "sharpeRatio", "direction": "maximize", "holdout": null, "holdoutTop": 3}

A parameter may also be written ``[5, 10, 20]``, ``"5,10,20"`` or ``"20:60:10"`` (a range from
low to high inclusive, by step; ``"20:60"`` has no step and is for random and optuna only).
"""

from __future__ import annotations

import itertools
import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from tektii_core.scenario_config.model import Problem
from tektii_core.scenario_config.validate import validate_config
from tektii_core.timeutil import format_time, parse_time

METHODS = ("grid", "random", "optuna")
DIRECTIONS = ("maximize", "minimize")
# The metrics a sweep can rank by (docs/metrics.md); these are better when smaller.
OBJECTIVES = ("sharpeRatio", "totalReturn", "sortinoRatio", "cagrPct", "profitFactor", "winRatePct", "maxDrawdownPct",
              "volatilityPct", "longestDrawdownDays", "averageWin", "averageLoss", "totalTrades", "exposureTimePct",
              "endEquity", "totalFees")
MINIMIZED = ("maxDrawdownPct", "volatilityPct", "longestDrawdownDays", "totalFees")
DEFAULT_OBJECTIVE = "sharpeRatio"
MAX_TRIALS = 1000
DEFAULT_HOLDOUT_TOP = 3
FIELDS = ("config", "parameters", "constraints", "method", "trials", "seed", "objective", "direction", "holdout",
          "holdoutTop")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = r"-?\d+(?:\.\d+)?"
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt}
# a valid config whose only variable part is the environment: the parameter names' checks
_PROBE_CONFIG = {"strategyVersionId": "ver_probe", "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
                 "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-02T00:00:00Z"}
CONSTRAINT_RE = re.compile(rf"\s*({_NAME}|{_NUMBER})\s*(<=|>=|==|!=|<|>)\s*({_NAME}|{_NUMBER})\s*")


def default_direction(objective: str) -> str:
    return "minimize" if objective in MINIMIZED else "maximize"


def number_text(value: Decimal) -> str:
    """A Decimal as an environment value: ``20``, ``0.5`` (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@attrs.frozen
class Parameter:
    """A list of values, or a range low..high (inclusive) by an optional step."""

    name: str
    values: tuple[str, ...] | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None

    @property
    def integer(self) -> bool:
        """A range whose bounds and step are whole numbers draws whole numbers."""
        return all(v is None or v == v.to_integral_value() for v in (self.low, self.high, self.step))

    def grid(self) -> tuple[str, ...] | None:
        """Every value, or None for a range without a step (no finite grid)."""
        if self.values is not None:
            return self.values
        if self.step is None:
            return None
        assert self.low is not None and self.high is not None
        count = int((self.high - self.low) / self.step) + 1
        return tuple(number_text(self.low + k * self.step) for k in range(count))

    def draw(self, rng: random.Random) -> str:
        grid = self.grid()
        if grid is not None:
            return rng.choice(grid)
        assert self.low is not None and self.high is not None
        if self.integer:
            return str(rng.randint(int(self.low), int(self.high)))
        return number_text(Decimal(repr(rng.uniform(float(self.low), float(self.high)))))

    def to_api(self) -> dict[str, Any]:
        if self.values is not None:
            return {"values": list(self.values)}
        assert self.low is not None and self.high is not None
        out: dict[str, Any] = {"low": _json_number(self.low), "high": _json_number(self.high)}
        if self.step is not None:
            out["step"] = _json_number(self.step)
        return out


@attrs.frozen
class Constraint:
    """``LEFT OP RIGHT``, each side a parameter name or a number, e.g. ``FAST < SLOW``."""

    left: str
    op: str
    right: str

    @property
    def text(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def names(self) -> list[str]:
        return [side for side in (self.left, self.right) if re.fullmatch(_NAME, side)]

    def holds(self, params: Mapping[str, str]) -> bool:
        def value(side: str) -> Decimal:
            number = _decimal(params[side] if side in params else side)
            if number is None:
                raise ValueError(f"{side}={params.get(side)!r} is not a number")
            return number

        return _OPERATORS[self.op](value(self.left), value(self.right))


@attrs.frozen
class SweepSpec:
    config: dict[str, Any]  # the base scenario config, defaults filled in (ScenarioConfig.to_api())
    parameters: tuple[Parameter, ...]
    constraints: tuple[Constraint, ...] = ()
    method: str = "grid"
    trials: int = 0  # how many trials the search runs (for a grid: every allowed combination)
    seed: int = 0
    objective: str = DEFAULT_OBJECTIVE
    direction: str = "maximize"
    holdout: str | None = None  # RFC 3339: search before it, rerun the best trials from it on
    holdout_top: int = DEFAULT_HOLDOUT_TOP

    def allowed(self, params: Mapping[str, str]) -> bool:
        return all(c.holds(params) for c in self.constraints)

    def grid(self) -> list[dict[str, str]]:
        """Every combination of the parameters' values that the constraints allow, in order."""
        grids = [p.grid() or () for p in self.parameters]
        names = [p.name for p in self.parameters]
        combos = (dict(zip(names, values)) for values in itertools.product(*grids))
        return [c for c in combos if self.allowed(c)]

    def finite(self) -> bool:
        return all(p.grid() is not None for p in self.parameters)

    def random_trials(self) -> list[dict[str, str]]:
        """``trials`` distinct allowed combinations drawn with random.Random(seed): the same every time."""
        rng = random.Random(self.seed)
        if self.finite():
            combos = self.grid()
            return rng.sample(combos, min(self.trials, len(combos)))
        found: list[dict[str, str]] = []
        for _ in range(self.trials * 100):
            if len(found) == self.trials:
                break
            combo = {p.name: p.draw(rng) for p in self.parameters}
            if self.allowed(combo) and combo not in found:
                found.append(combo)
        return found

    def in_sample_config(self, params: Mapping[str, str]) -> dict[str, Any]:
        end = self.holdout or self.config["endTime"]
        return {**self.config, "endTime": end, "environment": {**self.config.get("environment", {}), **params}}

    def out_of_sample_config(self, params: Mapping[str, str]) -> dict[str, Any]:
        assert self.holdout is not None
        return {**self.config, "startTime": self.holdout,
                "environment": {**self.config.get("environment", {}), **params}}

    def to_api(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "parameters": {p.name: p.to_api() for p in self.parameters},
            "constraints": [c.text for c in self.constraints],
            "method": self.method,
            "trials": self.trials,
            "seed": self.seed,
            "objective": self.objective,
            "direction": self.direction,
            "holdout": self.holdout,
            "holdoutTop": self.holdout_top,
        }


# -- the command line's --param and sweep files ----------------------------------------------


def parse_param_flag(text: str) -> tuple[str, str]:
    """``NAME=5,10,20`` or ``NAME=20:60:10`` -> (name, the value text); ValueError when malformed."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"--param {text!r}: write NAME=V1,V2,... or NAME=LOW:HIGH:STEP, e.g. FAST=5,10,20")
    return name.strip(), spec.strip()


# -- validation ------------------------------------------------------------------------------


def validate_sweep(obj: Any) -> tuple[SweepSpec | None, list[Problem]]:
    """Check a sweep document; (spec, []) when valid, else (None, every problem by JSON path)."""
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    if not isinstance(obj, Mapping):
        bad("", "a sweep must be a JSON object {...}")
        return None, problems
    for key in obj:
        if key not in FIELDS:
            bad(str(key), f"unknown field; sweep fields are {', '.join(FIELDS)}")
    config, config_problems = validate_config(obj.get("config"))
    problems += [Problem(f"config.{p.path}" if p.path else "config", p.message) for p in config_problems]
    parameters, parameters_ok = _parameters(obj.get("parameters"), bad)
    constraints = _constraints(obj.get("constraints", []), parameters, bad)
    method = obj.get("method", "grid")
    if method not in METHODS:
        bad("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    trials = _whole(obj.get("trials"), "trials", bad, low=1, high=MAX_TRIALS)
    seed = _whole(obj.get("seed", 0), "seed", bad, low=0, high=2**32 - 1)
    holdout_top = _whole(obj.get("holdoutTop", DEFAULT_HOLDOUT_TOP), "holdoutTop", bad, low=1, high=100)
    objective = obj.get("objective") or DEFAULT_OBJECTIVE
    if objective not in OBJECTIVES:
        bad("objective", f"must be a metric: one of {', '.join(OBJECTIVES)}; got {objective!r}")
    direction = obj.get("direction") or default_direction(str(objective))
    if direction not in DIRECTIONS:
        bad("direction", f"must be maximize or minimize, got {direction!r}")
    holdout = _holdout(obj.get("holdout"), config.to_api() if config else None, bad)
    if method in ("random", "optuna") and obj.get("trials") is None:
        bad("trials", f"required for the {method} method: how many trials to run, e.g. 20")
    if parameters is not None:
        if method == "grid":
            for p in parameters:
                if p.grid() is None:
                    bad(f"parameters.{p.name}", "a grid needs values or a range with a step, e.g. 20:60:10")
        # the parameters become environment entries: they must pass the config's rules for those
        probe = {**_PROBE_CONFIG, "environment": {p.name: "0" for p in parameters}}
        for problem in validate_config(probe)[1]:
            if problem.path.startswith("environment"):
                bad(problem.path.replace("environment", "parameters", 1), problem.message)
    if problems or config is None or parameters is None or not parameters_ok:
        return None, problems
    spec = SweepSpec(config.to_api(), tuple(parameters), tuple(constraints), str(method), trials or 0, seed or 0,
                     str(objective), str(direction), holdout, holdout_top or DEFAULT_HOLDOUT_TOP)
    try:
        if method == "grid" or (method == "random" and spec.finite()):
            count = len(spec.grid()) if method == "grid" else min(spec.trials, len(spec.grid()))
            if count == 0:
                bad("constraints", "no combination of the parameters satisfies the constraints")
            elif method == "grid" and count > MAX_TRIALS:
                bad("parameters", f"the grid has {count} combinations, more than {MAX_TRIALS}; "
                                  "use --method random or optuna with --trials")
            else:
                spec = attrs.evolve(spec, trials=count)
    except ValueError as exc:
        bad("constraints", f"cannot be checked: {exc}")
    if problems:
        return None, problems
    return spec, []


def _parameters(value: Any, bad: Callable[[str, str], None]) -> tuple[list[Parameter] | None, bool]:
    """The well-formed parameters (the rest reported), and whether all were well-formed."""
    if not isinstance(value, Mapping) or not value:
        bad("parameters", 'at least one parameter is required, e.g. {"FAST": [5, 10, 20]} or --param FAST=5,10,20')
        return None, False
    found, ok = [], True
    for name, spec in value.items():
        parameter = _parameter(str(name), spec, bad)
        ok = ok and parameter is not None
        if parameter is not None:
            found.append(parameter)
    return found, ok


def _parameter(name: str, spec: Any, bad: Callable[[str, str], None]) -> Parameter | None:
    path = f"parameters.{name}"
    if isinstance(spec, str):
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                bad(path, f"a range is LOW:HIGH or LOW:HIGH:STEP, got {spec!r}")
                return None
            spec = dict(zip(("low", "high", "step"), parts))
        else:
            spec = [v.strip() for v in spec.split(",")]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        spec = {"values": list(spec)}
    if not isinstance(spec, Mapping):
        bad(path, "must be a list of values, a range \"LOW:HIGH:STEP\", or {\"values\": [...]} / {\"low\", \"high\", \"step\"}")
        return None
    if "values" in spec:
        values = spec["values"]
        if set(spec) != {"values"}:
            bad(path, "values cannot be combined with low, high or step")
            return None
        if not isinstance(values, list) or not values:
            bad(f"{path}.values", "must be a non-empty list")
            return None
        texts = []
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (str, int, float)) or (isinstance(v, str) and not v.strip()):
                bad(f"{path}.values[{i}]", f"must be a number or a non-empty string, got {v!r}")
                return None
            number = _decimal(v) if not isinstance(v, str) else None
            texts.append(v.strip() if isinstance(v, str) else number_text(number) if number is not None else str(v))
        if len(set(texts)) != len(texts):
            bad(f"{path}.values", "lists a value twice")
            return None
        return Parameter(name, values=tuple(texts))
    unknown = set(spec) - {"low", "high", "step"}
    if unknown:
        bad(path, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; a range has low, high and step")
        return None
    bounds = {k: _decimal(spec.get(k)) for k in ("low", "high", "step")}
    ok = True
    for key in ("low", "high"):
        if bounds[key] is None:
            bad(f"{path}.{key}", f"must be a number, got {spec.get(key)!r}")
            ok = False
    if "step" in spec and (bounds["step"] is None or bounds["step"] <= 0):
        bad(f"{path}.step", f"must be a number above 0, got {spec.get('step')!r}")
        ok = False
    low, high, step = bounds["low"], bounds["high"], bounds["step"] if "step" in spec else None
    if ok and low is not None and high is not None and high < low:
        bad(path, f"high ({number_text(high)}) is below low ({number_text(low)})")
        ok = False
    if ok and step is not None and low is not None and high is not None and (high - low) / step >= MAX_TRIALS:
        bad(f"{path}.step", f"makes more than {MAX_TRIALS} values")
        ok = False
    return Parameter(name, low=low, high=high, step=step) if ok else None


def _constraints(value: Any, parameters: list[Parameter] | None, bad: Callable[[str, str], None]) -> list[Constraint]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        bad("constraints", 'must be a list of comparisons, e.g. ["FAST < SLOW"]')
        return []
    names = {p.name: p for p in parameters or ()}
    found = []
    for i, text in enumerate(value):
        match = CONSTRAINT_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            bad(f"constraints[{i}]", f"{text!r} is not a comparison such as \"FAST < SLOW\" (<, <=, >, >=, ==, !=)")
            continue
        constraint = Constraint(match[1], match[2], match[3])
        missing = [n for n in constraint.names() if n not in names]
        if parameters is not None and missing:
            bad(f"constraints[{i}]", f"names no parameter: {', '.join(missing)}")
            continue
        non_numeric = [n for n in constraint.names() if n in names
                       and any(_decimal(v) is None for v in names[n].values or ())]
        if non_numeric:
            bad(f"constraints[{i}]", f"compares numbers, but {', '.join(non_numeric)} has values that are not numbers")
            continue
        found.append(constraint)
    return found


def _whole(value: Any, path: str, bad: Callable[[str, str], None], *, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad(path, f"must be a whole number from {low} to {high}, got {value!r}")
        return None
    return value


def _holdout(value: Any, config: Mapping[str, Any] | None, bad: Callable[[str, str], None]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        bad("holdout", f"must be an RFC 3339 time such as \"2024-03-01T00:00:00Z\", got {value!r}")
        return None
    when, why = parse_time(value)
    if when is None:
        bad("holdout", why or "not a time")
        return None
    if config is not None:
        start, _ = parse_time(config["startTime"])
        end, _ = parse_time(config["endTime"])
        if start is not None and end is not None and not start < when < end:
            bad("holdout", f"must lie inside the window {config['startTime']} .. {config['endTime']}")
            return None
    return format_time(when)


def rank_trials(trials: Sequence[Mapping[str, Any]], direction: str) -> list[Mapping[str, Any]]:
    """Trials with an objective value, best first (ties: the earlier trial first)."""
    scored = [t for t in trials if isinstance(t.get("objective"), (int, float))]
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(scored, key=lambda t: (sign * float(t["objective"]), t["trial"]))

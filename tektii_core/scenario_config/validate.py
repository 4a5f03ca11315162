"""The one validator of a scenario config: the CLI checks a file before any request, the
platform checks the body again (the API never trusts a client), the engine checks the config it
runs. Every problem is reported at once, each with its JSON path in the file's own camelCase
names, e.g. ``subscriptions[2].events[0]: unknown event ...``. The rules are documented in
docs/scenario-config.md; tektii_core.scenario_config.schema states them as a JSON Schema.

Standard library and attrs only: the CLI imports this at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tektii_core.errors import TektiiError
from tektii_core.market_model import spread_problems
from tektii_core.scenario_config.explain import (
    describe,
    describe_type,
    did_you_mean,
    is_number_text,
    join,
    normalise,
    num,
    symbol_guess,
)
from tektii_core.scenario_config.model import (
    ACK_POLICIES,
    ENV_NAME_RE,
    EVENTS,
    FIELDS,
    JSON_NAMES,
    LOCAL_VERSION_ID,
    MARKETS,
    MAX_ENV_VALUE_CHARS,
    MAX_ENV_VARIABLES,
    MAX_RETRIES,
    MAX_SUBSCRIPTIONS,
    NUMBERS,
    POSITION_MODES,
    REQUIRED_FIELDS,
    SUBSCRIPTION_FIELDS,
    SYMBOL_FORMS,
    SYMBOL_RE,
    VERSION_ID_RE,
    Problem,
    ScenarioConfig,
    Subscription,
    protected_env_problem,
)
from tektii_core.timeutil import EXAMPLE_TIME, format_time, parse_time

_REQUIRED_HELP = {
    "strategyVersionId": 'the version to run, e.g. "ver_xyz789" from `tektii version upload`',
    "subscriptions": 'e.g. [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}]',
    "startTime": f'the window start, e.g. "{EXAMPLE_TIME}"',
    "endTime": 'the window end (exclusive), e.g. "2024-04-01T00:00:00Z"',
}
_EXAMPLE_SUBSCRIPTION = '{"instrument": "C:BTCUSD", "events": ["candle_1m"]}'


def validate_config(obj: Any) -> tuple[ScenarioConfig | None, list[Problem]]:
    """Check a parsed config against every rule; returns (config, []) when it is valid,
    else (None, every problem). Never raises on any input."""
    return _Validator().run(obj)


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def run(self, obj: Any) -> tuple[ScenarioConfig | None, list[Problem]]:
        if not isinstance(obj, Mapping):
            self.bad(
                "",
                f"a scenario config must be a JSON object {{...}}, got {describe_type(obj)}",
            )
            return None, self.problems
        misspelt = self.unknown_fields(obj, FIELDS, "", "field")
        for name in REQUIRED_FIELDS:
            # A misspelling of a required field was reported already, with its fix.
            if name not in obj and name not in misspelt:
                self.bad(name, f"required field is missing; {_REQUIRED_HELP[name]}")
        values: dict[str, Any] = {
            "strategy_version_id": self.version_id(obj),
            "subscriptions": self.subscriptions(obj),
            "start_time": self.timestamp(obj, "startTime"),
            "end_time": self.timestamp(obj, "endTime"),
        }
        start, end = values["start_time"], values["end_time"]
        if start is not None and end is not None and end <= start:
            self.bad(
                "endTime",
                f"must be after startTime ({format_time(start)}); the window end is exclusive, got {format_time(end)}",
            )
        for name, field in (
            ("initialCapital", "initial_capital"),
            ("commissionBps", "commission_bps"),
            ("slippageBps", "slippage_bps"),
            ("forexLeverage", "forex_leverage"),
            ("riskFreeRate", "risk_free_rate"),
            ("startupTimeoutSeconds", "startup_timeout_s"),
            ("eventTimeoutSeconds", "event_timeout_s"),
        ):
            if name in obj:
                values[field] = self.number(obj[name], name)
        if "spreadBps" in obj:
            subs = values["subscriptions"]
            every = subs is not None and len(subs) == len(obj["subscriptions"])  # else the keys are not checked
            values["spread_bps"] = self.spread_bps(obj["spreadBps"], subs if every else None)
        if "positionMode" in obj:
            values["position_mode"] = self.position_mode(obj["positionMode"])
        if "ackPolicy" in obj:
            values["ack_policy"] = self.ack_policy(obj["ackPolicy"])
        if "environment" in obj:
            values["environment"] = self.environment(obj["environment"])
        if "retries" in obj:
            values["retries"] = self.retries(obj["retries"])
        if self.problems:
            return None, self.problems
        return ScenarioConfig(**values), []

    def unknown_fields(self, obj: Mapping[Any, Any], known: Sequence[str], prefix: str, noun: str) -> set[str]:
        """Report fields not in ``known``; returns the known names they were taken for."""
        guesses: set[str] = set()
        for key in obj:
            if key in known:
                continue
            path = join(prefix, key) if isinstance(key, str) else prefix
            guess = did_you_mean(str(key), known)
            where = " of a subscription" if noun == "subscription field" else ""
            if guess:
                guesses.add(guess)
                self.bad(path, f'unknown field "{key}"{where} (did you mean "{guess}"?)')
            else:
                self.bad(path, f'unknown field "{key}"{where}; valid: {", ".join(known)}')
        return guesses

    def version_id(self, obj: Mapping[str, Any]) -> str | None:
        if "strategyVersionId" not in obj:
            return None
        value = obj["strategyVersionId"]
        path = "strategyVersionId"
        if not isinstance(value, str):
            self.bad(
                path,
                f'must be a version ID string such as "ver_xyz789", got {describe(value)}',
            )
            return None
        if VERSION_ID_RE.fullmatch(value):
            return value
        stripped = value.strip()
        if VERSION_ID_RE.fullmatch(stripped):
            self.bad(path, f'has spaces around the ID; write "{stripped}"')
        elif stripped.startswith("strat_"):
            self.bad(
                path,
                f'"{value}" is a strategy ID; use a version ID (ver_...) from '
                "`tektii version upload` or `tektii version list STRATEGY_ID`",
            )
        else:
            self.bad(
                path,
                f'must be a version ID such as "ver_xyz789" (ver_ then letters and digits), got "{value}"',
            )
        return None

    def subscriptions(self, obj: Mapping[str, Any]) -> tuple[Subscription, ...] | None:
        if "subscriptions" not in obj:
            return None
        value = obj["subscriptions"]
        path = "subscriptions"
        if isinstance(value, Mapping) and "instrument" in value:
            self.bad(path, "must be an array of subscriptions: wrap the object in [ ]")
            return None
        if not isinstance(value, list):
            self.bad(path, f"must be an array of subscriptions, got {describe(value)}")
            return None
        if not value:
            self.bad(path, f"needs at least 1 subscription, e.g. {_EXAMPLE_SUBSCRIPTION}")
            return None
        if len(value) > MAX_SUBSCRIPTIONS:
            self.bad(
                path,
                f"has {len(value)} subscriptions; at most {MAX_SUBSCRIPTIONS} are allowed",
            )
        parsed: list[Subscription] = []
        first_index: dict[str, int] = {}
        for i, item in enumerate(value):
            sub = self.subscription(item, f"subscriptions[{i}]")
            if sub is None:
                continue
            if sub.instrument in first_index:
                self.bad(
                    f"subscriptions[{i}].instrument",
                    f'duplicate instrument "{sub.instrument}" (already in '
                    f"subscriptions[{first_index[sub.instrument]}]); list all its events in one "
                    "subscription",
                )
            else:
                first_index[sub.instrument] = i
            parsed.append(sub)
        if parsed and len(parsed) == len(value) and not any(s.timeframes for s in parsed):
            self.bad(
                path,
                "no subscription asks for candles; the backtest replays candle data, so "
                'subscribe to at least one candle_<timeframe> event (e.g. "candle_1m")',
            )
        return tuple(parsed)

    def subscription(self, item: Any, path: str) -> Subscription | None:
        if not isinstance(item, Mapping):
            self.bad(
                path,
                f"must be an object {_EXAMPLE_SUBSCRIPTION}, got {describe(item)}",
            )
            return None
        misspelt = self.unknown_fields(item, SUBSCRIPTION_FIELDS, path, "subscription field")
        instrument = events = None
        if "instrument" not in item:
            if "instrument" not in misspelt:
                self.bad(
                    f"{path}.instrument",
                    'required field is missing; a platform symbol such as "C:BTCUSD"',
                )
        else:
            instrument = self.instrument(item["instrument"], f"{path}.instrument")
        if "events" not in item:
            if "events" not in misspelt:
                self.bad(f"{path}.events", 'required field is missing; e.g. ["candle_1m"]')
        else:
            events = self.events(item["events"], f"{path}.events")
        if instrument is None or events is None:
            return None
        return Subscription(instrument, events)

    def instrument(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.bad(
                path,
                f'must be a platform symbol string such as "C:BTCUSD", got {describe(value)}',
            )
            return None
        if SYMBOL_RE.fullmatch(value):
            return value
        prefix, sep, _ = value.partition(":")
        guess = symbol_guess(value)
        if guess and guess == value.strip().upper():
            self.bad(
                path,
                f'"{value}" is not a platform symbol: symbols are upper case without spaces (did you mean "{guess}"?)',
            )
        elif sep and prefix.strip().upper() not in MARKETS:
            markets = ", ".join(f"{k}: {v}" for k, v in MARKETS.items())
            self.bad(path, f'unknown market prefix "{prefix}" in "{value}"; use {markets}')
        elif guess:
            self.bad(path, f'"{value}" is not a platform symbol (did you mean "{guess}"?)')
        elif not sep:
            self.bad(path, f'"{value}" has no market prefix; use {SYMBOL_FORMS}')
        else:
            self.bad(path, f'"{value}" is not a platform symbol; use {SYMBOL_FORMS}')
        return None

    def events(self, value: Any, path: str) -> tuple[str, ...] | None:
        if isinstance(value, str) and value in EVENTS:
            self.bad(path, f'must be an array of event names: write ["{value}"]')
            return None
        if not isinstance(value, list):
            self.bad(
                path,
                f'must be an array of event names such as ["candle_1m"], got {describe(value)}',
            )
            return None
        if not value:
            self.bad(path, 'needs at least one event, e.g. ["candle_1m"]')
            return None
        ok = True
        first_index: dict[str, int] = {}
        for j, event in enumerate(value):
            item = f"{path}[{j}]"
            if not isinstance(event, str):
                self.bad(
                    item,
                    f'must be an event name such as "candle_1m", got {describe(event)}',
                )
                ok = False
            elif event not in EVENTS:
                # Any candle_<x> is close to every candle event: only suggest a case or
                # separator slip there (candle_1H), never a different timeframe.
                guess = (
                    did_you_mean(event, EVENTS)
                    if not normalise(event).startswith("candle")
                    else {normalise(e): e for e in EVENTS}.get(normalise(event))
                )
                hint = f' (did you mean "{guess}"?)' if guess else ""
                self.bad(item, f'unknown event "{event}"{hint}; valid: {", ".join(EVENTS)}')
                ok = False
            elif event in first_index:
                self.bad(
                    item,
                    f'duplicate event "{event}" (already at {path}[{first_index[event]}])',
                )
                ok = False
            else:
                first_index[event] = j
        return tuple(value) if ok else None

    def timestamp(self, obj: Mapping[str, Any], name: str) -> datetime | None:
        if name not in obj:
            return None
        value = obj[name]
        if not isinstance(value, str):
            self.bad(
                name,
                f'must be an RFC 3339 timestamp string such as "{EXAMPLE_TIME}", got {describe(value)}',
            )
            return None
        parsed, problem = parse_time(value)
        if problem:
            self.bad(name, problem)
        return parsed

    def number(self, value: Any, name: str) -> float | None:
        low, high, default, exclusive = NUMBERS[name]
        span = f"more than {num(low)} and at most {num(high)}" if exclusive else f"between {num(low)} and {num(high)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            extra = ""
            if isinstance(value, str) and is_number_text(value):
                extra = f"; write {value.strip()} without quotes"
            elif value is None:
                extra = f"; leave the field out to use the default {num(default)}"
            self.bad(name, f"must be a number {span}, got {describe(value)}{extra}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.bad(name, f"must be a finite number {span}")
            return None
        too_low = value <= low if exclusive else value < low
        if too_low or value > high:
            extra = ""
            if name == "riskFreeRate" and 1 < value <= 100:
                extra = f"; it is an annual fraction: write {num(value / 100)} for {num(value)} %"
            self.bad(name, f"must be {span}, got {num(value)}{extra}")
            return None
        return value

    def spread_bps(self, value: Any, subscriptions: tuple[Subscription, ...] | None) -> Any:
        instruments = None if subscriptions is None else [s.instrument for s in subscriptions]
        problems = spread_problems(value, instruments)
        for path, message in problems:
            self.bad(path, message)
        if problems:
            return None
        return dict(value) if isinstance(value, Mapping) else value

    def position_mode(self, value: Any) -> str | None:
        if isinstance(value, str) and value in POSITION_MODES:
            return value
        options = " or ".join(f'"{m}"' for m in POSITION_MODES)
        if isinstance(value, str):
            guess = did_you_mean(value, POSITION_MODES)
            hint = f' (did you mean "{guess}"?)' if guess else ""
            self.bad("positionMode", f'unknown position mode "{value}"{hint}; use {options}')
        else:
            self.bad("positionMode", f"must be {options}, got {describe(value)}")
        return None

    def ack_policy(self, value: Any) -> str | None:
        if isinstance(value, str) and value in ACK_POLICIES:
            return value
        options = " or ".join(f'"{p}"' for p in ACK_POLICIES)
        guess = did_you_mean(value, ACK_POLICIES) if isinstance(value, str) else None
        hint = f' (did you mean "{guess}"?)' if guess else ""
        self.bad("ackPolicy", f"must be {options}, got {describe(value)}{hint}")
        return None

    def retries(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
            self.bad("retries", f"must be a whole number from 0 to {MAX_RETRIES} (how often a run whose node was lost"
                                f" starts again), got {describe(value)}")
            return None
        return value

    def environment(self, value: Any) -> dict[str, str] | None:
        if not isinstance(value, Mapping):
            self.bad(
                "environment",
                f'must be an object of variable names to string values, e.g. {{"FAST_PERIOD": "10"}}, got {describe(value)}',
            )
            return None
        ok = True
        if len(value) > MAX_ENV_VARIABLES:
            self.bad("environment", f"has {len(value)} variables; at most {MAX_ENV_VARIABLES} are allowed")
            ok = False
        for key, item in value.items():
            path = join("environment", key) if isinstance(key, str) else "environment"
            protected = protected_env_problem(key) if isinstance(key, str) else None
            if protected is not None:
                self.bad(path, protected)
                ok = False
            elif not isinstance(key, str) or not ENV_NAME_RE.fullmatch(key):
                self.bad(
                    path,
                    f'"{key}" is not a valid environment variable name (upper-case letters, digits and _,'
                    " not starting with a digit)",
                )
                ok = False
            if not isinstance(item, str):
                extra = ""
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    extra = f'; write "{num(item)}"'
                elif isinstance(item, bool):
                    extra = f'; write "{str(item).lower()}"'
                self.bad(
                    path,
                    f"must be a string (environment variables are text), got {describe(item)}{extra}",
                )
                ok = False
            elif "\x00" in item:
                self.bad(path, "must not contain a NUL character")
                ok = False
            elif len(item) > MAX_ENV_VALUE_CHARS:
                self.bad(path, f"is {len(item)} characters long; at most {MAX_ENV_VALUE_CHARS} are allowed")
                ok = False
        return dict(value) if ok else None


# -- for Python callers: the engine, its tests and benchmarks ----------------------------------


def config_from_json(obj: Any) -> ScenarioConfig:
    """The config a run was given (camelCase JSON as the platform stores it), validated; a
    config run without the platform may leave out strategyVersionId. Raises TektiiError with
    every problem."""
    if isinstance(obj, Mapping) and "strategyVersionId" not in obj:
        obj = {"strategyVersionId": LOCAL_VERSION_ID, **obj}
    config, problems = validate_config(obj)
    if config is None:
        raise TektiiError(
            "Invalid backtest config: " + "; ".join(map(str, problems)),
            hint="see docs/scenario-config.md for every field and rule",
        )
    return config


def build_config(
    subscriptions: Iterable[Subscription | tuple[str, Sequence[str]]],
    start: float | datetime | str,
    end: float | datetime | str,
    **fields: Any,
) -> ScenarioConfig:
    """A config from Python values, validated as a file is: subscriptions as Subscription or
    (instrument, events) pairs, the window as Unix seconds, aware datetimes or RFC 3339 text,
    the other fields by their attribute names (None: the default). Raises TektiiError."""
    unknown = sorted(set(fields) - set(JSON_NAMES))
    if unknown:
        raise TypeError(f"unknown scenario config fields: {', '.join(unknown)}")
    obj: dict[str, Any] = {
        "subscriptions": [
            {"instrument": s.instrument, "events": list(s.events)} if isinstance(s, Subscription)
            else {"instrument": s[0], "events": list(s[1])}
            for s in subscriptions
        ],
        "startTime": start if isinstance(start, str) else format_time(start),
        "endTime": end if isinstance(end, str) else format_time(end),
    }
    for name, value in fields.items():
        if value is not None:
            obj[JSON_NAMES[name]] = dict(value) if isinstance(value, Mapping) else value
    return config_from_json(obj)

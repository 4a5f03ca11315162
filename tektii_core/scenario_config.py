"""The scenario config file of ``tektii scenario create --config FILE``: parse, validate, explain.

The CLI validates before any request (a typo costs no round trip) and the platform validates
the same body again, then checks it against its market data with
``check_against_instruments``. Every problem is reported at once, each with its JSON path in
the file's own camelCase names, e.g. ``subscriptions[2].events[0]: unknown event ...``.
The rules are documented in docs/scenario-config.md; ``config_json_schema()`` states them as
a JSON Schema (docs/scenario-config.schema.json is its output).

Standard library and attrs only: the CLI imports this at start-up.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from tektii_core import strict_json
from tektii_core.errors import TektiiError
from tektii_core.market_model import DEFAULT_SPREAD_BPS, MAX_SPREAD_BPS, resolve_spreads, spread_problems

TIMEFRAMES = ("1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "12h", "1d", "1w")  # fmt: skip
CANDLE_EVENTS = tuple(f"candle_{tf}" for tf in TIMEFRAMES)
LIFECYCLE_EVENTS = ("order_update", "position_update", "account_update", "trade_update")
EVENTS = CANDLE_EVENTS + LIFECYCLE_EVENTS
POSITION_MODES = ("netting", "hedging")
MAX_SUBSCRIPTIONS = 50
MARKETS = {"C": "crypto", "F": "forex", "S": "stocks and indices"}

# Numeric fields: (minimum, maximum, default, minimum is exclusive).
NUMBERS: dict[str, tuple[float, float, float, bool]] = {
    "initialCapital": (1, 100_000_000, 100_000, False),
    "commissionBps": (0, 10_000, 0, False),
    "slippageBps": (0, 10_000, 0, False),
    "forexLeverage": (1, 1_000, 30, False),
    "riskFreeRate": (-1, 1, 0, True),
    "startupTimeoutSeconds": (1, 3600, 120, False),
    "eventTimeoutSeconds": (1, 3600, 60, False),  # 5 under ackPolicy "continue"
}
DEFAULT_POSITION_MODE = "netting"
ACK_POLICIES = ("wait", "continue")
DEFAULT_ACK_POLICY = "wait"
CONTINUE_EVENT_TIMEOUT = 5
MAX_RETRIES = 1  # starts again after the run's node was lost (never after a failure of its own)

REQUIRED_FIELDS = ("strategyVersionId", "subscriptions", "startTime", "endTime")
OPTIONAL_FIELDS = (
    ("initialCapital", "positionMode")
    + tuple(k for k in NUMBERS if k != "initialCapital")
    + ("spreadBps", "ackPolicy", "environment", "retries")
)
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
SUBSCRIPTION_FIELDS = ("instrument", "events")

# Mirrors tektii_engine.data.symbols (the core must not import the engine).
_SYMBOL_PATTERNS = {
    "C": r"[A-Z0-9]{2,20}",
    "F": r"[A-Z]{6}",
    "S": r"[A-Z0-9^][A-Z0-9.\-^]{0,15}",
}
SYMBOL_RE = re.compile("|".join(f"{p}:{c}" for p, c in _SYMBOL_PATTERNS.items()))
SYMBOL_FORMS = (
    "C:<BASE><QUOTE> for crypto (C:BTCUSD), F:<BASE><QUOTE> for forex (F:EURUSD), S:<TICKER> for stocks and indices (S:SPX)"
)
VERSION_ID_RE = re.compile(r"ver_[A-Za-z0-9]{1,64}")
TIMESTAMP_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})")
# The same shape with field ranges, for the JSON Schema (where no code can explain a miss);
# only impossible days of a month (2024-02-30) get past it.
_SCHEMA_TIMESTAMP = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_NO_ZONE_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_DATE_ONLY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
MAX_ENV_VARIABLES = 100
MAX_ENV_VALUE_CHARS = 4096
RESERVED_ENV_PREFIX = "TEKTII_"
# Set by the engine for every strategy (the older gateway variable names).
RESERVED_ENV_NAMES = ("TRADING_GATEWAY_URL", "TRADING_GATEWAY_API_KEY")


@attrs.frozen
class EnvRule:
    """Environment names a strategy's config may not set (compared in upper case), and the
    problem reported for one (``{name}`` is replaced by it)."""

    message: str
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        upper = name.upper()
        return upper in self.names or upper.startswith(self.prefixes) or upper.endswith(self.suffixes)


_NOT_A_PARAMETER = "; a strategy's environment is for its own parameters only"
# The config's environment carries strategy parameters. Names that change how a process, the
# dynamic loader, a shell or an interpreter behaves are refused: under the process runtime they
# would run code on the host (BROWSER + PYTHONWARNINGS=...:antigravity... runs a shell command).
# The one definition: the CLI and the platform both validate with it, the JSON Schema states it.
PROTECTED_ENV = (
    EnvRule(f'"{{name}}": names starting with {RESERVED_ENV_PREFIX} are reserved for the platform',
            prefixes=(RESERVED_ENV_PREFIX,)),
    EnvRule('"{name}" is set by the platform for every strategy and cannot be overridden', names=RESERVED_ENV_NAMES),
    EnvRule(
        '"{name}" configures the dynamic loader or the C library' + _NOT_A_PARAMETER,
        names=("GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "TZDIR"),
        prefixes=("LD_", "DYLD_", "MALLOC_"),
    ),
    EnvRule(
        '"{name}" configures a shell or how programs are found and started' + _NOT_A_PARAMETER,
        names=("PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "IFS", "CDPATH", "PS4",
               "PROMPT_COMMAND", "BROWSER", "EDITOR", "VISUAL", "PAGER", "MANPAGER", "TERMINFO", "TMPDIR", "USER",
               "LOGNAME"),
        prefixes=("BASH_FUNC_",),
    ),
    EnvRule(
        '"{name}" configures an interpreter' + _NOT_A_PARAMETER,
        names=("PERLLIB", "PERLIO", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
               "GEM_HOME", "GEM_PATH", "LUA_PATH", "LUA_CPATH", "TCLLIBPATH"),
        prefixes=("PYTHON", "PERL5", "RUBY"),
    ),
    EnvRule(
        '"{name}" routes or trusts network traffic (a proxy or a certificate bundle)' + _NOT_A_PARAMETER,
        names=("NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        suffixes=("_PROXY",),
    ),
)


def protected_env_problem(name: str) -> str | None:
    """Why a config may not set environment variable `name`, or None when it may."""
    for rule in PROTECTED_ENV:
        if rule.matches(name):
            return rule.message.format(name=name)
    return None
EXAMPLE_TIME = "2024-01-01T00:00:00Z"


@attrs.frozen
class Problem:
    """One thing wrong with a config: where (a JSON path such as ``subscriptions[0].events``,
    empty for the whole document) and what, in words a user can act on."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_api(self) -> dict[str, str | None]:
        """One entry of an API error's ``details`` (field None: the body as a whole)."""
        return {"field": self.path or None, "message": self.message}


class ConfigError(TektiiError):
    """A config file that cannot be used: unreadable, malformed JSON, or invalid."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        line: int | None = None,
        column: int | None = None,
        problems: Sequence[Problem] = (),
    ):
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column
        self.problems = list(problems)


@attrs.frozen
class Subscription:
    instrument: str  # platform symbol, e.g. "C:BTCUSD"
    events: tuple[str, ...]

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The candle timeframes subscribed to, e.g. ("1m", "1h")."""
        return tuple(e.removeprefix("candle_") for e in self.events if e in CANDLE_EVENTS)


@attrs.frozen
class ScenarioConfig:
    """A valid scenario config, defaults filled in; times are aware datetimes in UTC."""

    strategy_version_id: str
    subscriptions: tuple[Subscription, ...]
    start_time: datetime
    end_time: datetime
    initial_capital: float = NUMBERS["initialCapital"][2]
    position_mode: str = DEFAULT_POSITION_MODE
    commission_bps: float = NUMBERS["commissionBps"][2]
    slippage_bps: float = NUMBERS["slippageBps"][2]
    forex_leverage: float = NUMBERS["forexLeverage"][2]
    # Given as bps for every instrument or instrument -> bps, None (and instruments left out)
    # for the asset class's default (tektii_core.market_model); kept as instrument -> bps of
    # every subscribed instrument, so what ran stays what the config says.
    spread_bps: float | Mapping[str, float] | None = None
    risk_free_rate: float = NUMBERS["riskFreeRate"][2]
    startup_timeout_s: float = NUMBERS["startupTimeoutSeconds"][2]
    event_timeout_s: float = NUMBERS["eventTimeoutSeconds"][2]  # 5 s by default under "continue"
    ack_policy: str = DEFAULT_ACK_POLICY
    environment: Mapping[str, str] = attrs.field(factory=dict)
    retries: int = 0

    def __attrs_post_init__(self) -> None:
        spreads = resolve_spreads(self.spread_bps, (s.instrument for s in self.subscriptions))
        object.__setattr__(self, "spread_bps", spreads)

    def to_api(self) -> dict[str, Any]:
        """The camelCase JSON object, every optional field present with its value."""
        return {
            "strategyVersionId": self.strategy_version_id,
            "subscriptions": [{"instrument": s.instrument, "events": list(s.events)} for s in self.subscriptions],
            "startTime": format_time(self.start_time),
            "endTime": format_time(self.end_time),
            "initialCapital": self.initial_capital,
            "positionMode": self.position_mode,
            "commissionBps": self.commission_bps,
            "slippageBps": self.slippage_bps,
            "forexLeverage": self.forex_leverage,
            "spreadBps": dict(self.spread_bps),  # type: ignore[arg-type]
            "riskFreeRate": self.risk_free_rate,
            "startupTimeoutSeconds": self.startup_timeout_s,
            "eventTimeoutSeconds": self.event_timeout_s,
            "ackPolicy": self.ack_policy,
            "environment": dict(self.environment),
            "retries": self.retries,
        }


# -- reading ----------------------------------------------------------------------------


def parse_config_text(text: str, *, source: str = "FILE") -> dict[str, Any]:
    """Parse JSON text; malformed JSON raises ConfigError naming ``source``, line and column.

    Stricter than ``json.loads``: NaN/Infinity and a key repeated in one object are errors
    (JSON parsers disagree on which duplicate wins).
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ConfigError(
            f"{source} is empty",
            hint='write a JSON object such as {"strategyVersionId": "ver_...", ...}',
        )
    try:
        data = strict_json.loads(text)
    except strict_json.JsonError as exc:
        if exc.decode_error is not None:
            reason, hint = _explain_json_error(exc.decode_error, text)
            raise ConfigError(
                f"{source}: invalid JSON at line {exc.line}, column {exc.column}: {reason}",
                hint=hint,
                line=exc.line,
                column=exc.column,
            ) from None
        if exc.kind == "constant":
            raise ConfigError(
                f"{source}: invalid JSON at line {exc.line}, column {exc.column}: {exc.token} is not a JSON value",
                hint="write a number, or leave the field out to use its default",
                line=exc.line,
                column=exc.column,
            ) from None
        if exc.kind == "duplicate":
            raise ConfigError(
                f"{source}: invalid JSON: {exc.message}",
                hint="keep one of them (JSON readers disagree on which one wins)",
            ) from None
        raise ConfigError(f"{source}: invalid JSON: {exc.message}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario config must be a JSON object {{...}}, got {_describe_type(data)}")
    return data


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read and parse a config file; every failure is a ConfigError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}); JSON files must be UTF-8") from None
    return parse_config_text(text, source=str(p))


def load_scenario_config(path: str | Path) -> ScenarioConfig:
    """Read, parse and validate a config file, or raise ConfigError listing every problem."""
    config, problems = validate_config(read_config_file(path))
    if config is None:
        raise invalid_config_error(problems, source=str(path))
    return config


def invalid_config_error(problems: Sequence[Problem], *, source: str = "FILE") -> ConfigError:
    """The ConfigError for a config with problems: all of them, one per line."""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return ConfigError(
        f"{source} is not a valid scenario config ({count}):\n" + format_problems(problems, indent="  "),
        hint="see docs/scenario-config.md for every field and rule",
        problems=problems,
    )


def format_problems(problems: Iterable[Problem], *, indent: str = "") -> str:
    """One ``path: message`` line per problem, in the order found."""
    return "\n".join(f"{indent}{p}" for p in problems)


# -- validation -------------------------------------------------------------------------


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
                f"a scenario config must be a JSON object {{...}}, got {_describe_type(obj)}",
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
            if values["ack_policy"] == "continue" and "eventTimeoutSeconds" not in obj:
                values["event_timeout_s"] = CONTINUE_EVENT_TIMEOUT
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
            path = _join(prefix, key) if isinstance(key, str) else prefix
            guess = _did_you_mean(str(key), known)
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
                f'must be a version ID string such as "ver_xyz789", got {_describe(value)}',
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
            self.bad(path, f"must be an array of subscriptions, got {_describe(value)}")
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
                f"must be an object {_EXAMPLE_SUBSCRIPTION}, got {_describe(item)}",
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
                f'must be a platform symbol string such as "C:BTCUSD", got {_describe(value)}',
            )
            return None
        if SYMBOL_RE.fullmatch(value):
            return value
        prefix, sep, _ = value.partition(":")
        guess = _symbol_guess(value)
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
                f'must be an array of event names such as ["candle_1m"], got {_describe(value)}',
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
                    f'must be an event name such as "candle_1m", got {_describe(event)}',
                )
                ok = False
            elif event not in EVENTS:
                # Any candle_<x> is close to every candle event: only suggest a case or
                # separator slip there (candle_1H), never a different timeframe.
                guess = (
                    _did_you_mean(event, EVENTS)
                    if not _normalise(event).startswith("candle")
                    else {_normalise(e): e for e in EVENTS}.get(_normalise(event))
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
                f'must be an RFC 3339 timestamp string such as "{EXAMPLE_TIME}", got {_describe(value)}',
            )
            return None
        parsed, problem = parse_time(value)
        if problem:
            self.bad(name, problem)
        return parsed

    def number(self, value: Any, name: str) -> float | None:
        low, high, default, exclusive = NUMBERS[name]
        span = f"more than {_num(low)} and at most {_num(high)}" if exclusive else f"between {_num(low)} and {_num(high)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            extra = ""
            if isinstance(value, str) and _is_number_text(value):
                extra = f"; write {value.strip()} without quotes"
            elif value is None:
                extra = f"; leave the field out to use the default {_num(default)}"
            self.bad(name, f"must be a number {span}, got {_describe(value)}{extra}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.bad(name, f"must be a finite number {span}")
            return None
        too_low = value <= low if exclusive else value < low
        if too_low or value > high:
            extra = ""
            if name == "riskFreeRate" and 1 < value <= 100:
                extra = f"; it is an annual fraction: write {_num(value / 100)} for {_num(value)} %"
            self.bad(name, f"must be {span}, got {_num(value)}{extra}")
            return None
        return value

    def retries(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
            self.bad("retries", f"must be a whole number from 0 to {MAX_RETRIES} (how often a run whose node was lost"
                                f" starts again), got {_describe(value)}")
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
            guess = _did_you_mean(value, POSITION_MODES)
            hint = f' (did you mean "{guess}"?)' if guess else ""
            self.bad("positionMode", f'unknown position mode "{value}"{hint}; use {options}')
        else:
            self.bad("positionMode", f"must be {options}, got {_describe(value)}")
        return None

    def ack_policy(self, value: Any) -> str | None:
        if isinstance(value, str) and value in ACK_POLICIES:
            return value
        options = " or ".join(f'"{p}"' for p in ACK_POLICIES)
        guess = _did_you_mean(value, ACK_POLICIES) if isinstance(value, str) else None
        hint = f' (did you mean "{guess}"?)' if guess else ""
        self.bad("ackPolicy", f"must be {options}, got {_describe(value)}{hint}")
        return None

    def environment(self, value: Any) -> dict[str, str] | None:
        if not isinstance(value, Mapping):
            self.bad(
                "environment",
                f'must be an object of variable names to string values, e.g. {{"FAST_PERIOD": "10"}}, got {_describe(value)}',
            )
            return None
        ok = True
        if len(value) > MAX_ENV_VARIABLES:
            self.bad("environment", f"has {len(value)} variables; at most {MAX_ENV_VARIABLES} are allowed")
            ok = False
        for key, item in value.items():
            path = _join("environment", key) if isinstance(key, str) else "environment"
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
                    extra = f'; write "{_num(item)}"'
                elif isinstance(item, bool):
                    extra = f'; write "{str(item).lower()}"'
                self.bad(
                    path,
                    f"must be a string (environment variables are text), got {_describe(item)}{extra}",
                )
                ok = False
            elif "\x00" in item:
                self.bad(path, "must not contain a NUL character")
                ok = False
            elif len(item) > MAX_ENV_VALUE_CHARS:
                self.bad(path, f"is {len(item)} characters long; at most {MAX_ENV_VALUE_CHARS} are allowed")
                ok = False
        return dict(value) if ok else None


# -- checks against the platform's market data ------------------------------------------


def check_against_instruments(config: ScenarioConfig, instruments: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Problems a valid config has with the platform's data: an instrument it has no data
    for, a window outside an instrument's data range, a candle timeframe it cannot serve.

    ``instruments`` maps each symbol to the object of ``GET /v1/instruments``: ``dataStart``
    and ``dataEnd`` (RFC 3339 strings, epoch seconds or aware datetimes; the data covers
    [dataStart, dataEnd)) and ``granularities`` (timeframes such as "1m", or "candle_1m").
    """
    problems: list[Problem] = []
    known = sorted(instruments)
    for i, sub in enumerate(config.subscriptions):
        info = instruments.get(sub.instrument)
        if info is None:
            guess = _did_you_mean(sub.instrument, known)
            hint = f' (did you mean "{guess}"?)' if guess else ""
            shown = ", ".join(known[:10]) + (f", ... ({len(known) - 10} more)" if len(known) > 10 else "")
            listing = f"; available: {shown}" if known else "; the platform has no market data yet"
            problems.append(
                Problem(
                    f"subscriptions[{i}].instrument",
                    f'no market data for "{sub.instrument}" on this platform{hint}{listing}',
                )
            )
            continue
        data_start, data_end = (
            _as_time(info.get("dataStart")),
            _as_time(info.get("dataEnd")),
        )
        if data_start is not None and config.start_time < data_start:
            problems.append(
                Problem(
                    "startTime",
                    f"{format_time(config.start_time)} is before the {sub.instrument} data starts ({format_time(data_start)})",
                )
            )
        if data_end is not None and config.end_time > data_end:
            problems.append(
                Problem(
                    "endTime",
                    f"{format_time(config.end_time)} is after the {sub.instrument} data ends "
                    f"({format_time(data_end)}, exclusive); the latest possible endTime is "
                    f"{format_time(data_end)}",
                )
            )
        available = [g.removeprefix("candle_") for g in info.get("granularities") or () if isinstance(g, str)]
        for j, event in enumerate(sub.events):
            tf = event.removeprefix("candle_")
            if event in CANDLE_EVENTS and tf not in available:
                offer = ", ".join(f"candle_{g}" for g in TIMEFRAMES if g in available) or "none"
                problems.append(
                    Problem(
                        f"subscriptions[{i}].events[{j}]",
                        f"{event} is not available for {sub.instrument}; available: {offer}",
                    )
                )
    return problems


# -- JSON Schema --------------------------------------------------------------------------


def config_json_schema() -> dict[str, Any]:
    """The config's rules as a JSON Schema (draft 2020-12). Rules that relate two values
    (endTime after startTime, one subscription per instrument, at least one candle event)
    cannot be stated in JSON Schema; validate_config checks them."""

    def number(name: str, description: str) -> dict[str, Any]:
        low, high, default, exclusive = NUMBERS[name]
        return {
            "type": "number",
            "description": description,
            ("exclusiveMinimum" if exclusive else "minimum"): low,
            "maximum": high,
            "default": default,
        }

    protected: list[dict[str, Any]] = []
    for rule in PROTECTED_ENV:
        if rule.names:
            protected.append({"enum": list(rule.names)})
        protected += [{"pattern": f"^{re.escape(p)}"} for p in rule.prefixes]
        protected += [{"pattern": f"{re.escape(p)}$"} for p in rule.suffixes]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:tektii:scenario-config",
        "title": "tektii scenario config",
        "description": "The file given to `tektii scenario create STRATEGY_ID --config FILE`; see docs/scenario-config.md.",
        "type": "object",
        "required": list(REQUIRED_FIELDS),
        "additionalProperties": False,
        "properties": {
            "strategyVersionId": {
                "type": "string",
                "description": "The version to run: the ver_... ID from `tektii version upload`.",
                "pattern": f"^{VERSION_ID_RE.pattern}$",
                "examples": ["ver_xyz789"],
            },
            "subscriptions": {
                "type": "array",
                "description": "Market-data subscriptions, at most one per instrument.",
                "minItems": 1,
                "maxItems": MAX_SUBSCRIPTIONS,
                "items": {"$ref": "#/$defs/subscription"},
            },
            "startTime": {
                "$ref": "#/$defs/timestamp",
                "description": "Window start (inclusive).",
            },
            "endTime": {
                "$ref": "#/$defs/timestamp",
                "description": "Window end (exclusive); must be after startTime.",
            },
            "initialCapital": number("initialCapital", "Starting capital."),
            "positionMode": {
                "enum": list(POSITION_MODES),
                "description": "netting: one net position per symbol; hedging: each trade is its own position.",
                "default": DEFAULT_POSITION_MODE,
            },
            "commissionBps": number("commissionBps", "Commission per fill, in basis points of its notional."),
            "slippageBps": number(
                "slippageBps",
                "Slippage against the trader on market and triggered stop fills, in basis points.",
            ),
            "forexLeverage": number(
                "forexLeverage",
                "Leverage for F: instruments (crypto and stocks trade at 1x).",
            ),
            "spreadBps": {
                "description": "Bid-ask spread in basis points of the price: one number for every instrument, or an "
                "object of instrument to bps (the others keep their asset class's default: "
                + ", ".join(f"{k.lower()} {v:g}" for k, v in DEFAULT_SPREAD_BPS.items())
                + "; docs/fill-model.md). 0 is the frictionless model.",
                "oneOf": [
                    {"type": "number", "minimum": 0, "maximum": MAX_SPREAD_BPS},
                    {
                        "type": "object",
                        "propertyNames": {"pattern": f"^({SYMBOL_RE.pattern})$"},
                        "additionalProperties": {"type": "number", "minimum": 0, "maximum": MAX_SPREAD_BPS},
                    },
                ],
            },
            "riskFreeRate": number(
                "riskFreeRate",
                "Annual risk-free rate as a fraction (0.04 = 4 %), for Sharpe and Sortino.",
            ),
            "startupTimeoutSeconds": number(
                "startupTimeoutSeconds",
                "Cold-start grace: seconds from the strategy's start until it acknowledges its first event.",
            ),
            "eventTimeoutSeconds": {
                **number(
                    "eventTimeoutSeconds",
                    "Seconds one event may stay unacknowledged after the first (default 60; 5 under ackPolicy continue).",
                ),
            },
            "ackPolicy": {
                "enum": list(ACK_POLICIES),
                "description": "wait: the engine waits for every ack, deterministic, FAILED past the limit; continue: as "
                               "Tektii's engine, an unacknowledged event is skipped after eventTimeoutSeconds (not "
                               "deterministic), the run halts after 5 consecutive timeouts (24 before the first ack).",
                "default": DEFAULT_ACK_POLICY,
            },
            "environment": {
                "type": "object",
                "description": "Environment variables for the strategy, e.g. template parameters; names that"
                " configure a process, loader, shell or interpreter are refused (docs/scenario-config.md).",
                "maxProperties": MAX_ENV_VARIABLES,
                "propertyNames": {
                    "pattern": f"^{ENV_NAME_RE.pattern}$",
                    "not": {"anyOf": protected},
                },
                "additionalProperties": {"type": "string", "pattern": "^[^\\u0000]*$", "maxLength": MAX_ENV_VALUE_CHARS},
                "default": {},
            },
            "retries": {
                "type": "integer",
                "description": "How often a run whose node was lost starts again on another node (a cluster's"
                " execution backend); a run never starts again after a failure of its own.",
                "minimum": 0,
                "maximum": MAX_RETRIES,
                "default": 0,
            },
        },
        "$defs": {
            "subscription": {
                "type": "object",
                "required": list(SUBSCRIPTION_FIELDS),
                "additionalProperties": False,
                "properties": {
                    "instrument": {
                        "type": "string",
                        "description": "Platform symbol: " + SYMBOL_FORMS + ".",
                        "pattern": f"^({SYMBOL_RE.pattern})$",
                    },
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": list(EVENTS)},
                    },
                },
            },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 date-time with a timezone, e.g. " + EXAMPLE_TIME,
                "pattern": _SCHEMA_TIMESTAMP,
            },
        },
    }


# -- helpers ------------------------------------------------------------------------------


def parse_time(text: str) -> tuple[datetime | None, str | None]:
    """An RFC 3339 timestamp as an aware UTC datetime, or (None, what is wrong with it)."""
    m = TIMESTAMP_RE.fullmatch(text)
    if m is None:
        stripped = text.strip()
        if stripped != text and TIMESTAMP_RE.fullmatch(stripped):
            return None, f'has spaces around the timestamp; write "{stripped}"'
        if _DATE_ONLY_RE.fullmatch(stripped):
            return None, f'"{text}" has no time of day; write "{stripped}T00:00:00Z"'
        if _NO_ZONE_RE.fullmatch(stripped):
            fixed = stripped.replace(" ", "T")
            if fixed.count(":") == 1:
                fixed += ":00"
            return None, f'"{text}" has no timezone; add "Z" for UTC: "{fixed}Z"'
        return (
            None,
            f'"{text}" is not an RFC 3339 timestamp; use the form "{EXAMPLE_TIME}"',
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    try:
        if zone in ("Z", "z"):
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(f"timezone offset {zone} is out of range")
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        if second == 60:
            raise ValueError("leap seconds (second 60) are not supported")
        parsed = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        return parsed.astimezone(UTC), None
    except (ValueError, OverflowError) as exc:
        return None, f'"{text}" is not a real date and time: {exc}'


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a Z, with fractional seconds only when there are some."""
    t = t.astimezone(UTC).replace(tzinfo=None)
    if t.microsecond:
        return t.isoformat(timespec="microseconds").rstrip("0") + "Z"
    return t.isoformat(timespec="seconds") + "Z"


_REQUIRED_HELP = {
    "strategyVersionId": 'the version to run, e.g. "ver_xyz789" from `tektii version upload`',
    "subscriptions": 'e.g. [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}]',
    "startTime": f'the window start, e.g. "{EXAMPLE_TIME}"',
    "endTime": 'the window end (exclusive), e.g. "2024-04-01T00:00:00Z"',
}
_EXAMPLE_SUBSCRIPTION = '{"instrument": "C:BTCUSD", "events": ["candle_1m"]}'


def _explain_json_error(exc: json.JSONDecodeError, text: str) -> tuple[str, str]:
    reason = exc.msg.removesuffix(" at")
    before = text[: exc.pos].rstrip()
    after = text[exc.pos : exc.pos + 1]
    hint = "fix the JSON at that position"
    if reason.startswith("Expecting property name") and before.endswith(","):
        reason, hint = (
            "trailing comma before }",
            "remove the comma after the last field",
        )
    elif reason.startswith("Expecting value") and before.endswith(",") and after == "]":
        reason, hint = "trailing comma before ]", "remove the comma after the last item"
    elif reason.startswith("Expecting property name"):
        hint = 'field names need double quotes, e.g. "startTime"'
    elif reason.startswith("Expecting ',' delimiter"):
        hint = "a comma is probably missing between two fields or items"
    elif reason.startswith("Unterminated string"):
        hint = "a closing double quote is missing"
    elif reason.startswith("Extra data"):
        hint = "the file must hold exactly one JSON object"
    elif reason.startswith("Invalid control character"):
        hint = "strings cannot span lines; use \\n for a line break"
    line_text = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
    if line_text.strip():
        hint += f"; line {exc.lineno}: {line_text.strip()[:80]}"
    return reason, hint


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        return parse_time(value)[0]
    return None


def _join(prefix: str, key: str) -> str:
    name = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key)
    if not prefix:
        return name
    return f"{prefix}.{name}" if name == key else f"{prefix}[{name}]"


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _did_you_mean(word: str, options: Sequence[str]) -> str | None:
    """The closest option: same letters ignoring case and separators (start_time for
    startTime), else difflib's closest match (its usual cutoff, 0.6)."""
    by_norm = {_normalise(o): o for o in options}
    if _normalise(word) in by_norm:
        return by_norm[_normalise(word)]
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _symbol_guess(value: str) -> str | None:
    """A valid symbol the user probably meant: upper-cased, spaces and separators such as
    "/" or "-" removed (C:btc/usd -> C:BTCUSD)."""
    prefix, sep, code = value.strip().upper().partition(":")
    if not sep:
        return None
    squeezed = re.sub(r"[\s/_-]", "", code)
    candidate = f"{prefix.strip()}:{squeezed}"
    if SYMBOL_RE.fullmatch(candidate):
        return candidate
    candidate = f"{prefix.strip()}:{code.strip()}"
    return candidate if SYMBOL_RE.fullmatch(candidate) else None


def _describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _describe(value: Any) -> str:
    """The type of a value, with the value itself when short (for messages)."""
    kind = _describe_type(value)
    if isinstance(value, str):
        shown = json.dumps(value)
        return f"{kind} {shown}" if len(shown) <= 40 else kind
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{kind} ({_num(value)})"
    if isinstance(value, bool):
        return str(value).lower()
    return kind


def _num(value: float) -> str:
    """A number as a user wrote it: 100000, not 100000.0; big ones with separators."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return repr(value)


def _is_number_text(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


if __name__ == "__main__":  # python -m tektii_core.scenario_config > docs/scenario-config.schema.json
    print(json.dumps(config_json_schema(), indent=2))

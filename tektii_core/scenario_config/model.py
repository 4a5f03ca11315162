"""The scenario config as one attrs model: its fields, defaults and limits, and the views the
engine runs it by. The CLI, the platform and the engine all hold a config as a ScenarioConfig,
made only by the validator (tektii_core.scenario_config.validate) and written only by
``to_api`` (the cattrs converter of tektii_core.models).

Standard library and attrs only: the CLI imports this at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from tektii_core.errors import TektiiError
from tektii_core.market_model import asset_class, resolve_spreads
from tektii_core.timeutil import TIMEFRAMES

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
# The version of a config run without the platform (`tektii backtest run`, the engine's tests):
# nothing was uploaded, any ID will do.
LOCAL_VERSION_ID = "ver_local"
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
    event_timeout_s: float | None = None  # None: 5 s under ackPolicy "continue", else 60 s
    ack_policy: str = DEFAULT_ACK_POLICY
    environment: Mapping[str, str] = attrs.field(factory=dict)
    retries: int = 0

    def __attrs_post_init__(self) -> None:
        spreads = resolve_spreads(self.spread_bps, (s.instrument for s in self.subscriptions))
        object.__setattr__(self, "spread_bps", spreads)
        if self.event_timeout_s is None:
            default = CONTINUE_EVENT_TIMEOUT if self.ack_policy == "continue" else NUMBERS["eventTimeoutSeconds"][2]
            object.__setattr__(self, "event_timeout_s", default)

    def to_api(self) -> dict[str, Any]:
        """The camelCase JSON object, every optional field present with its value."""
        from tektii_core.models import unstructure  # cattrs loads only when a config is written

        return unstructure(self)

    # -- the views the engine runs a config by ------------------------------------------------
    @property
    def start(self) -> int:
        """The window start in Unix seconds."""
        return int(self.start_time.timestamp())

    @property
    def end(self) -> int:
        """The window end (exclusive) in Unix seconds."""
        return int(self.end_time.timestamp())

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.instrument for s in self.subscriptions))

    def candle_streams(self) -> list[tuple[str, str]]:
        """Every (symbol, timeframe) to replay, without duplicates, in subscription order."""
        return list(dict.fromkeys((s.instrument, tf) for s in self.subscriptions for tf in s.timeframes))

    def lifecycle(self) -> frozenset[str]:
        """The lifecycle events any subscription asked for (they are account-wide)."""
        return frozenset(e for s in self.subscriptions for e in s.events if e in LIFECYCLE_EVENTS)

    @property
    def event_limit_s(self) -> float:
        """Seconds one event may stay unacknowledged (docs/scenario-config.md, "Timeouts")."""
        assert self.event_timeout_s is not None  # filled in at construction
        return self.event_timeout_s

    def leverage(self, symbol: str) -> float:
        """Forex trades at forexLeverage, crypto and stocks at 1x (cash; docs/fill-model.md)."""
        return float(self.forex_leverage) if asset_class(symbol) == "FOREX" else 1.0

    def spreads(self) -> dict[str, float]:
        """The spread of each subscribed instrument, in bps."""
        return dict(self.spread_bps)  # type: ignore[arg-type]  # resolved at construction


def _json_name(field: str) -> str:
    """strategy_version_id -> strategyVersionId; the timeouts' ``_s`` is spelt out (Seconds)."""
    head, *rest = field.split("_")
    return head + "".join("Seconds" if part == "s" else part.title() for part in rest)


# attribute name -> the file's field name, in the order to_api writes them
JSON_NAMES: dict[str, str] = {a.name: _json_name(a.name) for a in attrs.fields(ScenarioConfig)}

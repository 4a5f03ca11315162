"""The backtest configuration the engine runs: subscriptions, window, capital, broker settings.

`BacktestConfig.from_dict` reads the scenario JSON of the write workflow (camelCase) and
reports every bad field at once as one TektiiError.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from tektii_core.contracts import TektiiError
from tektii_core.market_model import ASSET_CLASSES, asset_class, resolve_spreads, spread_problems
from tektii_engine.data import timeframes

TIMEFRAMES: dict[str, int] = {tf: timeframes.seconds(tf) for tf in timeframes.TIMEFRAMES}  # name -> seconds
LIFECYCLE_EVENTS = ("order_update", "position_update", "account_update", "trade_update")
POSITION_MODES = ("netting", "hedging")
MAX_SUBSCRIPTIONS = 50
ACK_POLICIES = ("wait", "continue")
MAX_TIMEOUT_S = 3600


def to_epoch(value: Any) -> int:
    """Epoch seconds from an aware datetime, an RFC 3339 string or a number."""
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("timestamp must be finite")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. a trailing Z)")
        return int(value.timestamp())
    raise ValueError(f"expected a timestamp, got {type(value).__name__}")


def rfc3339(epoch_s: float) -> str:
    if epoch_s == int(epoch_s):  # whole seconds (every candle time): no datetime per call
        day, seconds = divmod(int(epoch_s), 86400)
        return _utc_date(day) + _utc_clock(seconds)
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def _utc_date(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=2048)  # a day of whole minutes: two per candle event
def _utc_clock(seconds: int) -> str:
    return f"T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


@attrs.frozen
class Subscription:
    instrument: str  # platform symbol, e.g. C:BTCUSD
    events: tuple[str, ...]

    @property
    def timeframes(self) -> tuple[str, ...]:
        return tuple(e[len("candle_") :] for e in self.events if e.startswith("candle_"))


def _subscriptions(value: Any) -> tuple[Subscription, ...]:
    return tuple(
        s if isinstance(s, Subscription) else Subscription(s[0], tuple(s[1])) for s in value
    )


@attrs.frozen
class BacktestConfig:
    """One backtest: what to replay, over which window, and how the simulated broker behaves.

    `subscriptions` may be given as (instrument, events) pairs; `start`/`end` as aware datetimes,
    RFC 3339 strings or epoch seconds (kept as epoch seconds, end exclusive).
    """

    subscriptions: tuple[Subscription, ...] = attrs.field(converter=_subscriptions)
    start: int = attrs.field(converter=to_epoch)
    end: int = attrs.field(converter=to_epoch)
    initial_capital: float = 100_000.0
    position_mode: str = "netting"
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    forex_leverage: float = 30.0  # crypto and stocks trade at 1x (cash); see docs/fill-model.md
    # The bid-ask spread in bps: one number for every instrument, or instrument -> bps (the
    # others, and None, take their asset class's default: tektii_core.market_model).
    spread_bps: float | Mapping[str, float] | None = None
    environment: Mapping[str, str] = attrs.field(factory=dict)
    # How long the strategy may take (docs/scenario-config.md, "Timeouts"): from its start to
    # its first ack, and per event after that (None: 60 s when waiting, 5 s under "continue").
    startup_timeout_s: float = 120.0
    event_timeout_s: float | None = None
    ack_policy: str = "wait"

    def __attrs_post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise TektiiError(
                "Invalid backtest config: " + "; ".join(problems),
                hint="See docs/engine.md for the configuration fields.",
            )

    # -- derived views --------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sub in self.subscriptions:
            seen.setdefault(sub.instrument, None)
        return tuple(seen)

    def candle_streams(self) -> list[tuple[str, str]]:
        """Every (symbol, timeframe) to replay, without duplicates, in subscription order."""
        seen: dict[tuple[str, str], None] = {}
        for sub in self.subscriptions:
            for tf in sub.timeframes:
                seen.setdefault((sub.instrument, tf), None)
        return list(seen)

    def lifecycle(self) -> frozenset[str]:
        """The lifecycle events any subscription asked for (they are account-wide)."""
        return frozenset(e for s in self.subscriptions for e in s.events if e in LIFECYCLE_EVENTS)

    @property
    def event_limit_s(self) -> float:
        if self.event_timeout_s is not None:
            return self.event_timeout_s
        return 5.0 if self.ack_policy == "continue" else 60.0

    def leverage(self, symbol: str) -> float:
        return self.forex_leverage if asset_class(symbol) == "FOREX" else 1.0

    def spreads(self) -> dict[str, float]:
        """The spread of each subscribed instrument, in bps."""
        return resolve_spreads(self.spread_bps, self.symbols)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, environment: Mapping[str, str] | None = None):
        """Read a scenario config (camelCase JSON); every problem is reported at once."""
        if not isinstance(data, Mapping):
            raise TektiiError("Invalid backtest config: expected a JSON object")
        problems: list[str] = []
        kwargs: dict[str, Any] = {}
        subs = data.get("subscriptions")
        if not isinstance(subs, list):
            problems.append("subscriptions: required, a list of {instrument, events}")
        else:
            parsed = []
            for i, sub in enumerate(subs):
                if not isinstance(sub, Mapping):
                    problems.append(f"subscriptions[{i}]: expected an object")
                    continue
                inst, events = sub.get("instrument"), sub.get("events")
                if not isinstance(inst, str):
                    problems.append(f"subscriptions[{i}].instrument: required, a string")
                if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                    problems.append(f"subscriptions[{i}].events: required, a list of strings")
                    events = []
                parsed.append(Subscription(inst if isinstance(inst, str) else "", tuple(events)))
            kwargs["subscriptions"] = tuple(parsed)
        for key, field in (("startTime", "start"), ("endTime", "end")):
            if key not in data:
                problems.append(f"{key}: required, an RFC 3339 timestamp")
                continue
            try:
                kwargs[field] = to_epoch(data[key])
            except (ValueError, TypeError) as exc:
                problems.append(f"{key}: {exc}")
        numbers = {
            "initialCapital": "initial_capital",
            "commissionBps": "commission_bps",
            "slippageBps": "slippage_bps",
            "forexLeverage": "forex_leverage",
            "startupTimeoutSeconds": "startup_timeout_s",
            "eventTimeoutSeconds": "event_timeout_s",
        }
        for key, field in numbers.items():
            if key in data and data[key] is not None:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    problems.append(f"{key}: expected a number")
                else:
                    kwargs[field] = float(value)
        if data.get("spreadBps") is not None:
            kwargs["spread_bps"] = data["spreadBps"]  # checked with the other fields below
        if "positionMode" in data and data["positionMode"] is not None:
            mode = data["positionMode"]
            kwargs["position_mode"] = mode.lower() if isinstance(mode, str) else mode
        if data.get("ackPolicy") is not None:
            kwargs["ack_policy"] = data["ackPolicy"]
        env = environment if environment is not None else data.get("environment", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            problems.append("environment: expected an object of string values")
        else:
            kwargs["environment"] = dict(env)
        if problems:
            # Still run the field checks on what parsed, so that the user sees everything.
            problems.extend(_validate_fields(kwargs))
            raise TektiiError("Invalid backtest config: " + "; ".join(_unique(problems)))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriptions": [
                {"instrument": s.instrument, "events": list(s.events)} for s in self.subscriptions
            ],
            "startTime": rfc3339(self.start),
            "endTime": rfc3339(self.end),
            "initialCapital": self.initial_capital,
            "positionMode": self.position_mode,
            "commissionBps": self.commission_bps,
            "slippageBps": self.slippage_bps,
            "forexLeverage": self.forex_leverage,
            "spreadBps": self.spreads(),
            "startupTimeoutSeconds": self.startup_timeout_s,
            "eventTimeoutSeconds": self.event_limit_s,
            "ackPolicy": self.ack_policy,
        }


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def validate(config: BacktestConfig) -> list[str]:
    return _validate_fields(attrs.asdict(config, recurse=False))


def _validate_fields(f: Mapping[str, Any]) -> list[str]:
    """Every problem with the (possibly partial) field values, as 'field: problem' strings."""
    problems: list[str] = []
    subs = f.get("subscriptions")
    if subs is not None:
        if not 1 <= len(subs) <= MAX_SUBSCRIPTIONS:
            problems.append(f"subscriptions: between 1 and {MAX_SUBSCRIPTIONS} required")
        for i, sub in enumerate(subs):
            prefix, _, name = sub.instrument.partition(":")
            if prefix not in ASSET_CLASSES or not name:
                problems.append(
                    f"subscriptions[{i}].instrument: {sub.instrument!r} is not a platform symbol"
                    " such as C:BTCUSD, F:EURUSD or S:SPX"
                )
            if not sub.events:
                problems.append(f"subscriptions[{i}].events: at least one event required")
            for event in sub.events:
                tf = event[len("candle_") :] if event.startswith("candle_") else None
                if tf is None and event not in LIFECYCLE_EVENTS:
                    problems.append(f"subscriptions[{i}].events: unknown event {event!r}")
                elif tf is not None and tf not in TIMEFRAMES:
                    problems.append(
                        f"subscriptions[{i}].events: unknown timeframe in {event!r}"
                        f" (one of {', '.join(TIMEFRAMES)})"
                    )
        if subs and not any(s.timeframes for s in subs):
            problems.append("subscriptions: at least one candle_<timeframe> event required")
    start, end = f.get("start"), f.get("end")
    if start is not None and end is not None and end <= start:
        problems.append("endTime: must be after startTime")
    capital = f.get("initial_capital")
    if capital is not None and not (1 <= capital <= 100_000_000):
        problems.append("initialCapital: must be between 1 and 100,000,000")
    mode = f.get("position_mode")
    if mode is not None and mode not in POSITION_MODES:
        problems.append(f"positionMode: must be 'netting' or 'hedging', got {mode!r}")
    for field, key, high in (
        ("commission_bps", "commissionBps", 10_000),
        ("slippage_bps", "slippageBps", 10_000),
        ("forex_leverage", "forexLeverage", 1_000),
    ):
        value = f.get(field)
        if value is None:
            continue
        low = 1 if field == "forex_leverage" else 0
        if not (math.isfinite(value) and low <= value <= high):
            problems.append(f"{key}: must be between {low} and {high}")
    for field, key in (("startup_timeout_s", "startupTimeoutSeconds"), ("event_timeout_s", "eventTimeoutSeconds")):
        value = f.get(field)
        if value is not None and not (math.isfinite(value) and 1 <= value <= MAX_TIMEOUT_S):
            problems.append(f"{key}: must be between 1 and {MAX_TIMEOUT_S}")
    if f.get("spread_bps") is not None:
        subs = f.get("subscriptions")
        instruments = [s.instrument for s in subs] if subs is not None else None
        problems.extend(f"{path}: {message}" for path, message in spread_problems(f["spread_bps"], instruments))
    policy = f.get("ack_policy")
    if policy is not None and policy not in ACK_POLICIES:
        problems.append(f"ackPolicy: must be 'wait' or 'continue', got {policy!r}")
    return problems

"""A valid config against the platform's market data: instruments it has no data for, a window
outside an instrument's data, a timeframe it cannot serve (the platform and `tektii backtest
run` check this after the validator).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tektii_core.scenario_config.explain import did_you_mean
from tektii_core.scenario_config.model import CANDLE_EVENTS, Problem, ScenarioConfig
from tektii_core.timeutil import TIMEFRAMES, format_time, parse_time


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
            guess = did_you_mean(sub.instrument, known)
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

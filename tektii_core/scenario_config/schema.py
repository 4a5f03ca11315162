"""The scenario config's rules as a JSON Schema (docs/scenario-config.schema.json is its output:
``python -m tektii_core.scenario_config``), built from the model's limits so the two agree.
"""

from __future__ import annotations

import re
from typing import Any

from tektii_core.market_model import DEFAULT_SPREAD_BPS, MAX_SPREAD_BPS
from tektii_core.scenario_config.model import (
    ACK_POLICIES,
    DEFAULT_ACK_POLICY,
    DEFAULT_POSITION_MODE,
    ENV_NAME_RE,
    EVENTS,
    MAX_ENV_VALUE_CHARS,
    MAX_ENV_VARIABLES,
    MAX_RETRIES,
    MAX_SUBSCRIPTIONS,
    NUMBERS,
    POSITION_MODES,
    PROTECTED_ENV,
    REQUIRED_FIELDS,
    SUBSCRIPTION_FIELDS,
    SYMBOL_FORMS,
    SYMBOL_RE,
    VERSION_ID_RE,
)
from tektii_core.timeutil import EXAMPLE_TIME

# The same shape with field ranges, for the JSON Schema (where no code can explain a miss);
# only impossible days of a month (2024-02-30) get past it.
_SCHEMA_TIMESTAMP = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


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

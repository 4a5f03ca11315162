"""OpenAPI schemas of the scenarios API, and the scenario config's JSON Schema adapted to
the OpenAPI document (its ``$defs`` become components, so every ``$ref`` resolves there).

No routes here (no ``register``): tektii_platform/api/scenarios.py uses these.
"""

from __future__ import annotations

import copy
from typing import Any

STATES = ("PENDING", "RUNNING", "COMPLETE", "FAILED", "CANCELLED")
RESULT_TYPES = ("metadata", "timeseries", "trades")
_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}

# Every metric of tektii_engine.metrics.compute_metrics (docs/metrics.md); each is absent
# until a COMPLETE run has the data to compute it.
METRICS = {
    "totalReturn": "Total return, % (12.45 = 12.45 %).",
    "sharpeRatio": "Annualised Sharpe ratio of daily returns.",
    "sortinoRatio": "Annualised Sortino ratio of daily returns.",
    "maxDrawdownPct": "Largest peak-to-trough fall of equity, %.",
    "longestDrawdownDays": "Longest time below a previous equity peak, days.",
    "cagrPct": "Compound annual growth rate, %.",
    "volatilityPct": "Annualised volatility of daily returns, %.",
    "totalTrades": "Closed round trips.",
    "winRatePct": "Share of closed trades with a profit, %.",
    "profitFactor": "Gross profit / gross loss of closed trades.",
    "averageWin": "Mean profit of winning trades.",
    "averageLoss": "Mean loss of losing trades (negative).",
    "exposureTimePct": "Share of the window with a position open, %.",
    "totalFees": "Commissions paid.",
    "startEquity": "Equity at the start.",
    "endEquity": "Equity at the end.",
    "marginCalls": "Margin calls of the run (their liquidations: result metadata's marginCalls).",
}
PROGRESS_SCHEMA = {
    "type": ["object", "null"],
    "description": "While RUNNING (and the last value after): how far the simulated window got.",
    "properties": {
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "eventsPerSecond": {"type": "number"},
        "equity": {"type": ["number", "null"]},
        "simulatedTime": {"type": ["string", "null"], "format": "date-time"},
    },
}


_NULLABLE_HASH = {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"}
REPRODUCIBILITY_SCHEMA = {
    "type": ["object", "null"],
    "description": "What the finished run replayed, through which code (docs/scenarios.md); null until it ends.",
    "required": ["imageDigest", "template", "templateHash", "engineVersion", "engineSourceHash", "configHash",
                 "candlesChecksum", "candlesReplayed"],
    "properties": {
        "imageDigest": {"type": ["string", "null"], "description": "The version image's manifest digest."},
        "template": {"type": ["string", "null"], "description": "The template a template version ran."},
        "templateHash": {**_NULLABLE_HASH, "description": "sha256 over the template's files."},
        "engineVersion": {"type": "string"},
        "engineSourceHash": {**_NULLABLE_HASH, "description": "sha256 over the engine's source."},
        "configHash": {**_NULLABLE_HASH, "description": "sha256 of the config's canonical JSON."},
        "candlesChecksum": {**_NULLABLE_HASH, "description": "sha256 over every candle replayed."},
        "candlesReplayed": {"type": "integer", "minimum": 0},
    },
}


def scenario_schema(config_ref: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "scenarioId": {"type": "string", "pattern": "^scen_[a-z2-7]+$"},
        "strategyId": {"type": "string"},
        "strategyVersionId": {"type": "string"},
        "state": {"type": "string", "enum": list(STATES)},
        "failureReason": {"type": ["string", "null"], "description": "Why the run FAILED."},
        "createdAt": _TIMESTAMP,
        "startedAt": _NULLABLE_TIMESTAMP,
        "finishedAt": _NULLABLE_TIMESTAMP,
        "config": config_ref,
        "progress": PROGRESS_SCHEMA,
        "sweepId": {"type": ["string", "null"], "description": "The sweep that ran this scenario as a trial."},
        "rerunOf": {"type": ["string", "null"], "description": "The scenario this one reruns (scenario rerun)."},
        "reproducibility": REPRODUCIBILITY_SCHEMA,
        "cancelRequested": {"type": "boolean", "description": "A cancel was asked for; a RUNNING run then ends "
                                                             "CANCELLED within seconds (wait with GET ?waitS=)."},
        "execution": {
            "type": ["object", "null"],
            "description": "Where the run executed: its execution backend and, once it ended, the node as the "
                           "backend names it (this machine's host name for local, the node's address for ray).",
            "required": ["backend", "node"],
            "properties": {"backend": {"type": "string", "example": "ray"}, "node": {"type": ["string", "null"]}},
        },
    }
    for name, description in METRICS.items():
        kind = "integer" if name == "totalTrades" else "number"
        properties[name] = {"type": kind, "description": f"{description} COMPLETE runs only; absent when not computable."}
    return {
        "type": "object",
        "required": ["scenarioId", "strategyId", "strategyVersionId", "state", "failureReason", "createdAt",
                     "startedAt", "finishedAt", "config", "progress", "sweepId", "rerunOf", "reproducibility",
                     "cancelRequested", "execution"],
        "properties": properties,
    }


def list_schema(scenario_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["scenarios", "nextCursor"],
        "properties": {
            "scenarios": {"type": "array", "items": scenario_ref},
            "nextCursor": {"type": ["string", "null"], "description": "null on the last page"},
        },
    }


REPRODUCTION_SCHEMA = {
    "type": "object",
    "required": ["scenarioId", "rerunOf", "identical", "differences", "resultDifferences"],
    "properties": {
        "scenarioId": {"type": "string", "description": "The rerun."},
        "rerunOf": {"type": "string", "description": "The scenario it reran."},
        "identical": {"type": "boolean", "description": "Every fill, order, equity point, trade and metric bit for bit."},
        "differences": {
            "type": "array", "description": "Why the runs differ: data, strategy, engine, config or nondeterministic.",
            "items": {"type": "object", "required": ["cause", "message", "fields"], "properties": {
                "cause": {"type": "string", "enum": ["data", "strategy", "engine", "config", "nondeterministic"]},
                "message": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "first": {}, "second": {}}}},
            }},
        },
        "resultDifferences": {
            "type": "array", "description": "The result parts that differ, each with its first difference.",
            "items": {"type": "object", "required": ["part", "detail"],
                      "properties": {"part": {"type": "string"}, "detail": {"type": "string"}}},
        },
    },
}
LOGS_SCHEMA = {
    "type": "object",
    "required": ["lines", "nextOffset", "state"],
    "properties": {
        "lines": {"type": "array", "items": {"type": "string"}},
        "nextOffset": {"type": "integer", "minimum": 0, "description": "Pass as offset to get the lines after these."},
        "state": {"type": "string", "enum": list(STATES)},
    },
}
TIMESERIES_ROW = {
    "type": "object",
    "required": ["time", "equity", "cash", "drawdownPct"],
    "properties": {"time": _TIMESTAMP, "equity": {"type": "number"}, "cash": {"type": "number"},
                   "drawdownPct": {"type": "number", "description": "Below the running equity peak, %."}},
}
TRADE_ROW = {
    "type": "object",
    "required": ["symbol", "side", "quantity", "entryTime", "entryPrice", "exitTime", "exitPrice", "pnl", "fees"],
    "properties": {
        "symbol": {"type": "string"},
        "side": {"type": "string", "description": "LONG or SHORT"},
        "quantity": {"type": "number"},
        "entryTime": _TIMESTAMP,
        "entryPrice": {"type": "number"},
        "exitTime": _TIMESTAMP,
        "exitPrice": {"type": "number"},
        "pnl": {"type": "number", "description": "Realised profit, net of the trade's fees."},
        "grossPnl": {"type": "number"},
        "fees": {"type": "number"},
        "spreadCost": {"type": ["number", "null"],
                       "description": "What the bid-ask spread cost the trade; already in its prices and pnl."},
        "exitReason": {"type": ["string", "null"], "description": "LIQUIDATION when a margin call closed it."},
    },
}


def results_schema(scenario_ref: dict[str, Any]) -> dict[str, Any]:
    """One schema for the three result types (json format); csv answers text/csv."""
    return {
        "type": "object",
        "description": "metadata: the scenario with counters and final figures; timeseries: "
                       "{scenarioId, rows}; trades: {scenarioId, trades}. With format=csv: text/csv.",
        "oneOf": [
            {"allOf": [scenario_ref], "properties": {"counters": {"type": "object"},
                                                     "marginCalls": {"type": "array", "items": {"type": "object"}}}},
            {"type": "object", "required": ["scenarioId", "rows"],
             "properties": {"scenarioId": {"type": "string"}, "rows": {"type": "array", "items": TIMESERIES_ROW}}},
            {"type": "object", "required": ["scenarioId", "trades"],
             "properties": {"scenarioId": {"type": "string"}, "trades": {"type": "array", "items": TRADE_ROW}}},
        ],
    }


def openapi_config_schema(
    schema: dict[str, Any], prefix: str = "ScenarioConfig"
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The config JSON Schema as (main schema, extra components): ``#/$defs/x`` becomes
    ``#/components/schemas/<prefix><X>``; ``$schema`` and ``$id`` are dropped."""
    doc = copy.deepcopy(schema)
    doc.pop("$schema", None)
    doc.pop("$id", None)
    defs = doc.pop("$defs", {})

    def name(ref: str) -> str:
        key = ref.rsplit("/", 1)[-1]
        return prefix + key[:1].upper() + key[1:]

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (f"#/components/schemas/{name(v)}" if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                        else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    return rewrite(doc), {name(key): rewrite(value) for key, value in defs.items()}

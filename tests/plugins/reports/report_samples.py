"""Realistic inputs for the report tests, shaped like the platform's result types."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2024, 1, 1, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def equity_rows(n: int, *, step_s: int = 60, capital: float = 100_000.0, seed: int = 7) -> list[dict[str, Any]]:
    """`n` points of a random walk with a small drift (1-minute BTC-like noise) and its drawdown."""
    rnd = random.Random(seed)
    equity, peak, rows = capital, capital, []
    for i in range(n):
        equity *= math.exp(rnd.gauss(0.0000012, 0.0004))
        peak = max(peak, equity)
        rows.append(
            {
                "time": rfc3339(START + timedelta(seconds=i * step_s)),
                "equity": equity,
                "cash": equity * 0.6,
                "drawdownPct": (peak - equity) / peak * 100.0,
            }
        )
    return rows


def trade_rows(count: int, *, span_s: int, seed: int = 11) -> list[dict[str, Any]]:
    """Closed round trips inside [START, START + span_s], in exit-time order."""
    rnd = random.Random(seed)
    trades = []
    for _ in range(count):
        entry = START + timedelta(seconds=rnd.randrange(span_s - 86_400))
        exit_ = entry + timedelta(minutes=rnd.randrange(5, 1440))
        price = 42_000 + rnd.uniform(-3000, 3000)
        side = rnd.choice(["long", "short"])
        moved = price * (1 + rnd.gauss(0.001, 0.01))
        qty = rnd.choice([0.05, 0.1, 0.25])
        gross = (moved - price) * qty * (1 if side == "long" else -1)
        fees = round((price + moved) * qty * 0.001, 2)
        trades.append(
            {
                "symbol": "C:BTCUSD",
                "side": side,
                "quantity": qty,
                "entryTime": rfc3339(entry),
                "exitTime": rfc3339(exit_),
                "entryPrice": price,
                "exitPrice": moved,
                "pnl": gross - fees,
                "grossPnl": gross,
                "fees": fees,
            }
        )
    return sorted(trades, key=lambda t: t["exitTime"])


def scenario(rows: list[dict[str, Any]], trades: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """A completed scenario object with its metrics computed by the engine from these rows."""
    from tektii_engine.metrics import compute_metrics

    config = {
        "strategyVersionId": "ver_xyz789",
        "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
        "startTime": rows[0]["time"] if rows else rfc3339(START),
        "endTime": "2024-04-01T00:00:00Z",
        "initialCapital": 100000,
        "positionMode": "netting",
    }
    times = [int(datetime.fromisoformat(r["time"]).timestamp()) for r in rows]
    closed = [
        {
            "pnl": t["pnl"],
            "fees": t["fees"],
            "entry_time": datetime.fromisoformat(t["entryTime"]),
            "exit_time": datetime.fromisoformat(t["exitTime"]),
        }
        for t in trades
    ]
    metrics = (
        compute_metrics(times, [r["equity"] for r in rows], closed, initial_capital=100_000.0, periods_per_year=365)
        if rows
        else {}
    )
    return {
        "scenarioId": "scen_def456",
        "strategyId": "strat_abc123",
        "strategyVersionId": "ver_xyz789",
        "state": "COMPLETE",
        "config": config,
        "createdAt": "2024-05-01T10:00:00Z",
        "startedAt": "2024-05-01T10:00:01Z",
        "finishedAt": "2024-05-01T10:02:11Z",
        **metrics,
        **changes,
    }

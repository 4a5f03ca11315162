"""Shared example configs for the scenario-config tests."""

from __future__ import annotations

from typing import Any

# The spec's example config (write-workflow Step 4), verbatim.
SPEC_EXAMPLE: dict[str, Any] = {
    "strategyVersionId": "ver_xyz789",
    "subscriptions": [{"instrument": "C:BTCUSD", "events": ["candle_1m"]}],
    "startTime": "2024-01-01T00:00:00Z",
    "endTime": "2024-04-01T00:00:00Z",
    "initialCapital": 100000,
    "positionMode": "netting",
}

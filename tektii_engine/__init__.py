"""The backtest engine: replay, simulated broker, the gateway API strategies speak, runtimes.

Heavy parts (numpy, aiohttp) load only when a run starts.
"""

from __future__ import annotations

from typing import Any

# A run's config is tektii_core.scenario_config's ScenarioConfig (build_config, config_from_json).
__all__ = ["BacktestResult", "RunLimits", "local_run", "run_backtest"]


def __getattr__(name: str) -> Any:
    if name == "BacktestResult":
        from tektii_engine.result import BacktestResult

        return BacktestResult
    if name in ("RunLimits", "local_run", "run_backtest"):
        from tektii_engine import run

        return getattr(run, name)
    raise AttributeError(name)

"""The platform's end of the run contract, for tests that drive an execution backend or a run's
endpoints directly: a desk (a served platform with data and a template version), RUNNING
scenarios with run tokens, and the RunSpecs of their runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
import requests

from .platforms import SPEC_CONFIG, Platform, ServedPlatform, served

if TYPE_CHECKING:
    from tektii_core.contracts import RunHandle, RunSpec, RunStatus

# What the scheduler fills in before a run starts (the config as the worker gets it).
RUN_DEFAULTS = {"commissionBps": 0, "slippageBps": 0, "forexLeverage": 30, "riskFreeRate": 0,
                "startupTimeoutSeconds": 120, "eventTimeoutSeconds": 60, "ackPolicy": "wait", "environment": {}}


def running_run(platform: Platform, key: str, strategy_id: str, config: dict,
                wall_clock_s: float = 3600.0) -> tuple[str, str]:
    """A scenario row made RUNNING at once (so the platform's own scheduler never claims it) and a
    run token for it: what an execution backend driven directly by a test hands its worker.
    Returns (scenario id, run token); the run's files appear in ``platform.data_dir/runs/<id>``."""
    from tektii_platform import run_tokens
    from tektii_platform.store import scenarios
    from tektii_platform.store.tables import scenarios as table

    owner = requests.get(f"{platform.url}/v1/me", headers={"X-API-Key": key}, timeout=30).json()["data"]["id"]
    with platform.database() as db:
        with db.transaction():
            row = scenarios.create(db, strategy_id, owner, config)
            db.execute(table.update().where(table.c.id == row["id"]).values(state="RUNNING", started_at=row["created_at"]))
        return row["id"], run_tokens.issue(db, row["id"], wall_clock_s)


class RunDesk(NamedTuple):
    """A served platform with C:BTCUSD candles and a template version (see run_desk)."""

    platform: ServedPlatform
    key: str
    strategy_id: str
    version_id: str

    def spec(self, days: int = 1, config: dict | None = None, **fields: Any) -> RunSpec:
        """A RUNNING scenario of `days` from 2024-01-01 (the `config` changes on top) and the
        RunSpec of its run: a template run in the process runtime unless `fields` say otherwise."""
        from tektii_core.contracts import RunSpec

        end = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {**SPEC_CONFIG, "strategyVersionId": self.version_id, "endTime": end, **RUN_DEFAULTS, **(config or {})}
        scenario_id, token = running_run(self.platform, self.key, self.strategy_id, body)
        return RunSpec(**{"scenario_id": scenario_id, "config": body, "platform_url": self.platform.url,
                          "run_token": token, "runtime": "process", "template": "ma-crossover", **fields})

    def files(self, run: RunSpec) -> Path:
        """Where the platform keeps what the run's worker posted (its log and result)."""
        return self.platform.data_dir / "runs" / run.scenario_id

    def progress(self, run: RunSpec) -> dict | None:
        """The progress the run's worker posted to the platform (None before the first)."""
        return self.platform.get(self.key, self.strategy_id, run.scenario_id).get("progress")

    def wait_progress(self, run: RunSpec, handle: RunHandle | None = None, timeout: float = 90) -> None:
        """Until the worker posted some progress (or the run ended, if its handle is given)."""
        deadline = time.monotonic() + timeout
        while not (handle is not None and handle.poll().finished) and not (self.progress(run) or {}).get("fraction"):
            assert time.monotonic() < deadline, f"no progress posted within {timeout} s"
            time.sleep(0.2)


def run_desk(tmp_path_factory: pytest.TempPathFactory, data_start: str, data_end: str, host: str = "127.0.0.1",
             **env: str):
    """A served platform (on `host`) with C:BTCUSD candles from `data_start` to `data_end` and a
    template version: the platform's end of the run contract for tests that drive a backend or a
    run's endpoints directly (a module-scoped fixture yields from it)."""
    for platform in served(tmp_path_factory, host, **env):
        key = platform.new_user("owner", admin=True)
        platform.generate(key, "C:BTCUSD", data_start, data_end)
        strategy_id = platform.strategy(key, "run-desk")
        yield RunDesk(platform, key, strategy_id, platform.template_version(key, strategy_id))


def wait_end(handle: RunHandle, timeout: float = 120, until=lambda status: status.finished) -> RunStatus:
    """Poll a backend's run handle until `until(status)` (by default: the run ended)."""
    deadline = time.monotonic() + timeout
    while not until(status := handle.poll()):
        assert time.monotonic() < deadline, f"still {status.state} after {timeout} s"
        time.sleep(0.1)
    return status

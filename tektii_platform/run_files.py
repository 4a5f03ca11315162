"""A run's files under the platform's data directory, as the worker posts them
(tektii_platform/api/runs.py): ``runs/<scenario id>/strategy.log`` (capped, head and tail kept:
tektii_engine.runlog) and ``runs/<scenario id>/result.json``. ``scenario logs|results|report``
read them there (tektii_platform/api/scenarios.py), as before the worker ran anywhere."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tektii_engine.runlog import RunLog, max_bytes_from_env

from .execution import make_run_dir, run_dir
from .http import AppContext


class RunFiles:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._logs: dict[str, RunLog] = {}
        self._lock = threading.Lock()

    def append_log(self, scenario_id: str, lines: list[str]) -> None:
        with self._lock:
            log = self._logs.get(scenario_id)
            if log is None:
                log = self._logs[scenario_id] = RunLog(make_run_dir(self.data_dir, scenario_id) / "strategy.log",
                                                       max_bytes_from_env())
        for line in lines:
            log.write(line)

    def close_log(self, scenario_id: str) -> None:
        """The run ended: the log's kept tail is written (RunLog.close)."""
        with self._lock:
            log = self._logs.pop(scenario_id, None)
        if log is not None:
            log.close()

    def write_result(self, scenario_id: str, data: bytes) -> None:
        """result.json as the worker sent it (byte for byte), atomically, 0600."""
        target = make_run_dir(self.data_dir, scenario_id) / "result.json"
        tmp = target.with_suffix(".json.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            out.write(data)
        os.replace(tmp, target)

    def directory(self, scenario_id: str) -> Path:
        return run_dir(self.data_dir, scenario_id)


def run_files(ctx: AppContext) -> RunFiles:
    """This platform process's RunFiles (one per data directory)."""
    return ctx.extras.setdefault("run_files", RunFiles(ctx.data_dir))

"""A run's worker talking to its platform (RunSpec.platform_url, with RunSpec.run_token): the
window's candles in (an Arrow IPC stream per (symbol, timeframe), record batch by record batch),
progress, the strategy's log lines and the result out (tektii_platform/api/runs.py).

Progress and log lines go from a reporter thread, so that neither the engine's monitor nor the
strategy's output reader waits on the network: progress is the latest value (twice a second),
log lines are sent in order in batches of at most BATCH_BYTES; a writer far ahead of the
network waits (backpressure to the strategy's output) rather than buffering without bound.
"""

from __future__ import annotations

import collections
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from tektii_core.contracts import TektiiError

REPORT_INTERVAL_S = 0.2
BATCH_BYTES = 512 * 1024
MAX_BUFFERED_BYTES = 8 * 1024 * 1024
RESULT_ATTEMPTS = 5
READ_BUFFER_BYTES = 1024 * 1024
_TIMEOUT_S = 30.0


class PlatformLink:
    def __init__(self, platform_url: str, run_token: str, scenario_id: str):
        import requests

        self.base = f"{platform_url.rstrip('/')}/v1/runs/{scenario_id}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {run_token}"
        self.session.trust_env = False  # the platform's address as given, never through a proxy
        self._cond = threading.Condition()
        self._lines: collections.deque[str] = collections.deque()
        self._buffered = 0
        self._progress: dict[str, Any] | None = None
        self._stopping = False
        self._reporter = threading.Thread(target=self._report, name="tektii-report", daemon=True)
        self._reporter.start()

    # -- in --------------------------------------------------------------------------------
    def candles(self, symbol: str, timeframe: str, start: int, end: int) -> Iterator[Any]:
        """The CandleFeed (tektii_engine.engine) of the run's window, from the platform."""
        import pyarrow.ipc as ipc

        from tektii_engine.data.candles import Candles

        try:
            response = self.session.get(f"{self.base}/candles", stream=True, timeout=_TIMEOUT_S,
                                        params={"symbol": symbol, "timeframe": timeframe, "start": start, "end": end})
        except OSError as exc:
            raise TektiiError(f"Could not fetch the run's candles from the platform: {exc}") from None
        with response:
            if response.status_code != 200:
                raise _api_error(response, f"Could not fetch {symbol} {timeframe} candles from the platform")
            response.raw.decode_content = True
            # Arrow reads in small pieces; through a large buffer they are few socket reads
            for batch in ipc.open_stream(io.BufferedReader(response.raw, buffer_size=READ_BUFFER_BYTES)):
                yield Candles.from_arrow(batch)

    # -- out -------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        with self._cond:
            while self._buffered > MAX_BUFFERED_BYTES and not self._stopping:
                self._cond.wait(1.0)
            self._lines.append(line)
            self._buffered += len(line) + 1

    def progress(self, message: dict[str, Any]) -> None:
        with self._cond:
            self._progress = message

    def _report(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping, REPORT_INTERVAL_S)
                stopping = self._stopping
            self._send_pending()
            if stopping:
                return

    def _send_pending(self) -> None:
        with self._cond:
            progress, self._progress = self._progress, None
        if progress is not None:
            self._post("progress", progress)
        while True:
            with self._cond:
                if not self._lines:
                    return
                batch, size = [], 0
                while self._lines and (not batch or size + len(self._lines[0]) < BATCH_BYTES):
                    line = self._lines.popleft()
                    batch.append(line)
                    size += len(line) + 1
                self._buffered -= size
                self._cond.notify_all()
            self._post("logs", {"lines": batch})

    def _post(self, what: str, body: dict[str, Any]) -> None:
        """Best effort: a lost progress update or log batch does not stop the run."""
        try:
            self.session.post(f"{self.base}/{what}", data=json.dumps(body, separators=(",", ":")),
                              headers={"Content-Type": "application/json"}, timeout=_TIMEOUT_S)
        except OSError:
            pass

    def close(self) -> None:
        """Send what is pending (the log's last lines) and stop the reporter."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._reporter.join(timeout=_TIMEOUT_S)

    def put_result(self, data: bytes) -> None:
        """The result, after every log line; tried again on a failed connection."""
        self.close()
        for attempt in range(RESULT_ATTEMPTS):
            try:
                response = self.session.put(f"{self.base}/result", data=data, timeout=_TIMEOUT_S * 4,
                                            headers={"Content-Type": "application/json"})
            except OSError as exc:
                if attempt == RESULT_ATTEMPTS - 1:
                    raise TektiiError(f"Could not send the run's result to the platform: {exc}") from None
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code != 204:
                raise _api_error(response, "The platform refused the run's result")
            return


def _api_error(response: Any, what: str) -> TektiiError:
    try:
        error = response.json()["error"]
        return TektiiError(error["message"], hint=error.get("hint"))
    except (ValueError, KeyError, TypeError):
        return TektiiError(f"{what} (HTTP {response.status_code})")

"""A run's stored strategy log, capped: the head as it comes, then only the tail is kept
(in memory, bounded) and written after a marker saying how much was dropped when the run
ends. Over-long lines are split, never cut. See docs/scenarios.md#logs."""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tektii_core.contracts import DEFAULT_RUN_LOG_MAX_BYTES, TektiiError

MAX_LINE_BYTES = 16 * 1024  # a longer line is stored as several lines of at most this
MAX_BYTES_ENV = "TEKTII_RUN_LOG_MAX_BYTES"
_MIN_MAX_BYTES = 64 * 1024


def max_bytes_from_env(environ: Any = None) -> int:
    """The platform's cap on each run's stored log (TEKTII_RUN_LOG_MAX_BYTES, default 10 MiB)."""
    text = ((os.environ if environ is None else environ).get(MAX_BYTES_ENV) or "").strip().replace("_", "")
    if not text:
        return DEFAULT_RUN_LOG_MAX_BYTES
    if not text.isdigit() or int(text) < _MIN_MAX_BYTES:
        raise TektiiError(f"{MAX_BYTES_ENV} must be a whole number of bytes, at least {_MIN_MAX_BYTES}, got {text!r}")
    return int(text)


def split_bytes(data: bytes, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """``data`` in pieces of at most ``limit`` bytes, cut between UTF-8 characters."""
    while len(data) > limit:
        cut = limit
        while cut > limit - 4 and (data[cut] & 0xC0) == 0x80:  # not inside a multi-byte character
            cut -= 1
        yield data[:cut]
        data = data[cut:]
    yield data


def split_line(line: str, limit: int = MAX_LINE_BYTES) -> list[str]:
    """A line as one or more lines of at most ``limit`` UTF-8 bytes (all of it kept)."""
    if len(line) * 4 <= limit:  # cannot be too long: skip the encoding
        return [line]
    encoded = line.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return [line]
    return [piece.decode("utf-8", "surrogatepass") for piece in split_bytes(encoded, limit)]


class LineSplitter:
    """Output bytes in, lines out: split at newlines, and over-long lines into pieces of at
    most ``limit`` bytes cut between UTF-8 characters; no byte is dropped."""

    def __init__(self, limit: int = MAX_LINE_BYTES):
        self.limit = limit
        self.pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        out = [self._text(piece) for raw in lines for piece in split_bytes(raw.removesuffix(b"\r"), self.limit)]
        if len(self.pending) > self.limit:
            *full, self.pending = split_bytes(self.pending, self.limit)
            out += [self._text(piece) for piece in full]
        return out

    def flush(self) -> list[str]:
        rest, self.pending = self.pending.removesuffix(b"\r"), b""
        return [self._text(piece) for piece in split_bytes(rest, self.limit)] if rest else []

    @staticmethod
    def _text(piece: bytes) -> str:
        return piece.decode("utf-8", "replace")


class RunLog:
    """Appends lines to ``path`` until half of ``max_bytes`` is written; from then on keeps
    the last half in memory and, on ``close()``, writes a marker and that tail."""

    def __init__(self, path: Path | str, max_bytes: int = DEFAULT_RUN_LOG_MAX_BYTES):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._head_left = max_bytes // 2
        self._tail_budget = max_bytes - max_bytes // 2
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_bytes = 0
        self.dropped_lines = self.dropped_bytes = 0
        # 0600: other users of the machine do not read a run's output
        self._file = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        self._lock = threading.Lock()
        self._closed = False

    def write(self, line: str) -> None:
        """One line (a newline inside it becomes a space), split when over MAX_LINE_BYTES."""
        for piece in split_line(line.replace("\n", " ")):
            self._write(piece.encode("utf-8", "replace") + b"\n")

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            if not self._tail and len(data) <= self._head_left:
                self._file.write(data)
                self._file.flush()  # `scenario logs --follow` reads the file while the run goes on
                self._head_left -= len(data)
                return
            if not self._tail and not self.dropped_lines:
                self._file.write(
                    f"tektii: this run's log passed {self.max_bytes - self._tail_budget:,} bytes; the lines after "
                    f"this appear when the run ends (a run keeps the first and the last {self._tail_budget:,} "
                    f"bytes of its log, {MAX_BYTES_ENV})\n".encode()
                )
                self._file.flush()
            self._tail.append(data)
            self._tail_bytes += len(data)
            while self._tail_bytes > self._tail_budget:
                dropped = self._tail.popleft()
                self._tail_bytes -= len(dropped)
                self.dropped_lines += 1
                self.dropped_bytes += len(dropped)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.dropped_lines:
                self._file.write(
                    f"tektii: [... {self.dropped_lines:,} lines ({self.dropped_bytes:,} bytes) dropped: each run "
                    f"keeps the first and the last {self._tail_budget:,} bytes of its log ...]\n".encode()
                )
            self._file.writelines(self._tail)
            self._tail.clear()
            self._file.close()

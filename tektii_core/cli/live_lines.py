"""Lines a command redraws in place on a terminal while it waits: the output of an image build or
push, and the progress of a backtest run. Piped, with --quiet or with machine output they fall
back to plain lines (or none). `ctx` is the CLI context (stdout, tty, quiet, verbose, say)."""

from __future__ import annotations

import os
import time
from typing import Any


class _LiveLine:
    """One line rewritten in place (carriage return, erase the line) when stdout is a terminal
    showing tables; `live` is False otherwise, and the subclass prints plain lines instead."""

    def __init__(self, ctx: Any, *, live: bool = True):
        self.ctx = ctx
        self.live = live and ctx.tty and not ctx.quiet and ctx.output_format == "table"

    def _redraw(self, text: str) -> None:
        self.ctx.stdout.write("\r\033[K" + text)
        self.ctx.stdout.flush()

    def close(self) -> None:
        """Erase the line, so that what is printed next starts on a clean one."""
        if self.live:
            self._redraw("")


class BuildOutputLine(_LiveLine):
    """Build output: one self-overwriting line on a terminal, every line with -v, step lines when piped."""

    STEP_PREFIXES = ("Step ", "STEP ", "#", "COMMIT", "Successfully", "-->", "Pushing", "Pushed", "Layer already exists")

    def __init__(self, ctx: Any):
        super().__init__(ctx, live=not ctx.verbose)  # -v prints every line instead
        self.width = max(20, (os.get_terminal_size(ctx.stdout.fileno()).columns if self.live else 80) - 4)

    def __call__(self, line: str) -> None:
        line = line.rstrip()
        if not line:
            return
        if self.live:
            self._redraw("  " + line[: self.width])
        elif self.ctx.verbose or line.lstrip().startswith(self.STEP_PREFIXES):
            self.ctx.say(f"  {line}")


class RunProgressLine(_LiveLine):
    """A backtest's progress: a redrawn bar on a terminal; a plain line every few seconds (or 10% of
    the window) otherwise."""

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.last_line = 0.0
        self.last_fraction = -1.0

    def update(self, s: dict[str, Any]) -> None:
        """Show a scenario object's state and progress (fraction, events/s, equity, simulated time)."""
        p = s.get("progress") or {}
        fraction = float(p.get("fraction") or 0.0)
        text = f"{s['state']:<8} {fraction * 100:5.1f}%"
        if p.get("eventsPerSecond") is not None:
            text += f"  {p['eventsPerSecond']:,.0f} events/s"
        if p.get("equity") is not None:
            text += f"  equity {p['equity']:,.2f}"
        if p.get("simulatedTime"):
            text += f"  at {p['simulatedTime']}"
        if self.live:
            filled = int(fraction * 30)
            self._redraw(f"[{'█' * filled}{'░' * (30 - filled)}] {text}")
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or fraction - self.last_fraction >= 0.1:
            self.ctx.say(text)
            self.last_line, self.last_fraction = now, fraction

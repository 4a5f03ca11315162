"""A strategy flooding its output cannot fill the disk: the stored run log is capped (head and
tail kept, a marker says how much was dropped) and over-long lines are split, not cut."""

from __future__ import annotations

import re
from pathlib import Path

from tektii_testkit import WalkFeed

from tektii_core.scenario_config.validate import build_config
from tektii_engine.gateway.session import StrategyLauncher
from tektii_engine.run import RunLimits, run_backtest
from tektii_engine.runlog import MAX_LINE_BYTES, RunLog
from tektii_plugins.runtimes.process import ProcessRuntime

T0 = 1_704_067_200
FLOOD_LINES = 200_000  # 2.5 MB of short lines
HUGE_LINE = 20_000_000  # one 20 MB line
LONG = "".join(chr(0x41 + i % 26) for i in range(100_000)) + "é" * 20_000  # 140 KB, multi-byte at the end
FLOOD = f'''
import sys
from tektii import TradingGateway
print({LONG!r}, flush=True)
sys.stdout.write("y" * {HUGE_LINE} + "\\n")
for i in range({FLOOD_LINES}):
    print("flood", i)
sys.stdout.flush()
with TradingGateway() as gw:
    with gw.stream(on_backtest_complete=lambda e: print("complete", flush=True)) as events:
        for event in events:
            pass
'''


def test_log_flood_keeps_head_and_tail_within_the_cap(tmp_path: Path):
    strategy = tmp_path / "flood.py"
    strategy.write_text(FLOOD)
    cap = 1024 * 1024
    log = RunLog(tmp_path / "strategy.log", cap)
    launcher = StrategyLauncher(ProcessRuntime(), path=strategy, log=log.write)
    config = build_config([("C:BTCUSD", ["candle_1m"])], T0, T0 + 600)
    result = run_backtest(config, WalkFeed(), launcher, limits=RunLimits(ack_timeout_s=60))
    log.close()
    assert result.state == "COMPLETE", result.reason

    stored = (tmp_path / "strategy.log").read_bytes()
    assert len(stored) <= cap + 1024, len(stored)  # the cap plus two marker lines
    lines = stored.decode().splitlines()
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in lines)
    # The head: the long line whole, as consecutive pieces cut between characters.
    pieces = -(-len(LONG.encode()) // MAX_LINE_BYTES)
    assert "".join(lines[:pieces]) == LONG
    # The tail: the flood's last lines and the strategy's last words.
    assert lines[-1] == "complete"
    assert lines[-2] == f"flood {FLOOD_LINES - 1}"
    marker = next(re.search(r"\[\.\.\. ([\d,]+) lines \(([\d,]+) bytes\) dropped", line) for line in lines
                  if "dropped" in line)
    assert marker is not None
    dropped_lines, dropped_bytes = (int(n.replace(",", "")) for n in marker.groups())
    assert dropped_bytes > HUGE_LINE  # the huge line went, in pieces, with most of the flood
    kept_flood = [line for line in lines if line.startswith("flood ")]
    first_kept = int(kept_flood[0].split()[1])
    assert [int(line.split()[1]) for line in kept_flood] == list(range(first_kept, FLOOD_LINES))  # a contiguous tail
    pieces_of_y = -(-HUGE_LINE // MAX_LINE_BYTES)
    assert dropped_lines == pieces_of_y + first_kept - sum(line.startswith("y") for line in lines)

"""The process runtime: environment, captured output, process-group stop, entry points."""

from __future__ import annotations

import textwrap
import time

import pytest

from tektii_core.contracts import RunningStrategy, RuntimeLimits, StrategyLaunch, TektiiError
from tektii_plugins.runtimes.process import ProcessRuntime, wait_exit


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for its reaper, it does not run)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def launch(path, lines, **kw):
    return StrategyLaunch(
        run_id="run_test",
        gateway_url="http://127.0.0.1:9",
        api_key="k123",
        log=lines.append,
        path=path,
        **kw,
    )


def write(tmp_path, name, code):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def test_env_and_line_by_line_output(tmp_path, monkeypatch):
    monkeypatch.setenv("TEKTII_API_KEY", "platform-secret")
    script = write(
        tmp_path,
        "s.py",
        """
        import os, sys
        for k in ("TEKTII_TRADING_GATEWAY_URL", "TEKTII_TRADING_GATEWAY_API_KEY",
                  "TRADING_GATEWAY_URL", "TRADING_GATEWAY_API_KEY", "EXTRA", "TEKTII_API_KEY"):
            print(k, os.environ.get(k))
        print("to stderr", file=sys.stderr)
        """,
    )
    lines: list[str] = []
    strategy = ProcessRuntime().start(launch(script, lines, env={"EXTRA": "x"}))
    assert isinstance(strategy, RunningStrategy)
    assert wait_exit(strategy, 30) == 0
    strategy.stop()
    assert lines == [
        "TEKTII_TRADING_GATEWAY_URL http://127.0.0.1:9",
        "TEKTII_TRADING_GATEWAY_API_KEY k123",
        "TRADING_GATEWAY_URL http://127.0.0.1:9",
        "TRADING_GATEWAY_API_KEY k123",
        "EXTRA x",
        "TEKTII_API_KEY None",  # the platform's own key never reaches strategy code
        "to stderr",
    ]
    assert strategy.log_tail(2) == "TEKTII_API_KEY None\nto stderr"


def test_directory_runs_main_py_in_its_folder(tmp_path):
    write(tmp_path, "strat/helper.py", "NAME = 'helper'\n")
    write(tmp_path, "strat/main.py", "import helper, os\nprint(helper.NAME, os.getcwd())\n")
    lines: list[str] = []
    strategy = ProcessRuntime().start(launch(tmp_path / "strat", lines))
    assert wait_exit(strategy, 30) == 0
    strategy.stop()
    assert lines == [f"helper {tmp_path / 'strat'}"]


def test_missing_entry_points_are_user_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TektiiError, match="No main.py"):
        ProcessRuntime().start(launch(tmp_path / "empty", []))
    with pytest.raises(TektiiError, match="Strategy not found"):
        ProcessRuntime().start(launch(tmp_path / "nope.py", []))


def test_stop_kills_the_whole_process_group_and_is_idempotent(tmp_path):
    script = write(
        tmp_path,
        "spawner.py",
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print("child", child.pid, flush=True)
        time.sleep(600)
        """,
    )
    lines: list[str] = []
    strategy = ProcessRuntime().start(launch(script, lines))
    deadline = time.monotonic() + 30
    while not lines and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(lines[0].split()[1])
    strategy.stop(timeout=2)
    strategy.stop()
    assert strategy.poll() is not None
    assert not running(strategy.pid) and not running(child)


def test_wall_clock_limit_kills(tmp_path):
    script = write(tmp_path, "slow.py", "import time\ntime.sleep(600)\n")
    strategy = ProcessRuntime().start(launch(script, [], limits=RuntimeLimits(wall_clock_s=0.5)))
    assert wait_exit(strategy, 30) is not None
    assert "wall-clock limit of 0.5 s" in strategy.exit_reason
    strategy.stop()


def test_registered_as_a_plugin():
    from tektii_core.plugins import Plugins  # noqa: PLC0415

    runtimes = Plugins().runtimes
    assert isinstance(runtimes["process"], ProcessRuntime)

"""The `process` runtime: a strategy file or directory run as a local Python subprocess.

For the local inner loop (`tektii backtest run PATH`) and for templates where Docker is
absent. The strategy runs with the current interpreter (so the `tektii` SDK is importable),
talks to the engine on 127.0.0.1 with a per-run key. Its stdout/stderr are captured line by
line; stop() kills its process group.

Not sandboxed for the inner loop (only its wall clock is limited). An isolated launch
(``StrategyLaunch.isolate``: the platform's scenario runs) started as root runs the strategy as
a fresh unprivileged user (a uid of its own per run, no groups, no new privileges) in a
directory of its own, with a minimal environment and resource limits: address space, CPU
time, processes and open files (strategy_launcher.py does the switch; docs/runtimes.md).
"""

from __future__ import annotations

import collections
import json
import math
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tektii_core import hookimpl
from tektii_core.contracts import Availability, LogFn, RunningStrategy, RuntimeLimits, StrategyLaunch, TektiiError

# Never hand the platform's own credentials, or another run's gateway, to strategy code.
_SCRUBBED_PREFIXES = ("TEKTII_", "TRADING_GATEWAY_")
LOG_LINES = 5000
# Isolated runs as root: one uid (and gid) per run from a range no account uses.
UNPRIVILEGED_UID_BASE = 1_500_000_000
UNPRIVILEGED_UID_SPAN = 500_000_000
OPEN_FILES_LIMIT = 1024
DEFAULT_CPU_SECONDS = 3600  # CPU time when the launch has no wall-clock limit
ADDRESS_SPACE_FACTOR = 4  # virtual memory is reserved generously (thread stacks, malloc arenas)
MIN_ADDRESS_SPACE_MB = 2048


ENTRY_FILES = ("main.py", "strategy.py")  # strategy.py: the layout of Tektii's example strategies


def strategy_entry(path: Path) -> Path:
    """The file to run: PATH itself; for a directory, the script its Dockerfile's CMD (or
    ENTRYPOINT) runs with python, else its main.py, else its strategy.py."""
    path = Path(path)
    if path.is_dir():
        script = dockerfile_script(path)
        if script is not None:
            return script
        for name in ENTRY_FILES:
            if (path / name).is_file():
                return path / name
        raise TektiiError(
            f"No main.py or strategy.py in strategy directory {path}, and no Dockerfile CMD that runs a .py file",
            hint="Point at the strategy file, or add a main.py (or strategy.py) that runs the strategy.",
        )
    if not path.is_file():
        raise TektiiError(f"Strategy not found: {path}")
    return path


def dockerfile_script(directory: Path) -> Path | None:
    """The .py file the directory's Dockerfile runs (its last ENTRYPOINT followed by its last
    CMD, exec form `["python", "x.py"]` or shell form `python x.py`), when it is in the
    directory; an absolute path is taken relative to the last WORKDIR."""
    import json
    import posixpath
    import shlex

    dockerfile = directory / "Dockerfile"
    if not dockerfile.is_file():
        return None
    text = dockerfile.read_text(errors="replace").replace("\\\n", " ")
    last: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    workdir = "/"
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "WORKDIR" and rest:
            workdir = posixpath.join(workdir, rest)
        elif word in last:
            try:
                parsed = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            except ValueError:
                continue
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                last[word] = parsed
    script = next((arg for arg in last["ENTRYPOINT"] + last["CMD"] if arg.endswith(".py")), None)
    if script is None:
        return None
    if posixpath.isabs(script):
        script = posixpath.relpath(script, workdir)
    found = (directory / script).resolve()
    return found if found.is_file() and found.is_relative_to(directory.resolve()) else None


class ProcessStrategy:
    """A running strategy subprocess (RunningStrategy)."""

    def __init__(self, proc: subprocess.Popen, log: LogFn, wall_clock_s: float | None,
                 cleanup: Callable[[], None] | None = None):
        self._proc = proc
        self._cleanup = cleanup
        self._log = log
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._lock = threading.Lock()
        self._stopped = False
        self.exit_reason: str | None = None
        self._reader = threading.Thread(target=self._read, name="strategy-log", daemon=True)
        self._reader.start()
        self._timer: threading.Timer | None = None
        if wall_clock_s:
            self._timer = threading.Timer(wall_clock_s, self._wall_clock, args=(wall_clock_s,))
            self._timer.daemon = True
            self._timer.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> None:
        from tektii_engine.runlog import LineSplitter

        assert self._proc.stdout is not None
        # Read in chunks, never a whole line at once: one line can be larger than memory.
        splitter = LineSplitter()
        while chunk := self._proc.stdout.read1(65536):
            self._lines(splitter.feed(chunk))
        self._lines(splitter.flush())
        self._proc.stdout.close()

    def _lines(self, lines: list[str]) -> None:
        for line in lines:
            with self._lock:
                self._tail.append(line)
            try:
                self._log(line)
            except Exception:  # noqa: BLE001 - a failing log sink must not stop the capture
                pass

    def _wall_clock(self, limit: float) -> None:
        if self._proc.poll() is None:
            self.exit_reason = f"strategy exceeded its wall-clock limit of {limit:g} s"
            self._kill_group(signal.SIGKILL)

    def _kill_group(self, sig: int) -> None:
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def poll(self) -> int | None:
        return self._proc.poll()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._proc.poll() is None:
            self._kill_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Also whatever the strategy spawned, even when the leader already exited.
        self._kill_group(signal.SIGKILL)
        self._proc.wait()
        self._reader.join(timeout=timeout)
        if self._cleanup is not None:
            self._cleanup()

    def log_tail(self, lines: int = 50) -> str:
        with self._lock:
            tail = list(self._tail)[-lines:] if lines > 0 else []
        return "\n".join(tail)


class ProcessRuntime:
    name = "process"
    description = (
        "Runs a strategy file or directory (its main.py) as a local Python subprocess;"
        " not isolated, for trusted code and the local inner loop"
    )

    def availability(self) -> Availability:
        return Availability(True)

    def start(self, launch: StrategyLaunch) -> RunningStrategy:
        if launch.path is None:
            raise TektiiError("The process runtime needs a strategy file or directory to run")
        entry = strategy_entry(launch.path).resolve()
        if launch.isolate and os.geteuid() == 0:
            return _start_unprivileged(entry, launch)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        env.update(launch.env)
        env.update(_gateway_env(launch))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-u", str(entry)],
                cwd=entry.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole on stop()
            )
        except OSError as exc:
            raise TektiiError(f"Could not start the strategy {entry}: {exc}") from exc
        return ProcessStrategy(proc, launch.log, launch.limits.wall_clock_s)


def _gateway_env(launch: StrategyLaunch) -> dict[str, str]:
    return {
        "TEKTII_TRADING_GATEWAY_URL": launch.gateway_url,
        "TEKTII_TRADING_GATEWAY_API_KEY": launch.api_key,
        "TRADING_GATEWAY_URL": launch.gateway_url,
        "TRADING_GATEWAY_API_KEY": launch.api_key,
        "PYTHONUNBUFFERED": "1",
    }


def resource_limits(limits: RuntimeLimits) -> dict[str, int]:
    """The rlimits of an isolated run: address space, CPU seconds, processes, open files."""
    memory_mb = limits.memory_mb or RuntimeLimits().memory_mb or 1024
    cpu = math.ceil(limits.wall_clock_s) if limits.wall_clock_s else DEFAULT_CPU_SECONDS
    return {
        "RLIMIT_AS": max(memory_mb * ADDRESS_SPACE_FACTOR, MIN_ADDRESS_SPACE_MB) * 1024 * 1024,
        "RLIMIT_CPU": cpu,
        "RLIMIT_NPROC": limits.pids or RuntimeLimits().pids or 256,
        "RLIMIT_NOFILE": OPEN_FILES_LIMIT,
    }


def hidden_ancestors(paths: list[Path]) -> dict[str, list[str]]:
    """For each path another user cannot reach, its highest ancestor that others cannot
    traverse, with the paths to show through it (the launcher mounts them back in)."""
    hidden: dict[str, list[str]] = {}
    for path in paths:
        for ancestor in reversed(path.parents):  # from / down
            if ancestor == Path("/"):
                continue
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                hidden.setdefault(str(ancestor), [])
                if str(path) not in hidden[str(ancestor)]:
                    hidden[str(ancestor)].append(str(path))
                break
    return hidden


def _start_unprivileged(entry: Path, launch: StrategyLaunch) -> RunningStrategy:
    uid = UNPRIVILEGED_UID_BASE + secrets.randbelow(UNPRIVILEGED_UID_SPAN)
    workdir = Path(tempfile.mkdtemp(prefix=f"tektii-strategy-{launch.run_id}-"))
    os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    # What the strategy must reach: the interpreter (its installation and the virtualenv) and its code.
    needed = [Path(p).resolve() for p in {sys.base_prefix, sys.prefix}] + [entry.parent]
    # A minimal environment: nothing of the platform's own (its variables may hold secrets).
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", **launch.env, **_gateway_env(launch)}
    spec = {
        "uid": uid,
        "gid": uid,
        "workdir": str(workdir),
        "argv": [sys.executable, "-u", str(entry)],  # the virtualenv's own path: it finds its packages
        "env": env,
        "limits": resource_limits(launch.limits),
        "expose": hidden_ancestors(needed),
    }
    launcher = Path(__file__).with_name("strategy_launcher.py")
    try:
        proc = subprocess.Popen(  # the launcher runs as root: with a fixed environment, in isolated mode
            [sys.executable, "-I", str(launcher), json.dumps(spec)],
            cwd=workdir,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise TektiiError(f"Could not start the strategy {entry}: {exc}") from exc
    return ProcessStrategy(proc, launch.log, launch.limits.wall_clock_s,
                           cleanup=lambda: shutil.rmtree(workdir, ignore_errors=True))


def wait_exit(strategy: RunningStrategy, timeout: float) -> int | None:
    """Poll until the strategy exits or `timeout` passes (helper for tests and callers)."""
    deadline = time.monotonic() + timeout
    while (code := strategy.poll()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return code


@hookimpl(trylast=True)
def register_runtimes(register) -> None:
    register(ProcessRuntime())

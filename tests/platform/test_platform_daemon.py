"""Daemon control and `python -m tektii_platform`: real processes, real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tektii_core.contracts import TektiiError
from tektii_platform import daemon

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


def _gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    yield path
    daemon.stop(path, timeout=5)  # never leave a server behind


def test_data_dir_default_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TEKTII_DATA_DIR", str(tmp_path / "x"))
    assert daemon.data_dir_default() == tmp_path / "x"
    monkeypatch.delenv("TEKTII_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert daemon.data_dir_default() == tmp_path / "xdg" / "tektii"


def test_start_status_stop_round_trip(data_dir):
    assert daemon.status(data_dir) is None
    info = daemon.start_background(data_dir, port=0)
    assert info.url.startswith("http://127.0.0.1:")
    assert daemon.status(data_dir) == info
    assert daemon.start_background(data_dir) == info  # idempotent: the same process
    state = json.loads((data_dir / "platform.json").read_text())
    assert state["url"] == info.url and state["pid"] == info.pid

    user_id, key = daemon.bootstrap_local_user(data_dir)
    me = requests.get(f"{info.url}/v1/me", headers={"X-API-Key": key}, timeout=10).json()["data"]
    assert me == {"id": user_id, "name": "local", "role": "admin", "createdAt": me["createdAt"]}
    again_id, again_key = daemon.bootstrap_local_user(data_dir)
    assert again_id == user_id and again_key != key  # same user, a new key; both work
    assert requests.get(f"{info.url}/v1/me", headers={"X-API-Key": key}, timeout=10).ok

    assert daemon.stop(data_dir) is True
    assert _gone(info.pid)
    assert daemon.status(data_dir) is None
    assert not (data_dir / "platform.json").exists()
    assert daemon.stop(data_dir) is False
    log = (data_dir / "platform.log").read_text()
    assert '"GET /v1/me" 200' in log and "shutting down" in log


def test_data_survives_restart(data_dir):
    info = daemon.start_background(data_dir, port=0)
    _user, key = daemon.bootstrap_local_user(data_dir)
    created = requests.post(f"{info.url}/v1/strategies", json={"name": "kept"}, headers={"X-API-Key": key}, timeout=10)
    assert created.status_code == 201
    daemon.stop(data_dir)
    info = daemon.start_background(data_dir, port=0)
    listed = requests.get(f"{info.url}/v1/strategies", headers={"X-API-Key": key}, timeout=10).json()["data"]
    assert [s["name"] for s in listed["strategies"]] == ["kept"]


def test_stale_state_file_is_ignored_and_replaced(data_dir):
    data_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data_dir / "platform.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    assert daemon.status(data_dir) is None
    assert daemon.stop(data_dir) is False  # nothing to stop; nobody signalled
    assert not (data_dir / "platform.json").exists()
    (data_dir / "platform.json").write_text("{not json")
    info = daemon.start_background(data_dir, port=0)
    assert daemon.status(data_dir) == info


def test_state_naming_an_unrelated_live_process_is_left_alone(data_dir):
    data_dir.mkdir(parents=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (data_dir / "platform.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": bystander.pid}))
        assert daemon.status(data_dir) is None
        assert daemon.stop(data_dir, timeout=1) is False
        assert bystander.poll() is None  # still alive
    finally:
        bystander.kill()
        bystander.wait()


def test_start_failure_is_a_clear_error(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TektiiError, match="exited during start-up") as raised:
            daemon.start_background(data_dir, port=port)
    assert "platform.log" in (raised.value.hint or "")
    assert daemon.status(data_dir) is None


def test_serve_foreground_stops_cleanly_on_sigterm(tmp_path):
    data_dir = tmp_path / "fg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tektii_platform", "serve", "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        info = None
        while info is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            info = daemon.status(data_dir)
            time.sleep(0.05)
        assert info is not None and info.pid == proc.pid
        assert requests.get(f"{info.url}/healthz", timeout=10).json()["data"]["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        output = proc.stdout.read()
        assert '"GET /healthz" 200' in output and "received SIGTERM" in output and "Traceback" not in output
        assert not (data_dir / "platform.json").exists()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{info.url}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_admin_commands_create_list_and_revoke(tmp_path):
    data_dir = str(tmp_path / "admin")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tektii_platform", *args, "--data-dir", data_dir],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )

    created = run("user", "create", "Dana")
    assert created.returncode == 0, created.stderr
    key = next(w for w in created.stdout.split() if w.startswith("tk_"))
    user_id = next(w for w in created.stdout.split() if w.startswith("user_"))
    listed = run("user", "list")
    assert user_id in listed.stdout and "Dana" in listed.stdout
    second = run("key", "create", user_id)
    assert second.returncode == 0 and "tk_" in second.stdout
    assert run("key", "revoke", key).returncode == 0
    again = run("key", "revoke", key)
    assert again.returncode == 1 and again.stderr.startswith("Error: No such active API key")
    bad = run("user", "create", "no;pe")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: Invalid user name") and "Traceback" not in bad.stderr
    missing = run("key", "create", "user_nobody")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr

"""For the attacks on a real platform on loopback (tests/workflows/security, issue 9 "Trust
boundaries"): an attacker's listener, a CLI as some user, raw API calls, a tiny image upload."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .cli import CLI, base_env
from .platforms import Platform

TINY_DOCKERFILE = "FROM python:3.11-slim\nCOPY main.py /app/main.py\nCMD [\"python\", \"/app/main.py\"]\n"


class Listener:
    """An HTTP server of the test's own on 127.0.0.1 that records every request it gets (the
    attacker's credential collector)."""

    def __init__(self) -> None:
        seen: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _record

            def log_message(self, *args) -> None:
                pass

        self.requests = seen
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def cli_for(platform: Platform, home: Path, key: str) -> CLI:
    home.mkdir(parents=True, exist_ok=True)
    return CLI(home, {**base_env(home), "TEKTII_API_URL": platform.url, "TEKTII_API_KEY": key})


def call(platform: Platform, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["X-API-Key"] = key
    kwargs.setdefault("timeout", 30)
    return requests.request(method, platform.url + path, headers=headers, **kwargs)


def new_strategy(platform: Platform, key: str, name: str) -> str:
    response = call(platform, "POST", "/v1/strategies", key, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def upload_tiny_image(cli: CLI, strategy_id: str, project: Path, message: str = "hello") -> dict:
    """`tektii version upload` of a one-file image through the real Docker daemon; the version."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "Dockerfile").write_text(TINY_DOCKERFILE)
    (project / "main.py").write_text(f"print({message!r})\n")
    done = cli("version", "upload", strategy_id, "--git-sha", "abc1234", cwd=project)
    assert done.code == 0, done.out + done.err
    version_id = next(line.split(": ")[1] for line in done.out.splitlines() if line.startswith("  Version ID: "))
    shown = cli("--output", "json", "version", "get", strategy_id, version_id)
    assert shown.code == 0, shown.err
    version = json.loads(shown.out)["data"]
    assert version["state"] == "READY", version
    return version


def registry_realm(platform: Platform) -> str:
    """The realm the running registry was started with (it starts with the platform, in the
    background: wait for its pid file)."""
    registry = platform.data_dir / "registry"
    deadline = time.monotonic() + 30
    while not (registry / "registry.pid").exists():
        assert time.monotonic() < deadline, "the registry did not start with the platform"
        time.sleep(0.05)
    return json.loads((registry / "config.json").read_text())["auth"]["token"]["realm"]

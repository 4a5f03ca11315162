"""A real platform server (waitress on a real socket on 127.0.0.1) per test, in a temporary
data directory, talked to over HTTP with requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tektii_platform import accounts
from tektii_platform.server import RunningServer


class Api:
    """The running server plus helpers to make users and call it as one of them."""

    def __init__(self, server: RunningServer, data_dir: Path):
        self.server = server
        self.data_dir = data_dir
        self.url = server.url
        self.db = server.app.db
        self.http = requests.Session()

    def new_user(self, name: str = "alice", *, admin: bool = False) -> str:
        _user, key = accounts.create_user(self.db, name, admin=admin)
        return key

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = key
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def create(self, key: str, name: str) -> dict:
        response = self.call("POST", "/v1/strategies", key, json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["data"]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    data_dir = tmp_path / "data"
    server = RunningServer(data_dir, "127.0.0.1", 0)
    thread = server.start_thread()
    client = Api(server, data_dir)
    try:
        yield client
    finally:
        client.http.close()
        server.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "server did not shut down"



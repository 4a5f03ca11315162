"""Which database the platforms that tests start use: SQLite in their data directory (the
default), or, with TEKTII_TEST_DATABASE=postgres, a fresh PostgreSQL database each on the
session's server (the `platform_databases` fixture of tests/conftest.py starts it and hands it
here). docs/testing.md, "Both databases"."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tektii_clusters import PostgresServer

TEST_DATABASE_ENV = "TEKTII_TEST_DATABASE"
DATABASE_URL_ENV = "TEKTII_DATABASE_URL"
KINDS = ("sqlite", "postgres")


def database_kind() -> str:
    """The kind of database the test platforms use in this session: "sqlite" or "postgres"."""
    kind = os.environ.get(TEST_DATABASE_ENV, "").strip().lower() or "sqlite"
    if kind not in KINDS:
        raise pytest.UsageError(f"{TEST_DATABASE_ENV} must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


class _Databases:
    """The session's PostgreSQL server (None: SQLite) and the databases made on it."""

    def __init__(self) -> None:
        self.server: PostgresServer | None = None
        self.made: dict[str, str] = {}  # url -> database name

    def new_url(self) -> str | None:
        if self.server is None:
            return None
        name = f"p_{uuid.uuid4().hex[:16]}"
        url = self.server.create_database(name)
        self.made[url] = name
        return url

    def drop(self, url: str | None) -> None:
        name = self.made.pop(url, None) if url else None
        if name is not None and self.server is not None:
            self.server.drop_database(name)


_databases = _Databases()


def new_platform_database() -> str | None:
    """A fresh, empty database for one test platform: its TEKTII_DATABASE_URL, or None (SQLite)."""
    return _databases.new_url()


def drop_platform_database(url: str | None) -> None:
    """Drop a database new_platform_database() made (anything else is left alone)."""
    _databases.drop(url)


@contextmanager
def platform_databases_on(server: PostgresServer) -> Iterator[None]:
    """Test platforms get their databases on `server` until the end; those not dropped by then
    (platforms a test started and stopped itself) are dropped with it."""
    _databases.server = server
    try:
        yield
    finally:
        for url in list(_databases.made):
            _databases.drop(url)
        _databases.server = None

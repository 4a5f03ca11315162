"""SQLite storage for the local platform: one file per data directory, WAL mode, a
connection per thread, and ordered schema migrations.

Concurrency: WAL lets readers proceed while one writer commits; every write runs in
``BEGIN IMMEDIATE`` so that writers queue on the busy timeout up front instead of failing
with "database is locked" when a read transaction tries to upgrade to a write.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from tektii_core.contracts import TektiiError

from .ids import now_db

log = logging.getLogger(__name__)

DB_FILENAME = "tektii.db"
BUSY_TIMEOUT_MS = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The migrations shipped in tektii_platform/migrations, ordered by version."""
    found = []
    for entry in resources.files("tektii_platform.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        # A gap or a duplicate would make "applied up to N" ambiguous.
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a SQL script into statements (executescript would COMMIT our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise RuntimeError(f"incomplete SQL statement at end of migration: {buffer.strip()[:80]}")
    return statements


class Database:
    """A SQLite file shared by the threads of one process (and by other processes)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    # -- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("database is closed")
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # only so that close() may close it from another thread
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Durable at every checkpoint; with WAL, NORMAL cannot corrupt the database.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (call once the threads are done)."""
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- queries -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested use joins the outer one."""
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self.connection().execute(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write, in the caller's transaction or its own; the number of rows it changed."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    # -- schema ------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self.query_one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        if row is None:
            return 0
        return int(self.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0])

    def migrate(self, migrations: Sequence[Migration] | None = None) -> list[int]:
        """Apply the migrations not applied yet, each in its own transaction; return their
        versions. Safe when several processes start at once: the check runs inside the
        write transaction."""
        migrations = load_migrations() if migrations is None else list(migrations)
        conn = self.connection()
        # WAL is a property of the file; switching needs no other connection in a transaction.
        conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        current = self.schema_version()
        known = migrations[-1].version if migrations else 0
        if current > known:
            raise TektiiError(
                f"The platform database {self.path} has schema version {current}, newer than this tektii knows ({known}).",
                hint="Upgrade tektii, or use another data directory (TEKTII_DATA_DIR).",
            )
        applied = []
        for migration in migrations:
            with self.transaction():
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?",
                    (migration.version,),
                ).fetchone()
                if done:
                    continue
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_db()),
                )
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        return applied


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` says another writer held the database past the busy timeout."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def private_data_dir(data_dir: Path) -> Path:
    """``data_dir``, created if needed, 0700: everything in it is the platform's alone (its
    database holds key hashes, its registry config the HTTP secret, its runs other users' logs)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_uid == os.geteuid():
        data_dir.chmod(0o700)  # an existing or pre-made directory too
    return data_dir


def open_database(data_dir: Path) -> Database:
    """Open (creating if needed) the platform database in ``data_dir`` and migrate it; the
    directory is 0700 and the database files 0600."""
    data_dir = private_data_dir(data_dir)
    path = data_dir / DB_FILENAME
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives -wal/-shm the same mode
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_uid == os.geteuid():
            file.chmod(0o600)
    db = Database(path)
    try:
        db.migrate()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise TektiiError(f"Cannot open the platform database {db.path}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db

"""The platform's database: SQLite in the data directory (the default) or PostgreSQL
(``TEKTII_DATABASE_URL`` / ``--database-url``), through SQLAlchemy Core, its schema made and
upgraded by the Alembic revisions in tektii_platform/migrations (docs/database.md).

Connections: one per thread, in autocommit mode; ``transaction()`` issues BEGIN/COMMIT itself.
On SQLite that BEGIN is ``BEGIN IMMEDIATE`` (WAL lets readers go on while one writer commits;
writers queue on the busy timeout up front instead of failing with "database is locked" when
a read transaction tries to upgrade to a write). On PostgreSQL it is a plain BEGIN (READ
COMMITTED): the queue claim uses row locks (store.scenarios.claim_next).

SQLAlchemy and Alembic are imported here, and this module only by the platform's processes:
``tektii --help`` and the client commands never load them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from tektii_core.cli.platform_admin import DATABASE_URL_ENV
from tektii_core.contracts import TektiiError

log = logging.getLogger(__name__)

DB_FILENAME = "tektii.db"
BUSY_TIMEOUT_MS = 10_000
# the key of the advisory lock that serialises concurrent migrations on PostgreSQL
_MIGRATION_LOCK = 0x7465_6B74_6969  # "tektii"


def database_url_from_env() -> str | None:
    """``$TEKTII_DATABASE_URL`` when set (checked by open_database), else None: SQLite."""
    return os.environ.get(DATABASE_URL_ENV, "").strip() or None


def redact(url: str) -> str:
    """`url` without its password, for logs, status and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparseable: say nothing of what it holds
        return "<an unparseable database URL>"


def postgres_url(url: str) -> sa.URL:
    """A ``postgresql://`` URL for SQLAlchemy with the psycopg 3 driver; TektiiError for any other."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the message must not echo a password
        raise TektiiError(f"{DATABASE_URL_ENV} is not a database URL: {redact(url)}",
                          hint="e.g. postgresql://USER:PASSWORD@HOST:5432/DATABASE") from None
    if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise TektiiError(f"{DATABASE_URL_ENV} must be a postgresql:// URL, got {redact(url)}",
                          hint="Unset it to keep the platform's SQLite database in its data directory.")
    if not parsed.database:
        raise TektiiError(f"{DATABASE_URL_ENV} names no database: {redact(url)}")
    return parsed.set(drivername="postgresql+psycopg")


class Database:
    """One database (a SQLite file or a PostgreSQL database) shared by the threads of this
    process, and by other processes."""

    def __init__(self, url: str | sa.URL | Path):
        if isinstance(url, Path):
            url = sa.URL.create("sqlite", database=str(url))
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()  # "sqlite" or "postgresql"
        self.path = Path(self.url.database) if self.dialect == "sqlite" else None
        connect_args: dict[str, Any] = {}
        if self.dialect == "sqlite":
            connect_args = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        else:
            connect_args = {"connect_timeout": 10, "application_name": "tektii-platform"}
        # NullPool: each thread keeps its connection for its life (below), so a pool adds nothing
        self.engine = sa.create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                       connect_args=connect_args)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._closed = False

    def describe(self) -> str:
        """Where the data is, for people: the file, or the URL without its password."""
        return str(self.path) if self.path is not None else self.url.render_as_string(hide_password=True)

    # -- connections -------------------------------------------------------------------

    def connection(self) -> Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("database is closed")
            conn = self.engine.connect()
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
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - a broken connection is closed all the same
                    log.debug("closing a database connection failed", exc_info=True)
            self._connections.clear()
        self._local = threading.local()
        self.engine.dispose()

    # -- queries -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; nested use joins the outer one."""
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            try:
                conn.exec_driver_sql("ROLLBACK")
            except Exception:  # noqa: BLE001 - the original error is the one to see
                log.debug("rollback failed", exc_info=True)
            raise
        else:
            conn.exec_driver_sql("COMMIT")
        finally:
            self._local.depth = 0

    def _run(self, statement: Any, params: Mapping[str, Any] | None) -> sa.CursorResult:
        if isinstance(statement, str):
            statement = sa.text(statement)
        return self.connection().execute(statement, dict(params or {}))

    def query(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a Core statement (or SQL text with :name parameters), as dicts."""
        return [dict(row) for row in self._run(statement, params).mappings()]

    def query_one(self, statement: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        row = self._run(statement, params).mappings().first()
        return dict(row) if row is not None else None

    def scalar(self, statement: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self._run(statement, params).scalar()

    def execute(self, statement: Any, params: Mapping[str, Any] | None = None) -> int:
        """One write, in the caller's transaction or its own; the number of rows it changed."""
        with self.transaction():
            return self._run(statement, params).rowcount

    # -- schema ------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> list[str]:
        """Upgrade the schema to `revision` (tektii_platform/migrations); the revisions applied.
        Safe when several processes start at once: on SQLite the upgrade runs in one BEGIN
        IMMEDIATE transaction, on PostgreSQL (transactional DDL) under an advisory lock."""
        from .migrations import upgrade

        if self.dialect == "sqlite":
            # WAL is a property of the file; switching needs no other connection in a transaction.
            self.connection().exec_driver_sql("PRAGMA journal_mode = WAL")
        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            applied = upgrade(conn, revision, self.describe())
        for name in applied:
            log.info("applied migration %s", name)
        return applied

    def schema_revision(self) -> str | None:
        """The Alembic revision the schema is at (None: an empty database)."""
        from .migrations import current_revision

        return current_revision(self.connection())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Durable at every checkpoint; with WAL, NORMAL cannot corrupt the database.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` says another writer held the database past the busy timeout (SQLite), or
    PostgreSQL gave up on a lock or a serialisation; either way, a retry may succeed."""
    orig = getattr(exc, "orig", exc)
    text = str(orig)
    if type(orig).__module__.startswith("sqlite3"):
        return type(orig).__name__ == "OperationalError" and ("locked" in text or "busy" in text)
    return getattr(orig, "sqlstate", None) in ("40001", "40P01", "55P03")


def private_data_dir(data_dir: Path) -> Path:
    """``data_dir``, created if needed, 0700: everything in it is the platform's alone (its
    database holds key hashes, its registry config the HTTP secret, its runs other users' logs)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_uid == os.geteuid():
        data_dir.chmod(0o700)  # an existing or pre-made directory too
    return data_dir


def open_database(data_dir: Path, url: str | None = None) -> Database:
    """Open the platform database and migrate it: PostgreSQL at `url` (default
    ``$TEKTII_DATABASE_URL``), else SQLite in ``data_dir`` (created if needed; the directory
    0700, the database files 0600)."""
    url = url or database_url_from_env()
    data_dir = private_data_dir(data_dir)
    if url is not None:
        db = Database(postgres_url(url))
    else:
        path = data_dir / DB_FILENAME
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives -wal/-shm the same mode
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists() and file.stat().st_uid == os.geteuid():
                file.chmod(0o600)
        db = Database(path)
    try:
        db.migrate()
    except sa.exc.SQLAlchemyError as exc:
        db.close()
        # the driver's message, never the URL's password (SQLAlchemy does not echo it)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise TektiiError(f"Cannot open the platform database {db.describe()}: {reason}") from None
    except BaseException:
        db.close()
        raise
    return db

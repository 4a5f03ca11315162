"""The platform's schema migrations: Alembic revisions in ``versions/`` (0001_initial ...), run by
``Database.migrate`` through ``upgrade`` below on SQLite and PostgreSQL alike (docs/database.md).

Before Alembic, a hand-written runner applied ``NNNN_name.sql`` files and counted them in the
table ``schema_migrations``; revision ``NNNN`` of ``versions/`` makes exactly what file NNNN
made, so such a database is stamped at the revision of its last file and upgraded from there,
in place. The table stays, with a row of version ``LEGACY_MOVED`` added, so that an older
tektii refuses the database ("newer than this tektii knows") instead of using a schema it does
not know."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tektii_core.contracts import TektiiError

LEGACY_TABLE = "schema_migrations"
LEGACY_MOVED = 1000


def config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection, revision: str, where: str) -> list[str]:
    """Upgrade the schema on `connection` (inside the caller's transaction) to `revision`;
    returns the revisions applied, as "0005_sweeps". `where` names the database in errors."""
    import logging

    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)  # Database.migrate logs what it applied
    scripts = script()
    _adopt_legacy(connection, scripts, where)
    applied: list[str] = []
    cfg = config(connection)
    cfg.attributes["applied"] = applied
    command.upgrade(cfg, revision)
    return applied


def _newer(where: str, found: str, scripts: ScriptDirectory) -> TektiiError:
    return TektiiError(
        f"The platform database {where} has schema revision {found}, newer than this tektii knows "
        f"({scripts.get_current_head()}).",
        hint="Upgrade tektii, or use another data directory (TEKTII_DATA_DIR) or database (TEKTII_DATABASE_URL).")


def _adopt_legacy(connection: sa.Connection, scripts: ScriptDirectory, where: str) -> None:
    """A database of the old runner (``schema_migrations``, no Alembic version yet): stamp it at
    the revision of its last applied file."""
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    if LEGACY_TABLE not in tables or "alembic_version" in tables:
        _check_known(connection, scripts, where)
        return
    version = connection.execute(sa.text(f"SELECT COALESCE(MAX(version), 0) FROM {LEGACY_TABLE}")).scalar() or 0
    if version >= LEGACY_MOVED:
        return  # moved already (alembic_version then exists; a half state cannot commit)
    if version == 0:
        return  # nothing applied: upgrade from the start
    revision = f"{int(version):04d}"
    if scripts.get_revision(revision) is None:
        raise TektiiError(
            f"The platform database {where} has schema version {version}, newer than this tektii knows.",
            hint="Upgrade tektii, or use another data directory (TEKTII_DATA_DIR).")
    MigrationContext.configure(connection).stamp(scripts, revision)
    connection.execute(sa.text(f"INSERT INTO {LEGACY_TABLE} (version, name, applied_at) VALUES (:v, :n, :t)"),
                       {"v": LEGACY_MOVED, "n": "moved_to_alembic", "t": _now()})


def _check_known(connection: sa.Connection, scripts: ScriptDirectory, where: str) -> None:
    current = current_revision(connection)
    if current is None:
        return
    try:
        known = scripts.get_revision(current)
    except Exception:  # noqa: BLE001 - alembic raises for a revision it has no script of
        known = None
    if known is None:
        raise _newer(where, current, scripts)


def _now() -> str:
    from ..ids import now_db

    return now_db()

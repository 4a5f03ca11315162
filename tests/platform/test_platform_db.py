"""Storage: Alembic migrations on SQLite and PostgreSQL, upgrading databases of the old runner in
place, transactions, concurrent writers and migrating processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tektii_core.contracts import TektiiError
from tektii_platform import accounts
from tektii_platform.db import Database, open_database, postgres_url
from tektii_platform.migrations import LEGACY_MOVED, script
from tektii_platform.store import strategies, tables

# SQLite and PostgreSQL (postgres_url) by the test's own choice, old SQLite files, SQLite's errors
pytestmark = pytest.mark.own_database("picks SQLite, old SQLite files or PostgreSQL itself")

ROOT = Path(__file__).resolve().parents[2]
LEGACY = Path(__file__).parent / "legacy_db"  # made by main's hand-written runner (make.py there)
HEAD = script().get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path) -> tuple[Path, str | None]:
    """(data directory, database URL): SQLite in the directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path, None
    return tmp_path, request.getfixturevalue("postgres_url")


def test_a_fresh_database_migrates_to_head_and_again_is_a_no_op(where):
    db = open_database(*where)
    assert db.schema_revision() == HEAD
    if db.dialect == "sqlite":
        assert db.scalar("PRAGMA journal_mode") == "wal"
    db.close()
    again = open_database(*where)
    assert again.migrate() == []
    again.close()


def test_the_migrated_schema_is_the_stores_metadata(where):
    """store/tables.py and the revisions describe the same tables and columns."""
    db = open_database(*where)
    inspector = sa.inspect(db.connection())
    made = {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}
    made.pop("alembic_version")
    assert made == {t.name: {c.name for c in t.columns} for t in tables.metadata.sorted_tables}
    db.close()


def test_revisions_apply_in_order_and_report_their_names(where):
    data_dir, url = where
    db = Database(data_dir / "t.db") if url is None else Database(postgres_url(url))
    assert db.migrate("0003") == ["0001_initial", "0002_versions", "0003_scenarios"]
    assert db.schema_revision() == "0003"
    assert db.migrate()[0] == "0004_user_roles"
    assert db.schema_revision() == HEAD
    db.close()


def _legacy(tmp_path: Path, name: str) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(LEGACY / name, data / "tektii.db")
    return data


def test_a_database_of_the_old_runner_upgrades_in_place_with_its_data(tmp_path):
    data = _legacy(tmp_path, "legacy-v5.db")
    key = (LEGACY / "legacy-v5.key").read_text().strip()
    db = open_database(data)
    assert db.schema_revision() == HEAD
    # the old runner's table stays, marked so that an older tektii refuses the database
    assert db.scalar("SELECT MAX(version) FROM schema_migrations") == LEGACY_MOVED
    user = accounts.authenticate(db, key)
    assert user is not None and user.name == "legacy-admin" and user.role == "admin"
    found = strategies.find_by_name(db, user.id, "old-strategy")  # still case-insensitive
    assert found is not None and found["id"] == "strat_old"
    scenario = db.query_one("SELECT state, metrics, sweep_id, scheduler_id FROM scenarios WHERE id = 'scen_old'")
    assert scenario == {"state": "COMPLETE", "metrics": '{"totalReturn": 0.125}', "sweep_id": "swp_old",
                        "scheduler_id": None}
    # the old unique index still refuses a name differing only in case
    with pytest.raises(strategies.Conflict):
        strategies.insert(db, {"id": "strat_dup", "name": "OLD-STRATEGY", "owner_id": user.id, "created_by": user.id,
                               "created_at": "2024-03-01T00:00:00.000000Z", "updated_at": "2024-03-01T00:00:00.000000Z"})
    db.close()
    again = open_database(data)
    assert again.migrate() == [] and again.scalar("SELECT COUNT(*) FROM scenarios") == 1
    again.close()


def test_an_old_database_part_way_is_stamped_at_its_version_and_upgraded(tmp_path):
    data = _legacy(tmp_path, "legacy-v3.db")
    db = Database(data / "tektii.db")
    applied = db.migrate()
    assert applied == ["0004_user_roles", "0005_sweeps", "0006_scheduler_id", "0007_run_tokens"]
    # 0004 made the first user an admin, as the old 0004_user_roles.sql did
    assert db.query("SELECT id, role FROM users ORDER BY created_at") == [
        {"id": "user_first", "role": "admin"}, {"id": "user_second", "role": "user"}]
    assert db.scalar("SELECT name FROM strategies WHERE id = 'strat_a'") == "Alpha"
    db.close()


def test_a_database_newer_than_this_tektii_is_refused(where):
    db = open_database(*where)
    db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()
    with pytest.raises(TektiiError, match="9999, newer than this tektii knows"):
        open_database(*where)


def test_nested_transactions_roll_back_together(where):
    db = open_database(*where)
    with pytest.raises(ValueError, match="boom"), db.transaction():
        db.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        with db.transaction():
            db.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
        raise ValueError("boom")
    assert db.scalar("SELECT COUNT(*) FROM meta") == 0
    with db.transaction():
        db.execute("INSERT INTO meta (key, value) VALUES ('c', '3')")
    assert db.scalar("SELECT value FROM meta WHERE key = 'c'") == "3"
    db.close()


def test_concurrent_writers_from_threads_and_a_second_connection(where):
    db = open_database(*where)
    other = Database(db.url)  # another "process": separate connections
    errors: list[BaseException] = []

    def write(target: Database, base: int) -> None:
        try:
            for i in range(50):
                with target.transaction():
                    target.scalar("SELECT COUNT(*) FROM meta")
                    target.execute("INSERT INTO meta (key, value) VALUES (:k, 'x')", {"k": str(base + i)})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(db if n % 2 else other, n * 1000)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.scalar("SELECT COUNT(*) FROM meta") == 400
    db.close()
    other.close()


def test_closed_database_refuses_new_connections(tmp_path):
    db = Database(tmp_path / "t.db")
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        db.connection()


def test_unreadable_database_is_a_clear_error(tmp_path):
    (tmp_path / "tektii.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(TektiiError, match="Cannot open the platform database"):
        open_database(tmp_path)


def test_processes_migrating_a_fresh_database_at_once_apply_each_revision_once(where):
    data_dir, url = where
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TEKTII_DATABASE_URL", None)
    if url is not None:
        env["TEKTII_DATABASE_URL"] = url
    code = "import sys; from tektii_platform.db import open_database; open_database(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(data_dir)], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    db = open_database(*where)
    assert db.query("SELECT version_num FROM alembic_version") == [{"version_num": HEAD}]
    db.close()


def test_the_old_runners_check_refuses_a_moved_database(tmp_path):
    """What main's runner does on start (schema version > the files it ships: refuse), against
    a database this code upgraded."""
    data = _legacy(tmp_path, "legacy-v5.db")
    open_database(data).close()
    conn = sqlite3.connect(data / "tektii.db")
    current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    conn.close()
    assert current > 5  # main ships 5 files: "newer than this tektii knows"

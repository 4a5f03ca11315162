"""Storage: migrations, WAL, transactions."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tektii_core.contracts import TektiiError
from tektii_platform.db import Database, Migration, load_migrations, open_database, split_statements


def test_migrations_apply_once_and_rerun_is_a_no_op(tmp_path):
    db = open_database(tmp_path)
    shipped = load_migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert db.schema_version() == shipped[-1].version
    rows = db.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in shipped]
    assert db.query_one("PRAGMA user_version")[0] == shipped[-1].version
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"
    db.close()

    again = open_database(tmp_path)
    assert again.migrate() == []
    assert again.query_one("SELECT COUNT(*) FROM schema_migrations")[0] == len(shipped)
    again.close()


def test_new_migration_applies_on_top_in_order(tmp_path):
    db = Database(tmp_path / "t.db")
    first = [Migration(1, "one", "CREATE TABLE a (x INTEGER);")]
    assert db.migrate(first) == [1]
    second = first + [
        Migration(2, "two", "ALTER TABLE a ADD COLUMN y TEXT;\nCREATE INDEX a_y ON a(y);"),
        Migration(3, "three", "INSERT INTO a (x, y) VALUES (1, 'semi;colon');"),
    ]
    assert db.migrate(second) == [2, 3]
    assert db.query_one("SELECT y FROM a")[0] == "semi;colon"
    assert db.migrate(second) == []
    db.close()


def test_failing_migration_rolls_back_entirely(tmp_path):
    db = Database(tmp_path / "t.db")
    db.migrate([Migration(1, "one", "CREATE TABLE a (x INTEGER);")])
    broken = [
        Migration(1, "one", "CREATE TABLE a (x INTEGER);"),
        Migration(2, "broken", "CREATE TABLE b (x INTEGER);\nINSERT INTO missing VALUES (1);"),
    ]
    with pytest.raises(sqlite3.OperationalError):
        db.migrate(broken)
    assert db.schema_version() == 1
    assert db.query_one("SELECT name FROM sqlite_master WHERE name = 'b'") is None
    db.close()


def test_database_newer_than_code_is_refused(tmp_path):
    db = Database(tmp_path / "t.db")
    db.migrate([Migration(1, "one", "SELECT 1;"), Migration(2, "two", "SELECT 1;")])
    with pytest.raises(TektiiError, match="schema version 2, newer"):
        db.migrate([Migration(1, "one", "SELECT 1;")])
    db.close()


def test_split_statements_keeps_triggers_whole():
    script = """
    -- comment
    CREATE TABLE t (x);
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 1;
        UPDATE t SET x = 2;
    END;
    INSERT INTO t VALUES ('a;b');
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(RuntimeError, match="incomplete"):
        split_statements("CREATE TABLE t (x);\nCREATE TABLE u (")


def test_transaction_rolls_back_on_error_and_nests(tmp_path):
    db = Database(tmp_path / "t.db")
    db.migrate([Migration(1, "one", "CREATE TABLE a (x INTEGER);")])
    with pytest.raises(ValueError, match="boom"), db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (1)")
        with db.transaction() as inner:
            inner.execute("INSERT INTO a VALUES (2)")
        raise ValueError("boom")
    assert db.query_one("SELECT COUNT(*) FROM a")[0] == 0
    with db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (3)")
    assert db.query_one("SELECT x FROM a")[0] == 3
    db.close()


def test_concurrent_writers_from_threads_and_a_second_connection(tmp_path):
    db = Database(tmp_path / "t.db")
    db.migrate([Migration(1, "one", "CREATE TABLE a (x INTEGER);")])
    other = Database(tmp_path / "t.db")  # another "process": separate connections
    errors: list[BaseException] = []

    def write(target: Database, base: int) -> None:
        try:
            for i in range(50):
                with target.transaction() as conn:
                    current = conn.execute("SELECT COUNT(*) FROM a").fetchone()[0]
                    conn.execute("INSERT INTO a VALUES (?)", (base + i + current * 0,))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(db if n % 2 else other, n * 1000)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.query_one("SELECT COUNT(*) FROM a")[0] == 400
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


def test_processes_migrating_a_fresh_database_at_once_apply_each_migration_once(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from tektii_platform.db import open_database; open_database(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    db = open_database(tmp_path)
    versions = [r[0] for r in db.query("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in load_migrations()]
    db.close()

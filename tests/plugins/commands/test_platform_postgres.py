"""`tektii platform up|serve --database-url postgresql://...` (and TEKTII_DATABASE_URL) keep the
platform's state in PostgreSQL; the password shows nowhere: not in status, the log or errors."""

from __future__ import annotations

import json

import psycopg


def test_up_with_a_database_url_stores_in_postgres_and_hides_the_password(cli, postgres_url, postgres_server):
    password = postgres_server.password
    try:
        up = cli("platform", "up", "--database-url", postgres_url)
        assert up.code == 0, up.err
        made = cli("strategy", "create", "--name", "in-postgres")
        assert made.code == 0, made.err
        status = json.loads(cli("--output", "json", "platform", "status").out)["data"]
        assert status["running"] and status["database"].startswith("postgresql+psycopg://tektii:***@127.0.0.1:")
        table = cli("platform", "status")
        assert "Database" in table.out and password not in table.out
        assert password not in (cli.home / "data" / "platform.json").read_text()
    finally:
        down = cli("platform", "down")
    assert down.out.startswith("✓ Local platform stopped")
    log = (cli.home / "data" / "platform.log").read_text()
    assert "postgresql+psycopg://tektii:***@" in log and password not in log
    with psycopg.connect(postgres_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM strategies").fetchall()]
    assert names == ["in-postgres"]
    assert not (cli.home / "data" / "tektii.db").exists()  # nothing went to SQLite


def test_a_wrong_password_is_one_error_line_without_the_password(cli, postgres_url, postgres_server):
    wrong = postgres_url.replace(postgres_server.password, "not-the-password-42")
    done = cli("platform", "serve", "--port", "0", "--database-url", wrong)
    assert done.code != 0
    errors = [line for line in done.err.splitlines() if line.startswith("Error:")]  # serve logs to stderr too
    assert len(errors) == 1, done.err
    assert errors[0].startswith("Error: Cannot open the platform database postgresql+psycopg://tektii:***@127.0.0.1:")
    assert "password authentication failed" in errors[0]
    assert "not-the-password-42" not in done.err + done.out and "Traceback" not in done.err


def test_a_database_url_of_another_kind_is_refused(cli):
    done = cli("platform", "serve", "--port", "0", env={"TEKTII_DATABASE_URL": "mysql://root:hunter2@localhost/x"})
    assert done.code != 0
    assert done.err.startswith("Error: TEKTII_DATABASE_URL must be a postgresql:// URL, got mysql://root:***@localhost/x")
    assert "hunter2" not in done.err

"""Market data is shared: an ordinary user cannot replace what other users' scenarios replay
(403), an admin can, and every user's scenarios still read it. Users and roles are managed with
`tektii platform user create|list|revoke`; an existing database migrates with its first user
as admin."""

from __future__ import annotations

import json

import pytest
from tektii_testkit import CLI, Platform, assert_error, base_env, call, cli_for, new_strategy

from tektii_platform.db import Database, postgres_url

SYMBOL = "C:BTCUSD"
WINDOW = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z", "seed": 1}
FORGED_CSV = "time,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T00:01:00Z,1,1,1,1,1\n"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    server = Platform(tmp_path_factory.mktemp("roles") / "data")
    yield server
    server.stop()


def instrument(platform: Platform) -> dict:
    listed = call(platform, "GET", "/v1/instruments").json()["data"]["instruments"]
    return next(i for i in listed if i["symbol"] == SYMBOL)


def test_an_ordinary_user_cannot_replace_shared_market_data(platform, tmp_path):
    admin = platform.new_user("ops", admin=True)
    assert call(platform, "GET", "/v1/me", admin).json()["data"]["role"] == "admin"
    generated = call(platform, "POST", f"/v1/instruments/{SYMBOL}/generate", admin, json=WINDOW)
    assert generated.status_code == 200, generated.text
    before = instrument(platform)

    mallory = platform.new_user("mallory")
    assert call(platform, "GET", "/v1/me", mallory).json()["data"]["role"] == "user"
    for response in (
        call(platform, "POST", f"/v1/instruments/{SYMBOL}/import", mallory, data=FORGED_CSV,
             params={"mode": "replace", "timeframe": "1m"}),
        call(platform, "POST", f"/v1/instruments/{SYMBOL}/generate", mallory, json={**WINDOW, "seed": 666}),
        call(platform, "POST", "/v1/instruments/C:NEWCOIN/generate", mallory, json=WINDOW),
    ):
        error = assert_error(response, 403, "admin_required")
        assert error["message"].startswith("Only a platform admin can import, generate or replace market data")
    forged = tmp_path / "forged.csv"
    forged.write_text(FORGED_CSV)
    through_cli = cli_for(platform, tmp_path / "home", mallory)("data", "import", SYMBOL, str(forged), "--replace")
    assert through_cli.code == 1 and through_cli.err.startswith("Error: Only a platform admin"), through_cli.err
    assert "Traceback" not in through_cli.err
    assert instrument(platform) == before
    assert "C:NEWCOIN" not in [i["symbol"] for i in call(platform, "GET", "/v1/instruments").json()["data"]["instruments"]]

    # Everybody's scenarios still read it.
    strategy_id = new_strategy(platform, mallory, "reader")
    version = call(platform, "POST", f"/v1/strategies/{strategy_id}/versions", mallory,
                   json={"gitSha": "abc1234", "template": "ma-crossover"}).json()["data"]["id"]
    config = {"strategyVersionId": version, "subscriptions": [{"instrument": SYMBOL, "events": ["candle_1h"]}],
              "startTime": WINDOW["start"], "endTime": WINDOW["end"]}
    created = call(platform, "POST", f"/v1/strategies/{strategy_id}/scenarios", mallory, json=config)
    assert created.status_code == 201, created.text


def test_platform_user_create_list_revoke(platform, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # the platform's data directory and database (its TEKTII_DATABASE_URL: None drops it, for SQLite)
    admin_cli = CLI(home, {**base_env(home), "TEKTII_DATA_DIR": str(platform.data_dir),
                           "TEKTII_DATABASE_URL": platform.database_url})
    made = admin_cli("--output", "json", "platform", "user", "create", "Erin")
    assert made.code == 0, made.err
    erin = json.loads(made.out)["data"]
    assert erin["role"] == "user" and erin["apiKey"].startswith("tk_")
    boss = admin_cli("platform", "user", "create", "Boss", "--admin")
    assert boss.code == 0 and boss.out.startswith("Created admin user_"), boss.out + boss.err
    listed = json.loads(admin_cli("--output", "json", "platform", "user", "list").out)["data"]["users"]
    roles = {u["name"]: u["role"] for u in listed}
    assert roles["Erin"] == "user" and roles["Boss"] == "admin"
    assert call(platform, "GET", "/v1/me", erin["apiKey"]).status_code == 200
    revoked = admin_cli("platform", "user", "revoke", erin["id"])
    assert revoked.code == 0 and f"Revoked {erin['id']}" in revoked.out, revoked.err
    assert_error(call(platform, "GET", "/v1/me", erin["apiKey"]), 401, "invalid_api_key")
    again = admin_cli("platform", "user", "revoke", erin["id"])
    assert again.code == 1 and again.err.startswith(f"Error: No active user {erin['id']}")


def test_platform_key_create_and_revoke(platform, tmp_path):
    """`tektii platform key` reaches what only `python -m tektii_platform key` did, on the same
    code; `--data-dir` names the directory instead of TEKTII_DATA_DIR."""
    home = tmp_path / "home"
    home.mkdir()
    admin_cli = CLI(home, {**base_env(home), "TEKTII_DATABASE_URL": platform.database_url})
    where = ("--data-dir", str(platform.data_dir))
    frank = json.loads(admin_cli("--output", "json", "platform", "user", "create", "Frank", *where).out)["data"]
    made = admin_cli("--output", "json", "platform", "key", "create", frank["id"], *where)
    assert made.code == 0, made.err
    second = json.loads(made.out)["data"]["apiKey"]
    assert second.startswith("tk_") and second != frank["apiKey"]
    assert call(platform, "GET", "/v1/me", second).json()["data"]["id"] == frank["id"]
    revoked = admin_cli("platform", "key", "revoke", second, *where)
    assert revoked.code == 0 and "Revoked." in revoked.out, revoked.err
    assert_error(call(platform, "GET", "/v1/me", second), 401, "invalid_api_key")
    assert call(platform, "GET", "/v1/me", frank["apiKey"]).status_code == 200  # the first key stays
    again = admin_cli("platform", "key", "revoke", second, *where)
    assert again.code == 1 and again.err.startswith("Error: No such active API key") and "Traceback" not in again.err
    nobody = admin_cli("platform", "key", "create", "user_nobody", *where)
    assert nobody.code == 1 and nobody.err.startswith("Error: No user user_nobody")


def test_the_last_admin_cannot_be_revoked(tmp_path):
    from tektii_platform import accounts
    from tektii_platform.db import open_database

    db = open_database(tmp_path / "data")
    try:
        only, _key = accounts.create_user(db, "only", admin=True)
        with pytest.raises(Exception, match="last admin"):
            accounts.revoke_user(db, only.id)
    finally:
        db.close()


def test_an_existing_database_migrates_with_its_first_user_as_admin(tmp_path):
    """A database from before roles: its first user (the local one) becomes admin, the rest ordinary."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = Platform(data_dir, start=False)
    old = Database(postgres_url(server.database_url) if server.database_url else data_dir / "tektii.db")
    old.migrate("0003")  # the revision before user_roles
    with old.transaction():
        old.execute("INSERT INTO users (id, name, created_at) VALUES ('user_first', 'local', '2024-01-01T00:00:00.000000Z')")
        old.execute("INSERT INTO users (id, name, created_at) VALUES ('user_second', 'bob', '2024-02-01T00:00:00.000000Z')")
        old.execute("INSERT INTO meta (key, value) VALUES ('local_user_id', 'user_first')")
    old.close()
    server.start()  # migrates
    try:
        with server.database() as db:
            roles = {row["id"]: row["role"] for row in db.query("SELECT id, role FROM users")}
        assert roles == {"user_first": "admin", "user_second": "user"}
    finally:
        server.close()

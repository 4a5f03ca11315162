"""Users and API keys at the library level."""

from __future__ import annotations

import hashlib

import pytest
from tektii_testkit import drop_platform_database, new_platform_database

from tektii_core.contracts import TektiiError
from tektii_platform import accounts
from tektii_platform.db import open_database


@pytest.fixture
def db(tmp_path):
    """The platform's database in `tmp_path`: SQLite, or PostgreSQL under TEKTII_TEST_DATABASE=postgres."""
    url = new_platform_database()
    database = open_database(tmp_path, url)
    yield database
    database.close()
    drop_platform_database(url)


def test_keys_are_random_prefixed_and_stored_only_hashed(db, tmp_path):
    user, key = accounts.create_user(db, "alice")
    assert key.startswith("tk_") and len(key) == 3 + 52
    assert user.id.startswith("user_")
    other = accounts.create_api_key(db, user.id)
    assert other != key
    rows = db.query("SELECT prefix, key_hash FROM api_keys WHERE user_id = :u", {"u": user.id})
    assert {r["key_hash"] for r in rows} == {hashlib.sha256(k.encode()).hexdigest() for k in (key, other)}
    assert {r["prefix"] for r in rows} == {key[:11], other[:11]}
    stored = repr(db.query("SELECT * FROM api_keys")) + repr(db.query("SELECT * FROM users"))
    assert key not in stored and key[11:] not in stored
    if db.dialect == "sqlite":  # nor anywhere in its files
        db.query("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("tektii.db*"))
        assert key.encode() not in raw and key[11:].encode() not in raw


def test_authenticate_and_revoke(db):
    user, key = accounts.create_user(db, "alice")
    assert accounts.authenticate(db, key) == user
    assert accounts.authenticate(db, key[:-1] + ("a" if key[-1] != "a" else "b")) is None
    assert accounts.authenticate(db, "") is None
    assert accounts.revoke_api_key(db, key)
    assert accounts.authenticate(db, key) is None
    assert not accounts.revoke_api_key(db, key)  # already revoked


def test_revoke_by_key_id(db):
    user, key = accounts.create_user(db, "alice")
    key_id = db.query_one("SELECT id FROM api_keys WHERE user_id = :u", {"u": user.id})["id"]
    assert key_id.startswith("key_")
    assert accounts.revoke_api_key(db, key_id)
    assert accounts.authenticate(db, key) is None
    assert not accounts.revoke_api_key(db, "key_unknown")


def test_user_name_is_validated(db):
    for bad in ("", " x", "x" * 101, "a;b"):
        with pytest.raises(TektiiError, match="Invalid user name"):
            accounts.create_user(db, bad)
    assert accounts.list_users(db) == []


def test_key_for_unknown_user_is_refused(db):
    with pytest.raises(TektiiError, match="No user"):
        accounts.create_api_key(db, "user_nobody")


def test_local_user_is_created_once(db):
    first = accounts.ensure_local_user(db)
    assert first.name == "local"
    assert accounts.ensure_local_user(db) == first
    assert accounts.list_users(db) == [first]

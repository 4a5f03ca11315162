-- First release: users, their API keys, strategies, and a small key/value table.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,            -- user_...
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL                -- ids.now_db() format
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,            -- key_...
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,               -- first characters of the key, to find candidates
    key_hash    TEXT NOT NULL,               -- sha256 hex of the whole key
    created_at  TEXT NOT NULL,
    revoked_at  TEXT                         -- NULL while usable
);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE strategies (
    id          TEXT PRIMARY KEY,            -- strat_...
    owner_id    TEXT NOT NULL REFERENCES users(id),
    created_by  TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- Names are unique per owner, ignoring case, so "My-Strategy" and "my-strategy" cannot both exist.
CREATE UNIQUE INDEX strategies_owner_name ON strategies(owner_id, name COLLATE NOCASE);
-- Keyset pagination: newest first within one owner.
CREATE INDEX strategies_owner_created ON strategies(owner_id, created_at DESC, id DESC);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

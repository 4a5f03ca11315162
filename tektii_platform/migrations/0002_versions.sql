-- Versions of strategies (images in the platform's registry, or templates) and the
-- short-lived registry credentials issued for pushing and pulling them.

CREATE TABLE versions (
    id              TEXT PRIMARY KEY,            -- ver_...
    strategy_id     TEXT NOT NULL REFERENCES strategies(id),
    owner_id        TEXT NOT NULL REFERENCES users(id),
    parent_id       TEXT REFERENCES versions(id),
    git_sha         TEXT NOT NULL,
    git_dirty       INTEGER,                     -- 1/0, NULL when unknown
    template        TEXT,                        -- ma-crossover, rsi-momentum; NULL for uploaded images
    builder         TEXT,
    state           TEXT NOT NULL,               -- PENDING, READY, FAILED
    failure_reason  TEXT,
    repository      TEXT,                        -- e.g. strategies/strat_...
    digest          TEXT,                        -- sha256:... of the pushed manifest
    size            INTEGER,                     -- bytes of config + layers
    os              TEXT,
    architecture    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX versions_strategy_created ON versions(strategy_id, created_at DESC, id DESC);

CREATE TABLE registry_credentials (
    username     TEXT PRIMARY KEY,               -- push-<random> / pull-<random>
    secret_hash  TEXT NOT NULL,                  -- sha256 hex of the high-entropy password
    user_id      TEXT NOT NULL REFERENCES users(id),
    repository   TEXT NOT NULL,
    actions      TEXT NOT NULL,                  -- comma-separated: push,pull
    expires_at   TEXT NOT NULL
);

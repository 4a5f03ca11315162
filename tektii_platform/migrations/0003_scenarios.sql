-- Scenario runs. The table is also the scheduler's persistent queue: PENDING rows in
-- created order are started as run slots free up (tektii_platform/scheduler.py).

CREATE TABLE scenarios (
    id                TEXT PRIMARY KEY,            -- scen_...
    strategy_id       TEXT NOT NULL REFERENCES strategies(id),
    owner_id          TEXT NOT NULL REFERENCES users(id),
    version_id        TEXT NOT NULL REFERENCES versions(id),
    state             TEXT NOT NULL,               -- PENDING, RUNNING, COMPLETE, FAILED, CANCELLED
    failure_reason    TEXT,
    config            TEXT NOT NULL,               -- JSON: the config with defaults (ScenarioConfig.to_api())
    platform_host     TEXT,                        -- host:port the creating client used (registry token realm)
    runtime           TEXT,                        -- the runtime chosen when the run started
    backend           TEXT,                        -- the execution backend that ran it
    handle            TEXT,                        -- the backend's handle ident, e.g. pid:1234
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    progress          TEXT,                        -- JSON: fraction, eventsPerSecond, equity, simulatedTime
    metrics           TEXT,                        -- JSON: compute_metrics of a COMPLETE run
    counters          TEXT,                        -- JSON: candles, events, orders, fills, ...
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    updated_at        TEXT NOT NULL
);
-- Keyset pagination of one strategy's scenarios, newest first.
CREATE INDEX scenarios_strategy_created ON scenarios(strategy_id, created_at DESC, id DESC);
-- The queue: oldest PENDING first; and the RUNNING ones at start-up.
CREATE INDEX scenarios_state_created ON scenarios(state, created_at, id);

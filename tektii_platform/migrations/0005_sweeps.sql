-- Parameter sweeps (tektii_platform/sweeps.py): a sweep groups the scenarios it runs, one per
-- trial; a holdout sweep adds out-of-sample reruns of its best trials. Every scenario also
-- keeps its reproducibility record (tektii_engine/record.py) and, for a rerun, the original.

CREATE TABLE sweeps (
    id              TEXT PRIMARY KEY,            -- swp_...
    strategy_id     TEXT NOT NULL REFERENCES strategies(id),
    owner_id        TEXT NOT NULL REFERENCES users(id),
    version_id      TEXT NOT NULL REFERENCES versions(id),
    state           TEXT NOT NULL,               -- RUNNING, COMPLETE, FAILED, CANCELLED
    failure_reason  TEXT,
    spec            TEXT NOT NULL,               -- JSON: the validated sweep (tektii_core.sweep_spec) + parallelism
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    updated_at      TEXT NOT NULL
);
-- Keyset pagination of a user's sweeps, newest first; the driver's RUNNING ones.
CREATE INDEX sweeps_owner_created ON sweeps(owner_id, created_at DESC, id DESC);
CREATE INDEX sweeps_state ON sweeps(state);

ALTER TABLE scenarios ADD COLUMN sweep_id TEXT REFERENCES sweeps(id);
ALTER TABLE scenarios ADD COLUMN trial INTEGER;          -- the trial's number in its sweep, from 0
ALTER TABLE scenarios ADD COLUMN trial_params TEXT;      -- JSON: the trial's environment entries
ALTER TABLE scenarios ADD COLUMN sample TEXT;            -- 'in' (searched) or 'out' (holdout rerun)
ALTER TABLE scenarios ADD COLUMN reproducibility TEXT;   -- JSON: the run's record, once finished
ALTER TABLE scenarios ADD COLUMN rerun_of TEXT REFERENCES scenarios(id);
CREATE INDEX scenarios_sweep ON scenarios(sweep_id, sample, trial);

"""How legacy-v3.db and legacy-v5.db were made: with main's code of before the Alembic move
(commit d2d1d61), i.e. its hand-written runner and its NNNN_*.sql files, run as
``PYTHONPATH=<a checkout of that commit> python make.py OUT_DIR``. Kept for the record; the
tests only read the files it made (tests/platform/test_platform_db.py)."""

import json
import sqlite3
import sys
from pathlib import Path

from tektii_platform import accounts
from tektii_platform.db import Database, load_migrations, open_database

out = Path(sys.argv[1])

# v3: users, keys, strategies, versions, scenarios; no roles yet
v3 = Database(out / "legacy-v3.db")
v3.migrate(load_migrations()[:3])
with v3.transaction() as conn:
    conn.execute("INSERT INTO users (id, name, created_at) VALUES ('user_first', 'first', '2024-01-01T00:00:00.000000Z')")
    conn.execute("INSERT INTO users (id, name, created_at) VALUES ('user_second', 'second', '2024-01-02T00:00:00.000000Z')")
    conn.execute("INSERT INTO strategies VALUES ('strat_a', 'user_first', 'user_first', 'Alpha',"
                 " '2024-01-03T00:00:00.000000Z', '2024-01-03T00:00:00.000000Z')")
v3.close()

# v5 (main's latest): a user with a key, a strategy, a READY version, a COMPLETE scenario, a sweep
data = out / "v5"
db = open_database(data)
user, key = accounts.create_user(db, "legacy-admin", admin=True)
with db.transaction() as conn:
    conn.execute("INSERT INTO meta (key, value) VALUES ('local_user_id', ?)", (user.id,))
    conn.execute("INSERT INTO strategies VALUES ('strat_old', ?, ?, 'Old-Strategy', '2024-02-01T00:00:00.000000Z',"
                 " '2024-02-01T00:00:00.000000Z')", (user.id, user.id))
    conn.execute("INSERT INTO versions (id, strategy_id, owner_id, git_sha, git_dirty, template, state, created_at,"
                 " updated_at) VALUES ('ver_old', 'strat_old', ?, 'abc123', 0, 'ma-crossover', 'READY',"
                 " '2024-02-01T00:00:01.000000Z', '2024-02-01T00:00:01.000000Z')", (user.id,))
    conn.execute("INSERT INTO sweeps (id, strategy_id, owner_id, version_id, state, spec, created_at, updated_at)"
                 " VALUES ('swp_old', 'strat_old', ?, 'ver_old', 'COMPLETE', '{}', '2024-02-01T00:00:02.000000Z',"
                 " '2024-02-01T00:00:02.000000Z')", (user.id,))
    conn.execute("INSERT INTO scenarios (id, strategy_id, owner_id, version_id, state, config, metrics, created_at,"
                 " started_at, finished_at, updated_at, sweep_id, trial, sample) VALUES ('scen_old', 'strat_old', ?,"
                 " 'ver_old', 'COMPLETE', ?, ?, '2024-02-01T00:00:03.000000Z', '2024-02-01T00:00:04.000000Z',"
                 " '2024-02-01T00:00:05.000000Z', '2024-02-01T00:00:05.000000Z', 'swp_old', 0, 'in')",
                 (user.id, json.dumps({"strategyVersionId": "ver_old"}), json.dumps({"totalReturn": 0.125})))
db.close()
conn = sqlite3.connect(data / "tektii.db")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.execute("PRAGMA journal_mode = DELETE")
conn.close()
(data / "tektii.db").rename(out / "legacy-v5.db")
(out / "legacy-v5.key").write_text(key + "\n")

"""Two API server processes on one PostgreSQL database (issue 12), each with its own data
directory and scheduler: scenarios created through both start exactly once each, claimed with
FOR UPDATE SKIP LOCKED (store.scenarios.claim_next); a restart fails only its own leftovers."""

from __future__ import annotations

import psycopg
from tektii_testkit import SPEC_CONFIG, ServedPlatform, with_version

SHORT = {"startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-08T00:00:00Z"}


def _platform(tmp_path, name: str, url: str) -> ServedPlatform:
    # one run at a time each: the queue is longer than either process's capacity
    platform = ServedPlatform(tmp_path / name / "data", {"TEKTII_DATABASE_URL": url, "TEKTII_MAX_CONCURRENT_RUNS": "1"})
    platform.start()
    return platform


def test_scenarios_created_through_two_api_processes_each_run_exactly_once(tmp_path, postgres_url):
    a = _platform(tmp_path, "a", postgres_url)
    b = _platform(tmp_path, "b", postgres_url)
    try:
        key = a.new_user("shared", admin=True)  # one user, in the shared database
        for p in (a, b):  # market data lives in each data directory: the same seed makes the same candles
            p.generate(key, "C:BTCUSD", SHORT["startTime"], SHORT["endTime"])
        strategy = b.strategy(key, "both")
        version = a.template_version(key, strategy)
        config = with_version({**SPEC_CONFIG, **SHORT}, version)
        made = [(a if i % 2 else b).create(key, strategy, config)["scenarioId"] for i in range(8)]
        done = {sid: (a if n % 2 else b).wait(key, strategy, sid, timeout=300) for n, sid in enumerate(made)}
        assert {s["state"] for s in done.values()} == {"COMPLETE"}, done
        # each process sees every scenario with the same result
        assert {sid: a.get(key, strategy, sid) for sid in made} == \
               {sid: b.get(key, strategy, sid) for sid in made}
        # exactly once: each run directory exists in one data directory only, and it names that scheduler
        ran_in = {sid: [p for p in (a, b) if (p.data_dir / "runs" / sid).is_dir()] for sid in made}
        assert all(len(where) == 1 for where in ran_in.values()), ran_in
        ids = {p: (p.data_dir / "runs" / "scheduler-id").read_text().strip() for p in (a, b)}
        with psycopg.connect(postgres_url) as conn:
            rows = dict(conn.execute("SELECT id, scheduler_id FROM scenarios").fetchall())
        assert rows == {sid: ids[ran_in[sid][0]] for sid in made}
        assert set(rows.values()) == set(ids.values())  # both schedulers took part
    finally:
        a.stop()
        b.stop()


def test_a_restarted_process_fails_only_its_own_runs_left_running(tmp_path, postgres_url):
    a = _platform(tmp_path, "a", postgres_url)
    b = _platform(tmp_path, "b", postgres_url)
    try:
        key = a.new_user("shared", admin=True)
        strategy = a.strategy(key, "restart")
        version = a.template_version(key, strategy)
        with psycopg.connect(postgres_url) as conn:  # one RUNNING run of each scheduler, as a crash leaves them
            ids = {p: (p.data_dir / "runs" / "scheduler-id").read_text().strip() for p in (a, b)}
            user = conn.execute("SELECT id FROM users").fetchone()[0]
            for p, sid in ((a, "scen_of_a"), (b, "scen_of_b")):
                conn.execute("INSERT INTO scenarios (id, strategy_id, owner_id, version_id, state, config, created_at,"
                             " updated_at, scheduler_id)"
                             " VALUES (%s, %s, %s, %s, 'RUNNING', '{}', '2024-01-01', '2024-01-01', %s)",
                             (sid, strategy, user, version, ids[p]))
        a.kill()
        a.start()
        with psycopg.connect(postgres_url) as conn:
            states = dict(conn.execute("SELECT id, state FROM scenarios").fetchall())
        assert states == {"scen_of_a": "FAILED", "scen_of_b": "RUNNING"}
    finally:
        a.stop()
        b.stop()

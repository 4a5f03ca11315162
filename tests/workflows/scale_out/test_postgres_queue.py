"""The queue claim the platform's scheduler will use on PostgreSQL (issue 12): several API
processes share one database, and `SELECT ... FOR UPDATE SKIP LOCKED` gives each claimer rows
no other open transaction holds, so each run starts exactly once. Against a real server
(the `postgres_url` fixture: tests/tektii_clusters.py)."""

from __future__ import annotations

import threading

import pytest
from tektii_clusters import import_required

psycopg = import_required("psycopg", "the postgres extra is not installed (scripts/setup)")

CLAIM = "SELECT id FROM runs WHERE state = 'QUEUED' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"


@pytest.fixture
def queue(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id integer PRIMARY KEY, state text NOT NULL, claimed_by text)")
        conn.execute("INSERT INTO runs SELECT g, 'QUEUED', NULL FROM generate_series(1, 40) g")
    return postgres_url


def test_two_open_claims_get_distinct_rows(queue):
    with psycopg.connect(queue) as a, psycopg.connect(queue) as b:
        first = [r[0] for r in a.execute(CLAIM, (3,)).fetchall()]
        # a's transaction is still open and holds its rows: b skips them instead of waiting
        second = [r[0] for r in b.execute(CLAIM, (3,)).fetchall()]
        assert first == [1, 2, 3]
        assert second == [4, 5, 6]
        a.rollback()
        # released rows are claimable again, in creation order, except what b still holds
        again = [r[0] for r in a.execute(CLAIM, (4,)).fetchall()]
        assert again == [1, 2, 3, 7]


def test_without_skip_locked_the_second_claim_waits(queue):
    """The control: a plain FOR UPDATE blocks on the first claimer's rows (here: lock_timeout)."""
    with psycopg.connect(queue) as a, psycopg.connect(queue) as b:
        a.execute(CLAIM.replace(" SKIP LOCKED", ""), (3,))
        b.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            b.execute(CLAIM.replace(" SKIP LOCKED", ""), (3,))


def test_concurrent_claimers_start_each_run_exactly_once(queue):
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        mine = claimed.setdefault(name, [])
        with psycopg.connect(queue) as conn:
            start.wait(timeout=30)
            for _ in range(100):  # bounded: 40 rows in all
                with conn.transaction():
                    row = conn.execute(CLAIM, (1,)).fetchone()
                    if row is None:
                        return
                    conn.execute("UPDATE runs SET state = 'RUNNING', claimed_by = %s WHERE id = %s", (name, row[0]))
                    mine.append(row[0])

    threads = [threading.Thread(target=claimer, args=(f"api-{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    every = [run for runs in claimed.values() for run in runs]
    assert sorted(every) == list(range(1, 41))  # each once, none left out
    with psycopg.connect(queue) as conn:
        rows = conn.execute("SELECT claimed_by, count(*) FROM runs WHERE state = 'RUNNING' GROUP BY 1").fetchall()
    assert dict(rows) == {name: len(runs) for name, runs in claimed.items() if runs}
    assert sum(n for _, n in rows) == 40

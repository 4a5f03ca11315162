"""The platform's tables as SQLAlchemy Core metadata: what the store's queries are built from.

The schema itself is made and changed by the Alembic revisions in tektii_platform/migrations;
a new column goes into both (tests/platform/test_platform_db.py compares them). Timestamps are
``ids.now_db()`` text and JSON columns text on every database, so rows read the same on SQLite
and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, MetaData, Table, Text, text

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("role", Text, nullable=False, server_default="user"),
    Column("revoked_at", Text),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("revoked_at", Text),
)

strategies = Table(
    "strategies", metadata,
    Column("id", Text, primary_key=True),
    Column("owner_id", Text, ForeignKey("users.id"), nullable=False),
    Column("created_by", Text, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

versions = Table(
    "versions", metadata,
    Column("id", Text, primary_key=True),
    Column("strategy_id", Text, ForeignKey("strategies.id"), nullable=False),
    Column("owner_id", Text, ForeignKey("users.id"), nullable=False),
    Column("parent_id", Text, ForeignKey("versions.id")),
    Column("git_sha", Text, nullable=False),
    Column("git_dirty", Integer),
    Column("template", Text),
    Column("builder", Text),
    Column("state", Text, nullable=False),
    Column("failure_reason", Text),
    Column("repository", Text),
    Column("digest", Text),
    Column("size", BigInteger),
    Column("os", Text),
    Column("architecture", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

registry_credentials = Table(
    "registry_credentials", metadata,
    Column("username", Text, primary_key=True),
    Column("secret_hash", Text, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("repository", Text, nullable=False),
    Column("actions", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)

sweeps = Table(
    "sweeps", metadata,
    Column("id", Text, primary_key=True),
    Column("strategy_id", Text, ForeignKey("strategies.id"), nullable=False),
    Column("owner_id", Text, ForeignKey("users.id"), nullable=False),
    Column("version_id", Text, ForeignKey("versions.id"), nullable=False),
    Column("state", Text, nullable=False),
    Column("failure_reason", Text),
    Column("spec", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("finished_at", Text),
    Column("updated_at", Text, nullable=False),
)

scenarios = Table(
    "scenarios", metadata,
    Column("id", Text, primary_key=True),
    Column("strategy_id", Text, ForeignKey("strategies.id"), nullable=False),
    Column("owner_id", Text, ForeignKey("users.id"), nullable=False),
    Column("version_id", Text, ForeignKey("versions.id"), nullable=False),
    Column("state", Text, nullable=False),
    Column("failure_reason", Text),
    Column("config", Text, nullable=False),
    Column("platform_host", Text),
    Column("runtime", Text),
    Column("backend", Text),
    Column("handle", Text),
    Column("cancel_requested", Integer, nullable=False, server_default=text("0")),
    Column("progress", Text),
    Column("metrics", Text),
    Column("counters", Text),
    Column("created_at", Text, nullable=False),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("updated_at", Text, nullable=False),
    Column("sweep_id", Text, ForeignKey("sweeps.id")),
    Column("trial", Integer),
    Column("trial_params", Text),
    Column("sample", Text),
    Column("reproducibility", Text),
    Column("rerun_of", Text, ForeignKey("scenarios.id")),
    # which scheduler claimed the run (tektii_platform/scheduler.py): its recovery after a
    # restart touches only its own runs when several API processes share the database
    Column("scheduler_id", Text),
    Column("node", Text),  # where the run executed, as its backend names it (e.g. a Ray node's address)
)

# A run's credential (tektii_platform/run_tokens.py): only its hash; valid while the run is RUNNING.
run_tokens = Table(
    "run_tokens", metadata,
    Column("token_hash", Text, primary_key=True),
    Column("scenario_id", Text, ForeignKey("scenarios.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)

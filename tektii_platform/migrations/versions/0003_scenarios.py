"""scenarios: scenario runs; the table is also the scheduler's persistent queue (PENDING rows in
created order, tektii_platform/scheduler.py)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Text, primary_key=True),  # scen_...
        sa.Column("strategy_id", sa.Text, sa.ForeignKey("strategies.id"), nullable=False),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("version_id", sa.Text, sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # PENDING, RUNNING, COMPLETE, FAILED, CANCELLED
        sa.Column("failure_reason", sa.Text),
        sa.Column("config", sa.Text, nullable=False),  # JSON: the config with defaults
        sa.Column("platform_host", sa.Text),  # host:port the creating client used
        sa.Column("runtime", sa.Text),  # the runtime chosen when the run started
        sa.Column("backend", sa.Text),  # the execution backend that ran it
        sa.Column("handle", sa.Text),  # the backend's handle ident, e.g. pid:1234
        sa.Column("cancel_requested", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("progress", sa.Text),  # JSON: fraction, eventsPerSecond, equity, simulatedTime
        sa.Column("metrics", sa.Text),  # JSON: compute_metrics of a COMPLETE run
        sa.Column("counters", sa.Text),  # JSON: candles, events, orders, fills, ...
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text),
        sa.Column("finished_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    # Keyset pagination of one strategy's scenarios, newest first.
    op.create_index("scenarios_strategy_created", "scenarios",
                    ["strategy_id", sa.text("created_at DESC"), sa.text("id DESC")])
    # The queue: oldest PENDING first; and the RUNNING ones at start-up.
    op.create_index("scenarios_state_created", "scenarios", ["state", "created_at", "id"])

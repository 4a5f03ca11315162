"""sweeps: parameter sweeps (tektii_platform/sweeps.py) group the scenarios they run, one per
trial; a holdout sweep adds out-of-sample reruns of its best trials. Every scenario also keeps
its reproducibility record (tektii_engine/record.py) and, for a rerun, the original."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Text, primary_key=True),  # swp_...
        sa.Column("strategy_id", sa.Text, sa.ForeignKey("strategies.id"), nullable=False),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("version_id", sa.Text, sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # RUNNING, COMPLETE, FAILED, CANCELLED
        sa.Column("failure_reason", sa.Text),
        sa.Column("spec", sa.Text, nullable=False),  # JSON: the validated sweep + parallelism
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    # Keyset pagination of a user's sweeps, newest first; the driver's RUNNING ones.
    op.create_index("sweeps_owner_created", "sweeps", ["owner_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("sweeps_state", "sweeps", ["state"])
    _add_reference("sweep_id", "sweeps")
    op.add_column("scenarios", sa.Column("trial", sa.Integer))  # the trial's number in its sweep, from 0
    op.add_column("scenarios", sa.Column("trial_params", sa.Text))  # JSON: the trial's environment entries
    op.add_column("scenarios", sa.Column("sample", sa.Text))  # 'in' (searched) or 'out' (holdout rerun)
    op.add_column("scenarios", sa.Column("reproducibility", sa.Text))  # JSON: the run's record, once finished
    _add_reference("rerun_of", "scenarios")
    op.create_index("scenarios_sweep", "scenarios", ["sweep_id", "sample", "trial"])


def _add_reference(column: str, table: str) -> None:
    """A TEXT column of ``scenarios`` referencing `table`: SQLite adds it with its REFERENCES
    clause (it cannot add a constraint later), PostgreSQL as a column and a constraint."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE scenarios ADD COLUMN {column} TEXT REFERENCES {table}(id)")
    else:
        op.add_column("scenarios", sa.Column(column, sa.Text, sa.ForeignKey(f"{table}.id")))

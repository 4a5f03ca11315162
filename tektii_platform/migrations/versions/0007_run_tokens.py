"""run_tokens: each run's own credential for the /v1/runs/{id}/... endpoints (only its hash), and
where a run executed (scenarios.node) for ``"execution": {"backend", "node"}``."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "run_tokens",
        sa.Column("token_hash", sa.Text, primary_key=True),  # sha256 hex of the token
        sa.Column("scenario_id", sa.Text, sa.ForeignKey("scenarios.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_index("run_tokens_scenario", "run_tokens", ["scenario_id"])
    op.add_column("scenarios", sa.Column("node", sa.Text))

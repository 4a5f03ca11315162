"""scheduler_id: which scheduler claimed a run. Several API processes may share one PostgreSQL
database; after a restart a scheduler fails only the runs it left RUNNING, or those of a
scheduler that is gone (tektii_platform/scheduler.py)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("scenarios", sa.Column("scheduler_id", sa.Text))

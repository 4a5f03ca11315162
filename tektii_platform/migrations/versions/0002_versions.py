"""versions: strategies' versions (images in the platform's registry, or templates) and the
short-lived registry credentials issued for pushing and pulling them."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column("id", sa.Text, primary_key=True),  # ver_...
        sa.Column("strategy_id", sa.Text, sa.ForeignKey("strategies.id"), nullable=False),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("parent_id", sa.Text, sa.ForeignKey("versions.id")),
        sa.Column("git_sha", sa.Text, nullable=False),
        sa.Column("git_dirty", sa.Integer),  # 1/0, NULL when unknown
        sa.Column("template", sa.Text),  # ma-crossover, rsi-momentum; NULL for uploaded images
        sa.Column("builder", sa.Text),
        sa.Column("state", sa.Text, nullable=False),  # PENDING, READY, FAILED
        sa.Column("failure_reason", sa.Text),
        sa.Column("repository", sa.Text),  # e.g. strategies/strat_...
        sa.Column("digest", sa.Text),  # sha256:... of the pushed manifest
        sa.Column("size", sa.BigInteger),  # bytes of config + layers
        sa.Column("os", sa.Text),
        sa.Column("architecture", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_index("versions_strategy_created", "versions",
                    ["strategy_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_table(
        "registry_credentials",
        sa.Column("username", sa.Text, primary_key=True),  # push-<random> / pull-<random>
        sa.Column("secret_hash", sa.Text, nullable=False),  # sha256 hex of the high-entropy password
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),  # comma-separated: push,pull
        sa.Column("expires_at", sa.Text, nullable=False),
    )

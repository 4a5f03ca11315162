"""initial: users, their API keys, strategies, and a small key/value table."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Text, primary_key=True),  # user_...
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),  # ids.now_db() format
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),  # key_...
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),  # first characters of the key, to find candidates
        sa.Column("key_hash", sa.Text, nullable=False),  # sha256 hex of the whole key
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),  # NULL while usable
    )
    op.create_index("api_keys_prefix", "api_keys", ["prefix"])
    op.create_index("api_keys_user", "api_keys", ["user_id"])
    op.create_table(
        "strategies",
        sa.Column("id", sa.Text, primary_key=True),  # strat_...
        sa.Column("owner_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_by", sa.Text, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    # Names are unique per owner, ignoring case, so "My-Strategy" and "my-strategy" cannot both
    # exist (store.strategies compares lower(name); on SQLite, NOCASE folds the same ASCII letters).
    folded = "name COLLATE NOCASE" if op.get_bind().dialect.name == "sqlite" else "lower(name)"
    op.create_index("strategies_owner_name", "strategies", ["owner_id", sa.text(folded)], unique=True)
    # Keyset pagination: newest first within one owner.
    op.create_index("strategies_owner_created", "strategies",
                    ["owner_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )

"""user_roles: 'admin' writes the market data every user's scenarios replay (and is what
`platform up` creates); 'user' is everybody else. A revoked user keeps its rows (strategies,
scenarios) but none of its keys authenticate any more."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("users", sa.Column("role", sa.Text, nullable=False, server_default="user"))
    op.add_column("users", sa.Column("revoked_at", sa.Text))
    # An existing platform keeps someone who can write market data: its local user (made by
    # `platform up`) and its first user become admins.
    first = "ORDER BY created_at, rowid" if op.get_bind().dialect.name == "sqlite" else "ORDER BY created_at, id"
    op.execute("UPDATE users SET role = 'admin'"
               " WHERE id IN (SELECT value FROM meta WHERE key = 'local_user_id')"
               f" OR id = (SELECT id FROM users {first} LIMIT 1)")

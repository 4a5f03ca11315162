"""Alembic's entry: run the revisions on the connection tektii_platform.migrations.upgrade
passes in (inside its transaction; there is no alembic.ini and no URL of its own)."""

from alembic import context

connection = context.config.attributes["connection"]
applied = context.config.attributes.setdefault("applied", [])


def _record(*, ctx, step, heads, run_args):  # noqa: ARG001 - Alembic's callback signature
    applied.append(f"{step.up_revision.revision}_{step.up_revision.doc.split(':')[0].strip()}")


context.configure(connection=connection, target_metadata=None, on_version_apply=_record,
                  transaction_per_migration=False)
context.run_migrations()

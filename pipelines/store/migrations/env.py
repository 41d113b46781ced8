"""Alembic's environment for the account store: run on the connection `pipelines.store.engine.migrate` passes."""

from alembic import context

from pipelines.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()

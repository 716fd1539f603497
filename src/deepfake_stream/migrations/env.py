"""Alembic environment: migrations run on the connection that database.migrate hands over."""

from alembic import context

import deepfake_stream.jobs.store  # noqa: F401  the job tables join Base.metadata (autogenerate)
from deepfake_stream.database import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()

"""When each job was last handed to the broker: the outbox that re-sends jobs the broker never
took (it was unreachable) or lost (it restarted without its data).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from deepfake_stream.database import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("enqueued_at", UTCDateTime(), nullable=True))
    # Jobs queued before this column existed were handed to the broker when they were made.
    op.execute("UPDATE jobs SET enqueued_at = created_at WHERE status = 'queued'")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("enqueued_at")

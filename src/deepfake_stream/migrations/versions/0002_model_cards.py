"""Model cards published by the workers, for the API front's /v1/model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from deepfake_stream.database import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_cards",
        sa.Column("weights_sha256", sa.String(64), primary_key=True),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_model_cards_published_at", "model_cards", ["published_at"])


def downgrade() -> None:
    op.drop_table("model_cards")

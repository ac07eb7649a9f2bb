"""Aliquot parent index holds aliquots only.

``samples.parent_id`` is NULL for nearly every tube. A planner without statistics (SQLite
before ANALYZE) took the full index for ``parent_id IS NULL`` when loading a collection's
own tubes, and read a million rows for ten. A partial index keeps aliquot look-ups
(``parent_id = ?``) and gives nothing to that mistake.

Revision ID: 3c5e9a1f7d20
Revises: 7b1e4c0a9f21
Create Date: 2026-11-25 00:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "3c5e9a1f7d20"
down_revision = "7b1e4c0a9f21"
branch_labels = None
depends_on = None

ONLY_ALIQUOTS = sa.text("parent_id IS NOT NULL")


def upgrade():
    op.drop_index("ix_samples_parent_id", table_name="samples")
    op.create_index(
        "ix_samples_parent_id",
        "samples",
        ["parent_id"],
        sqlite_where=ONLY_ALIQUOTS,
        postgresql_where=ONLY_ALIQUOTS,
    )


def downgrade():
    op.drop_index("ix_samples_parent_id", table_name="samples")
    op.create_index("ix_samples_parent_id", "samples", ["parent_id"])

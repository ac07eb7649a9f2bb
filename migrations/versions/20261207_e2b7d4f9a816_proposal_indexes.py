"""Indexes for a distribution proposal at program scale: the free stored tubes' index carries
what the proposal filters and groups by (site, thaws, volume, collection), and a participant's
consent is read from an index, so the tens of thousands of candidates at a million tubes cost
no table row each.

Revision ID: e2b7d4f9a816
Revises: c4e8a2d6f1b3
Create Date: 2026-12-07 18:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e2b7d4f9a816"
down_revision = "c4e8a2d6f1b3"
branch_labels = None
depends_on = None

FREE_AND_STORED = "status = 'stored' AND reserved_for_request_id IS NULL"
NARROW = ["tube_type_id", "collected_at"]
WIDE = [*NARROW, "custody_site_id", "freeze_thaw_count", "volume_ml", "collection_id"]


def _distributable(columns: list[str]) -> None:
    op.create_index(
        "ix_samples_distributable",
        "samples",
        columns,
        unique=False,
        sqlite_where=sa.text(FREE_AND_STORED),
        postgresql_where=sa.text(FREE_AND_STORED),
    )


def upgrade():
    op.drop_index("ix_samples_distributable", table_name="samples")
    _distributable(WIDE)
    op.create_index(
        "ix_participants_consent",
        "participants",
        ["participant_id", "biospecimen_consent", "withdrawn_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_participants_consent", table_name="participants")
    op.drop_index("ix_samples_distributable", table_name="samples")
    _distributable(NARROW)

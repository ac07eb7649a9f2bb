"""Indexes for the time windows of the dashboards and reports, at program scale.

Revision ID: d9c2524e6316
Revises: dc0d68d180a8
Create Date: 2026-11-24 22:43:03.450854
"""

from alembic import op
import sqlalchemy as sa


revision = 'd9c2524e6316'
down_revision = 'dc0d68d180a8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.create_index('ix_collections_site_id_created_at', ['site_id', 'created_at'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_type_at', ['type', 'at'], unique=False)

    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index('ix_samples_collected_at', ['collected_at'], unique=False)
        batch_op.create_index('ix_samples_processed_at', ['processed_at'], unique=False)
        batch_op.create_index('ix_samples_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_samples_stored_at', ['stored_at'], unique=False)



def downgrade():
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index('ix_samples_stored_at')
        batch_op.drop_index('ix_samples_received_at')
        batch_op.drop_index('ix_samples_processed_at')
        batch_op.drop_index('ix_samples_collected_at')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_at')

    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_index('ix_collections_site_id_created_at')


"""Participants: consent facts keyed by the pseudonymous ID.

Revision ID: 00edfde6241f
Revises: 52c5cd4c8b32
Create Date: 2026-11-24 20:44:27.085936
"""

from alembic import op
import sqlalchemy as sa
import biobank.db

revision = '00edfde6241f'
down_revision = '52c5cd4c8b32'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('biospecimen_consent', sa.Boolean(), nullable=False),
    sa.Column('withdrawn_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('withdrawal_reason', sa.Text(), nullable=True),
    sa.Column('disposal_ceremony', sa.Boolean(), nullable=False),
    sa.Column('updated_at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participants')),
    sa.UniqueConstraint('participant_id', name=op.f('uq_participants_participant_id'))
    )


def downgrade():
    op.drop_table('participants')

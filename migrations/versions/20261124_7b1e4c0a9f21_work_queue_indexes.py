"""Work-queue indexes: a site's tubes in one state, in the order the dashboards list them.

At a million stored tubes the planner otherwise walks a date index past every stored tube
to find the few received ones. The new indexes extend the old (site, status) pairs.

Revision ID: 7b1e4c0a9f21
Revises: d9c2524e6316
Create Date: 2026-11-24 23:20:00
"""

from alembic import op


revision = "7b1e4c0a9f21"
down_revision = "d9c2524e6316"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collections_site_status_created", ["site_id", "status", "created_at"]
        )

    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_samples_site_status_collection", ["site_id", "status", "collection_id"]
        )
        batch_op.create_index(
            "ix_samples_custody_status_received", ["custody_site_id", "status", "received_at"]
        )
        batch_op.drop_index("ix_samples_site_id_status")
        batch_op.drop_index("ix_samples_custody_site_id_status")


def downgrade():
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index("ix_samples_custody_site_id_status", ["custody_site_id", "status"])
        batch_op.create_index("ix_samples_site_id_status", ["site_id", "status"])
        batch_op.drop_index("ix_samples_custody_status_received")
        batch_op.drop_index("ix_samples_site_status_collection")

    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index("ix_collections_site_status_created")

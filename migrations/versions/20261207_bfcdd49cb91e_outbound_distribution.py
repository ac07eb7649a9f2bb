"""Outbound distribution shipments: the package that takes a request's picked tubes to the
study's institution (one per request), and its tubes under their study pseudonyms, with
their return when unused material comes back.

Two new tables; nothing existing changes.

Revision ID: bfcdd49cb91e
Revises: 6e1f0a3c9d52
Create Date: 2026-12-07 14:33:00
"""

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "bfcdd49cb91e"
down_revision = "6e1f0a3c9d52"
branch_labels = None
depends_on = None

STATUSES = ("open", "dispatched", "partly_returned", "returned")


def upgrade():
    op.create_table(
        "distribution_shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("responsible_person", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                name="outbound_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.Column("dispatched_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("dispatched_by_id", sa.Integer(), nullable=True),
        sa.Column("signature", sa.JSON(), nullable=True),
        sa.Column("created_at", biobank.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(status = 'open') = (dispatched_at IS NULL)",
            name=op.f("ck_distribution_shipments_dispatched_has_a_time"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_shipments_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["dispatched_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_shipments_dispatched_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["distribution_requests.id"],
            name=op.f("fk_distribution_shipments_request_id_distribution_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_shipments")),
        sa.UniqueConstraint("request_id", name=op.f("uq_distribution_shipments_request_id")),
    )
    op.create_index(op.f("ix_distribution_shipments_status"), "distribution_shipments", ["status"])
    op.create_table(
        "distribution_shipment_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("packed_at", biobank.db.UTCDateTime(), nullable=False),
        sa.Column("packed_by_id", sa.Integer(), nullable=False),
        sa.Column("returned_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("returned_by_id", sa.Integer(), nullable=True),
        sa.Column("return_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["packed_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_shipment_items_packed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["returned_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_shipment_items_returned_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_distribution_shipment_items_sample_id_samples"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["distribution_shipments.id"],
            name=op.f("fk_distribution_shipment_items_shipment_id_distribution_shipments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_shipment_items")),
        sa.UniqueConstraint(
            "shipment_id",
            "sample_id",
            name=op.f("uq_distribution_shipment_items_shipment_id_sample_id"),
        ),
    )
    op.create_index(
        op.f("ix_distribution_shipment_items_sample_id"),
        "distribution_shipment_items",
        ["sample_id"],
    )
    op.create_index(
        op.f("ix_distribution_shipment_items_shipment_id"),
        "distribution_shipment_items",
        ["shipment_id"],
    )


def downgrade():
    op.drop_index(
        op.f("ix_distribution_shipment_items_shipment_id"), table_name="distribution_shipment_items"
    )
    op.drop_index(
        op.f("ix_distribution_shipment_items_sample_id"), table_name="distribution_shipment_items"
    )
    op.drop_table("distribution_shipment_items")
    op.drop_index(op.f("ix_distribution_shipments_status"), table_name="distribution_shipments")
    op.drop_table("distribution_shipments")

"""Label printers per site, and the print jobs sent to them.

``printers``: a site's label printers (name, host, port, resolution, the stock loaded), which
admins register; ``active`` takes one out of use (jobs name it, so it is never deleted).
``printer_jobs``: one row per job, written as ``sending`` before the ZPL leaves for the
printer, then ``sent`` (its tubes' label events written with it) or ``failed`` with the reason.

Revision ID: 4a7c2e9d1b53
Revises: 9d4e6f8a0b21
Create Date: 2026-12-07 09:30:00
"""

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "4a7c2e9d1b53"
down_revision = "9d4e6f8a0b21"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "printers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("dpi", sa.SmallInteger(), nullable=False),
        sa.Column("stock", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", biobank.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("dpi IN (203, 300, 600)", name=op.f("ck_printers_dpi_known")),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_printers_port_range")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_printers_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_printers")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_printers_site_id_name")),
    )
    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_printers_site_id"), ["site_id"], unique=False)

    op.create_table(
        "printer_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "collection",
                "label_batch",
                "box",
                "reprint",
                name="printer_job_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "sending",
                "sent",
                "failed",
                name="printer_job_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("label_batch_id", sa.Integer(), nullable=True),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.Column("sample_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("stock", sa.String(length=32), nullable=False),
        sa.Column("labels", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("finished_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", biobank.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(status = 'failed') = (failure IS NOT NULL)",
            name=op.f("ck_printer_jobs_failed_says_why"),
        ),
        sa.CheckConstraint(
            "(status = 'sending') = (finished_at IS NULL)",
            name=op.f("ck_printer_jobs_finished_unless_sending"),
        ),
        sa.CheckConstraint(
            "(CASE WHEN collection_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN label_batch_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN container_id IS NULL THEN 0 ELSE 1 END) <= 1",
            name=op.f("ck_printer_jobs_one_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_printer_jobs_collection_id_collections"),
        ),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["containers.id"],
            name=op.f("fk_printer_jobs_container_id_containers"),
        ),
        sa.ForeignKeyConstraint(
            ["label_batch_id"],
            ["label_batches.id"],
            name=op.f("fk_printer_jobs_label_batch_id_label_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["printer_id"], ["printers.id"], name=op.f("fk_printer_jobs_printer_id_printers")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_printer_jobs_requested_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_printer_jobs")),
    )
    with op.batch_alter_table("printer_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_printer_jobs_printer_id_id", ["printer_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("printer_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_printer_jobs_printer_id_id")

    op.drop_table("printer_jobs")
    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_printers_site_id"))

    op.drop_table("printers")

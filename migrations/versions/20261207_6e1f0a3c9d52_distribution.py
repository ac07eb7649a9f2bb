"""Distribution to approved research: protocols, requests, the tubes reserved for them.

``distribution_protocols`` (a study approved to receive material, owned by a biobank site) with
the specimen kinds it may receive (``distribution_protocol_specimens``);
``distribution_requests`` (what a study asked for, a draft until approved); ``distribution_items``
(every tube a request held, reserved, released or picked). ``samples.reserved_for_request_id``
is the reservation itself, set by one guarded UPDATE; two partial indexes: a request's tubes,
and the free stored tubes a request may be offered. Samples gain the status ``distributed``.

Widening the samples' status CHECK on SQLite: a batch rebuild of ``samples`` would drop the
table every event, flag, position and shipment item refers to (refused with foreign keys on,
and a copy of every tube). SQLite documents an in-place edit of the table's stored definition
for loosening a CHECK or dropping a foreign key (lang_altertable.html §7, under
``writable_schema``), which rewrites no row: the upgrade loosens the status list that way, and
the downgrade (once no tube is distributed) narrows it back and takes the reservation's foreign
key out of the column's definition before dropping the column. PostgreSQL alters in place.

Revision ID: 6e1f0a3c9d52
Revises: 4a7c2e9d1b53
Create Date: 2026-12-07 14:08:07
"""

import re

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "6e1f0a3c9d52"
down_revision = "4a7c2e9d1b53"
branch_labels = None
depends_on = None

STATUS_CHECK = "ck_samples_sample_status"
BEFORE = (
    "pending",
    "collected",
    "processed",
    "finalized",
    "in_transit",
    "received",
    "stored",
    "checked_out",
    "withdrawn",
    "consumed",
    "disposed",
    "missing",
    "cancelled",
)
AFTER = (*BEFORE[:8], "distributed", *BEFORE[8:])
RESERVATION_FK = "fk_samples_reserved_for_request_id_distribution_requests"
PLAIN_COLUMN = "reserved_for_request_id INTEGER"
REFERENCING_COLUMN = (
    f"{PLAIN_COLUMN} CONSTRAINT {RESERVATION_FK} REFERENCES distribution_requests (id)"
)
FREE_AND_STORED = "status = 'stored' AND reserved_for_request_id IS NULL"


SPECIMENS = ("whole_blood", "serum", "plasma", "urine", "saliva", "buffy_coat", "dna", "rna")


def _specimen(name):
    return sa.Enum(*SPECIMENS, name=name, native_enum=False, create_constraint=True, length=32)


def _allowing(statuses):
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


def _on_sqlite():
    return op.get_bind().dialect.name == "sqlite"


def _edit_sqlite_samples(edit):
    """Rewrite the stored CREATE TABLE of ``samples`` (no row is touched), as SQLite's
    documentation describes for loosening constraints: schema version bumped, so every
    connection reads the new definition."""
    connection = op.get_bind()
    table_sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'samples'"
    ).scalar_one()
    edited = edit(table_sql)
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    connection.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'samples'"),
        {"sql": edited},
    )
    connection.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    connection.exec_driver_sql("PRAGMA writable_schema = OFF")
    connection.exec_driver_sql("SELECT id FROM samples LIMIT 0")  # the new definition parses


def _status_list(statuses):
    def edit(table_sql):
        pattern = rf"CONSTRAINT {STATUS_CHECK} CHECK \(status IN \([^)]*\)\)"
        edited, found = re.subn(
            pattern, f"CONSTRAINT {STATUS_CHECK} CHECK ({_allowing(statuses)})", table_sql
        )
        if found != 1:
            raise RuntimeError(f"samples: expected one {STATUS_CHECK}, found {found}")
        return edited

    return edit


def _set_statuses(statuses):
    if _on_sqlite():
        _edit_sqlite_samples(_status_list(statuses))
    else:
        op.drop_constraint(op.f(STATUS_CHECK), "samples", type_="check")
        op.create_check_constraint(op.f(STATUS_CHECK), "samples", _allowing(statuses))


def _without_reservation_key(table_sql):
    if REFERENCING_COLUMN not in table_sql:
        raise RuntimeError("samples: the reservation column is not as this revision added it")
    return table_sql.replace(REFERENCING_COLUMN, PLAIN_COLUMN)


def upgrade():
    op.create_table(
        "distribution_protocols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("approval_number", sa.String(length=64), nullable=False),
        sa.Column("approval_expires_on", sa.Date(), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("institution_address", sa.Text(), nullable=False),
        sa.Column("responsible_person", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                name="distribution_protocol_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("created_at", biobank.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)",
            name=op.f("ck_distribution_protocols_closed_has_a_time"),
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_protocols_closed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_protocols_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_distribution_protocols_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_protocols")),
    )
    with op.batch_alter_table("distribution_protocols", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distribution_protocols_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "distribution_protocol_specimens",
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column(
            "specimen",
            _specimen("protocol_specimen"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["protocol_id"],
            ["distribution_protocols.id"],
            name=op.f("fk_distribution_protocol_specimens_protocol_id_distribution_protocols"),
        ),
        sa.PrimaryKeyConstraint(
            "protocol_id", "specimen", name=op.f("pk_distribution_protocol_specimens")
        ),
    )
    op.create_table(
        "distribution_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column(
            "specimen",
            _specimen("request_specimen"),
            nullable=False,
        ),
        sa.Column("participants_wanted", sa.Integer(), nullable=False),
        sa.Column("tubes_per_participant", sa.Integer(), nullable=False),
        sa.Column("min_volume_ml", sa.Numeric(precision=8, scale=3), nullable=False),
        sa.Column("max_freeze_thaw", sa.Integer(), nullable=False),
        sa.Column("collected_from", sa.Date(), nullable=False),
        sa.Column("collected_to", sa.Date(), nullable=False),
        sa.Column("sample_barcodes", sa.JSON(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                "picking",
                "shipped",
                "cancelled",
                name="distribution_request_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", biobank.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "collected_from <= collected_to",
            name=op.f("ck_distribution_requests_collected_dates_in_order"),
        ),
        sa.CheckConstraint(
            "max_freeze_thaw >= 0",
            name=op.f("ck_distribution_requests_max_freeze_thaw_non_negative"),
        ),
        sa.CheckConstraint(
            "min_volume_ml >= 0", name=op.f("ck_distribution_requests_min_volume_non_negative")
        ),
        sa.CheckConstraint(
            "participants_wanted >= 1",
            name=op.f("ck_distribution_requests_participants_wanted_positive"),
        ),
        sa.CheckConstraint(
            "tubes_per_participant >= 1",
            name=op.f("ck_distribution_requests_tubes_per_participant_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_requests_approved_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_requests_cancelled_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["protocol_id"],
            ["distribution_protocols.id"],
            name=op.f("fk_distribution_requests_protocol_id_distribution_protocols"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_requests_recorded_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_requests")),
    )
    with op.batch_alter_table("distribution_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distribution_requests_protocol_id"), ["protocol_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_distribution_requests_status"), ["status"], unique=False
        )

    op.create_table(
        "distribution_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("reserved_at", biobank.db.UTCDateTime(), nullable=False),
        sa.Column("reserved_by_id", sa.Integer(), nullable=False),
        sa.Column("released_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("released_by_id", sa.Integer(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("picked_at", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("picked_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "released_at IS NULL OR picked_at IS NULL",
            name=op.f("ck_distribution_items_released_or_picked_not_both"),
        ),
        sa.ForeignKeyConstraint(
            ["picked_by_id"], ["users.id"], name=op.f("fk_distribution_items_picked_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["released_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_items_released_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["distribution_requests.id"],
            name=op.f("fk_distribution_items_request_id_distribution_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["reserved_by_id"],
            ["users.id"],
            name=op.f("fk_distribution_items_reserved_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_distribution_items_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distribution_items")),
    )
    with op.batch_alter_table("distribution_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distribution_items_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_distribution_items_sample_id"), ["sample_id"], unique=False
        )

    if _on_sqlite():
        # ADD COLUMN may carry a REFERENCES clause on SQLite (the column is NULL everywhere).
        op.execute(f"ALTER TABLE samples ADD COLUMN {REFERENCING_COLUMN}")
    else:
        op.add_column("samples", sa.Column("reserved_for_request_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f(RESERVATION_FK),
            "samples",
            "distribution_requests",
            ["reserved_for_request_id"],
            ["id"],
        )
    op.create_index(
        "ix_samples_reserved_for_request_id",
        "samples",
        ["reserved_for_request_id"],
        unique=False,
        sqlite_where=sa.text("reserved_for_request_id IS NOT NULL"),
        postgresql_where=sa.text("reserved_for_request_id IS NOT NULL"),
    )
    op.create_index(
        "ix_samples_distributable",
        "samples",
        ["tube_type_id", "collected_at"],
        unique=False,
        sqlite_where=sa.text(FREE_AND_STORED),
        postgresql_where=sa.text(FREE_AND_STORED),
    )
    _set_statuses(AFTER)


def downgrade():
    distributed = (
        op.get_bind()
        .exec_driver_sql("SELECT count(*) FROM samples WHERE status = 'distributed'")
        .scalar_one()
    )
    if distributed:
        raise RuntimeError(
            f"{distributed} tubes are distributed: the older schema has no such status. "
            "Record them as they are in the older system's terms first."
        )
    _set_statuses(BEFORE)
    op.drop_index("ix_samples_distributable", table_name="samples")
    op.drop_index("ix_samples_reserved_for_request_id", table_name="samples")
    if _on_sqlite():
        # SQLite drops no column that a foreign key names: take the key out first.
        _edit_sqlite_samples(_without_reservation_key)
    else:
        op.drop_constraint(op.f(RESERVATION_FK), "samples", type_="foreignkey")
    op.execute("ALTER TABLE samples DROP COLUMN reserved_for_request_id")

    with op.batch_alter_table("distribution_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_items_sample_id"))
        batch_op.drop_index(batch_op.f("ix_distribution_items_request_id"))

    op.drop_table("distribution_items")
    with op.batch_alter_table("distribution_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_requests_status"))
        batch_op.drop_index(batch_op.f("ix_distribution_requests_protocol_id"))

    op.drop_table("distribution_requests")
    op.drop_table("distribution_protocol_specimens")
    with op.batch_alter_table("distribution_protocols", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_protocols_site_id"))

    op.drop_table("distribution_protocols")

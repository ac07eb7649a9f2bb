"""An outbound distribution shipment cancelled before dispatch: status ``cancelled``, who
cancelled it, when and why; the request may then open another shipment, so the one shipment
per request becomes one per request not counting the cancelled ones (a partial unique index
in place of the unique constraint).

Revision ID: c4e8a2d6f1b3
Revises: bfcdd49cb91e
Create Date: 2026-12-07 18:30:00
"""

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "c4e8a2d6f1b3"
down_revision = "bfcdd49cb91e"
branch_labels = None
depends_on = None

TABLE = "distribution_shipments"
STATUS_CHECK = "ck_distribution_shipments_outbound_status"
DISPATCHED_CHECK = "ck_distribution_shipments_dispatched_has_a_time"
CANCELLED_CHECK = "ck_distribution_shipments_cancelled_has_a_time"
CANCELLER_KEY = "fk_distribution_shipments_cancelled_by_id_users"
ONE_PER_REQUEST = "uq_distribution_shipments_request_id"
LIVE_INDEX = "ix_distribution_shipments_live_request_id"
LIVE = "status <> 'cancelled'"
BEFORE = ("open", "dispatched", "partly_returned", "returned")
AFTER = (*BEFORE, "cancelled")


def _allowing(statuses):
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


def _change(edit):
    """SQLite alters no constraint: batch mode rebuilds the table. The packed tubes of
    ``distribution_shipment_items`` refer to it, and with foreign keys on, dropping the old
    table would refuse them: they wait in a temporary table meanwhile, put back unchanged.
    PostgreSQL alters the table in place."""
    on_sqlite = op.get_bind().dialect.name == "sqlite"
    if on_sqlite:
        op.execute(
            "CREATE TEMPORARY TABLE shipment_items_aside AS "
            "SELECT * FROM distribution_shipment_items"
        )
        op.execute("DELETE FROM distribution_shipment_items")
    with op.batch_alter_table(TABLE, recreate="always" if on_sqlite else "never") as batch:
        edit(batch)
    if on_sqlite:
        op.execute("INSERT INTO distribution_shipment_items SELECT * FROM shipment_items_aside")
        op.execute("DROP TABLE shipment_items_aside")


def _cancellable(batch):
    batch.add_column(sa.Column("cancelled_at", biobank.db.UTCDateTime(), nullable=True))
    batch.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
    batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
    batch.create_foreign_key(op.f(CANCELLER_KEY), "users", ["cancelled_by_id"], ["id"])
    batch.drop_constraint(op.f(STATUS_CHECK), type_="check")
    batch.create_check_constraint(op.f(STATUS_CHECK), _allowing(AFTER))
    batch.drop_constraint(op.f(DISPATCHED_CHECK), type_="check")
    batch.create_check_constraint(
        op.f(DISPATCHED_CHECK), "(status IN ('open', 'cancelled')) = (dispatched_at IS NULL)"
    )
    batch.create_check_constraint(
        op.f(CANCELLED_CHECK), "(status = 'cancelled') = (cancelled_at IS NOT NULL)"
    )
    batch.drop_constraint(op.f(ONE_PER_REQUEST), type_="unique")


def _not_cancellable(batch):
    batch.drop_constraint(op.f(CANCELLED_CHECK), type_="check")
    batch.drop_constraint(op.f(DISPATCHED_CHECK), type_="check")
    batch.create_check_constraint(
        op.f(DISPATCHED_CHECK), "(status = 'open') = (dispatched_at IS NULL)"
    )
    batch.drop_constraint(op.f(STATUS_CHECK), type_="check")
    batch.create_check_constraint(op.f(STATUS_CHECK), _allowing(BEFORE))
    batch.drop_constraint(op.f(CANCELLER_KEY), type_="foreignkey")
    batch.drop_column("cancel_reason")
    batch.drop_column("cancelled_by_id")
    batch.drop_column("cancelled_at")
    batch.create_unique_constraint(op.f(ONE_PER_REQUEST), ["request_id"])


def upgrade():
    _change(_cancellable)
    op.create_index(
        op.f(LIVE_INDEX),
        TABLE,
        ["request_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade():
    # The older code knows one shipment per request and no cancellation: a cancelled
    # shipment (empty: its tubes were taken out when it was cancelled, each with its custody
    # event) is forgotten.
    op.drop_index(op.f(LIVE_INDEX), table_name=TABLE)
    op.execute(
        "DELETE FROM distribution_shipment_items WHERE shipment_id IN "
        f"(SELECT id FROM {TABLE} WHERE status = 'cancelled')"
    )
    op.execute(f"DELETE FROM {TABLE} WHERE status = 'cancelled'")
    _change(_not_cancellable)

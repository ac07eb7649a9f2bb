"""A manifest's tube that turned up in another shipment: ``arrived_elsewhere``.

A tube packed into the wrong box is received where it arrives; its own shipment's item now
says so (``shipment_items.outcome = 'arrived_elsewhere'``) instead of waiting for it and then
calling it missing. Existing receipts are put right here: a manifest item not scanned (or
marked missing) whose tube arrived unexpected in another shipment becomes ``arrived_elsewhere``.

Revision ID: 8c3d5e7f9a10
Revises: 2f6c1d8e5a47
Create Date: 2026-12-07 04:00:00
"""

from alembic import op

revision = "8c3d5e7f9a10"
down_revision = "2f6c1d8e5a47"
branch_labels = None
depends_on = None

CONSTRAINT = "ck_shipment_items_item_outcome"
BEFORE = ("received", "missing", "damaged", "unexpected")
AFTER = (*BEFORE, "arrived_elsewhere")


def _allowing(outcomes: tuple[str, ...]) -> str:
    return "outcome IN (" + ", ".join(f"'{outcome}'" for outcome in outcomes) + ")"


def _allow(outcomes: tuple[str, ...]) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (nothing refers
    # to shipment_items, so the rebuild loses nothing); PostgreSQL alters it in place.
    with op.batch_alter_table("shipment_items") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), _allowing(outcomes))


def upgrade():
    _allow(AFTER)
    op.execute(
        "UPDATE shipment_items SET outcome = 'arrived_elsewhere' "
        "WHERE manifested AND (outcome IS NULL OR outcome = 'missing') "
        "AND EXISTS (SELECT 1 FROM shipment_items AS found "
        "WHERE found.sample_id = shipment_items.sample_id "
        "AND found.shipment_id <> shipment_items.shipment_id AND found.outcome = 'unexpected')"
    )


def downgrade():
    # Back to what the older code knew: waiting for the tube, as it did.
    op.execute(
        "UPDATE shipment_items SET outcome = NULL WHERE outcome = 'arrived_elsewhere'"
    )
    _allow(BEFORE)

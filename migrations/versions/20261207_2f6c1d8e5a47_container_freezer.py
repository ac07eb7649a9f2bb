"""Each container knows its freezer: figures per freezer read it instead of walking the tree.

``containers.freezer_id`` is the freezer a shelf, rack or box is in (NULL for a freezer).
Containers never move, so it is set when one is made; existing ones are filled in here by
walking down from every freezer once. No foreign key: SQLite would have to rebuild the table
to add one, and the column is a copy of what ``parent_id`` already says.

Revision ID: 2f6c1d8e5a47
Revises: 4d2a8e6b9c10
Create Date: 2026-12-07 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "2f6c1d8e5a47"
down_revision = "4d2a8e6b9c10"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("containers", sa.Column("freezer_id", sa.Integer(), nullable=True))
    op.execute(
        "WITH RECURSIVE tree(id, root) AS ("
        "SELECT id, id FROM containers WHERE parent_id IS NULL "
        "UNION ALL SELECT containers.id, tree.root FROM containers "
        "JOIN tree ON containers.parent_id = tree.id) "
        "UPDATE containers SET freezer_id = (SELECT root FROM tree WHERE tree.id = containers.id) "
        "WHERE parent_id IS NOT NULL"
    )
    op.create_index(op.f("ix_containers_freezer_id"), "containers", ["freezer_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_containers_freezer_id"), table_name="containers")
    # In place on both databases (SQLite 3.35+): a batch rebuild would drop the table that
    # every box's positions refer to.
    op.execute("ALTER TABLE containers DROP COLUMN freezer_id")

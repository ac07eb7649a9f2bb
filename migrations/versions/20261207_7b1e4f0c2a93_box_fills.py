"""Box fills kept by the database: freezer and dashboard figures cost the boxes, not the tubes.

``box_fills`` holds, per box, how many of its positions are in use. Triggers on
``storage_positions`` keep it: an inserted row adds one to its box, a deleted row takes one
away, a row moved to another box does both. They fire for every writer (the services, rack
imports, bulk loads), so the figure cannot drift from the positions it counts. Existing
databases are counted once here.

Revision ID: 7b1e4f0c2a93
Revises: 989fc00d484e
Create Date: 2026-12-07 00:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7b1e4f0c2a93"
down_revision = "989fc00d484e"
branch_labels = None
depends_on = None

ADD_ONE = (
    "INSERT INTO box_fills (box_id, used) VALUES (NEW.box_id, 1) "
    "ON CONFLICT (box_id) DO UPDATE SET used = box_fills.used + 1"
)
TAKE_ONE = "UPDATE box_fills SET used = used - 1 WHERE box_id = OLD.box_id"
# A move changes both boxes' rows in one statement, so they are locked in the order of their
# keys: two tubes moved between the same two boxes in opposite directions at once take turns
# instead of deadlocking.
MOVE_ONE = (
    "INSERT INTO box_fills (box_id, used) VALUES (NEW.box_id, 0) "
    "ON CONFLICT (box_id) DO NOTHING; "
    "UPDATE box_fills SET used = used + CASE WHEN box_id = NEW.box_id THEN 1 ELSE -1 END "
    "WHERE box_id IN (OLD.box_id, NEW.box_id)"
)


def upgrade():
    op.create_table(
        "box_fills",
        sa.Column("box_id", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["box_id"],
            ["containers.id"],
            name=op.f("fk_box_fills_box_id_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("box_id", name=op.f("pk_box_fills")),
    )
    op.execute(
        "INSERT INTO box_fills (box_id, used) "
        "SELECT box_id, count(*) FROM storage_positions GROUP BY box_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION box_fills_follow_positions() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    {ADD_ONE};
                ELSIF TG_OP = 'DELETE' THEN
                    {TAKE_ONE};
                ELSE
                    {MOVE_ONE};
                END IF;
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER box_fills_on_insert_or_delete AFTER INSERT OR DELETE "
            "ON storage_positions FOR EACH ROW EXECUTE FUNCTION box_fills_follow_positions()"
        )
        op.execute(
            "CREATE TRIGGER box_fills_on_move AFTER UPDATE OF box_id ON storage_positions "
            "FOR EACH ROW WHEN (OLD.box_id IS DISTINCT FROM NEW.box_id) "
            "EXECUTE FUNCTION box_fills_follow_positions()"
        )
        return
    op.execute(
        f"CREATE TRIGGER box_fills_on_insert AFTER INSERT ON storage_positions "
        f"BEGIN {ADD_ONE}; END"
    )
    op.execute(
        f"CREATE TRIGGER box_fills_on_delete AFTER DELETE ON storage_positions "
        f"BEGIN {TAKE_ONE}; END"
    )
    op.execute(
        "CREATE TRIGGER box_fills_on_move AFTER UPDATE OF box_id ON storage_positions "
        f"WHEN OLD.box_id IS NOT NEW.box_id BEGIN {MOVE_ONE}; END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS box_fills_on_move ON storage_positions")
        op.execute("DROP TRIGGER IF EXISTS box_fills_on_insert_or_delete ON storage_positions")
        op.execute("DROP FUNCTION IF EXISTS box_fills_follow_positions()")
    else:
        for name in ("box_fills_on_insert", "box_fills_on_delete", "box_fills_on_move"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("box_fills")

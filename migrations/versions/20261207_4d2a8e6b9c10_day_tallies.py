"""Figures of closed days, kept: a report over 90 days reads 90 kept rows, not every tube.

``day_tallies`` keeps a figure per UTC day, with the version of the day it was computed
from; ``tally_versions`` holds each day's version. Triggers on ``samples`` raise the version
of the stored_at day of any stored tube whose draw time, storing time or site changes, or that
is inserted or deleted already stored (bulk loads): whichever code wrote it, a kept figure of
that day is then stale and computed again. Storing a tube (stored_at set for the first time)
touches no version: it lands on today, which is never kept.

Revision ID: 4d2a8e6b9c10
Revises: 7b1e4f0c2a93
Create Date: 2026-12-07 00:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "4d2a8e6b9c10"
down_revision = "7b1e4f0c2a93"
branch_labels = None
depends_on = None

CHANGED = (
    "OLD.stored_at IS NOT NULL AND (OLD.collected_at IS DISTINCT FROM NEW.collected_at "
    "OR OLD.stored_at IS DISTINCT FROM NEW.stored_at OR OLD.site_id IS DISTINCT FROM NEW.site_id)"
)
RAISE_VERSION = "ON CONFLICT (day) DO UPDATE SET version = tally_versions.version + 1"


def _postgresql_day(column: str) -> str:
    return f"to_char(timezone('UTC', {column}), 'YYYY-MM-DD')"


def _sqlite_raise(row: str, when: str = "") -> str:
    return (
        f"INSERT INTO tally_versions (day, version) SELECT strftime('%Y-%m-%d', {row}.stored_at), "
        f"1 WHERE {row}.stored_at IS NOT NULL {when} {RAISE_VERSION};"
    )


def upgrade():
    op.create_table(
        "tally_versions",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_tally_versions")),
    )
    op.create_table(
        "day_tallies",
        sa.Column("figure", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("figure", "day", name=op.f("pk_day_tallies")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION tally_day_changed() RETURNS trigger AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.stored_at IS NOT NULL THEN
                    INSERT INTO tally_versions (day, version)
                    VALUES ({_postgresql_day("OLD.stored_at")}, 1) {RAISE_VERSION};
                END IF;
                IF TG_OP = 'UPDATE' AND NEW.stored_at IS NOT NULL
                        AND NEW.stored_at IS DISTINCT FROM OLD.stored_at THEN
                    INSERT INTO tally_versions (day, version)
                    VALUES ({_postgresql_day("NEW.stored_at")}, 1) {RAISE_VERSION};
                END IF;
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql
            """
        )
        # A bulk insert raises each of its days once, not once per tube.
        op.execute(
            f"""
            CREATE FUNCTION tally_days_inserted() RETURNS trigger AS $$
            BEGIN
                INSERT INTO tally_versions (day, version)
                SELECT DISTINCT {_postgresql_day("stored_at")}, 1
                FROM inserted WHERE stored_at IS NOT NULL
                {RAISE_VERSION};
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER tally_day_on_change AFTER UPDATE OF collected_at, stored_at, site_id "
            f"ON samples FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION tally_day_changed()"
        )
        op.execute(
            "CREATE TRIGGER tally_day_on_delete AFTER DELETE ON samples FOR EACH ROW "
            "WHEN (OLD.stored_at IS NOT NULL) EXECUTE FUNCTION tally_day_changed()"
        )
        op.execute(
            "CREATE TRIGGER tally_days_on_insert AFTER INSERT ON samples "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            "EXECUTE FUNCTION tally_days_inserted()"
        )
        return
    sqlite_changed = CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    op.execute(
        "CREATE TRIGGER tally_day_on_change AFTER UPDATE OF collected_at, stored_at, site_id "
        f"ON samples WHEN {sqlite_changed} BEGIN {_sqlite_raise('OLD')} "
        f"{_sqlite_raise('NEW', 'AND NEW.stored_at IS NOT OLD.stored_at')} END"
    )
    op.execute(
        "CREATE TRIGGER tally_day_on_delete AFTER DELETE ON samples "
        f"WHEN OLD.stored_at IS NOT NULL BEGIN {_sqlite_raise('OLD')} END"
    )
    op.execute(
        "CREATE TRIGGER tally_days_on_insert AFTER INSERT ON samples "
        f"WHEN NEW.stored_at IS NOT NULL BEGIN {_sqlite_raise('NEW')} END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in ("tally_day_on_change", "tally_day_on_delete", "tally_days_on_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON samples")
        op.execute("DROP FUNCTION IF EXISTS tally_day_changed()")
        op.execute("DROP FUNCTION IF EXISTS tally_days_inserted()")
    else:
        for name in ("tally_day_on_change", "tally_day_on_delete", "tally_days_on_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("day_tallies")
    op.drop_table("tally_versions")

"""A tube set aside before storage: the ``quarantined`` flag.

An unexpected or damaged tube is quarantined at receiving (or later, at the bench) with a
reason; storing, checking out and aliquoting refuse it until it is released. Only the flag
kinds' CHECK constraint changes: nothing held today is rewritten.

Revision ID: 9d4e6f8a0b21
Revises: 8c3d5e7f9a10
Create Date: 2026-12-07 07:10:00
"""

from alembic import op

revision = "9d4e6f8a0b21"
down_revision = "8c3d5e7f9a10"
branch_labels = None
depends_on = None

CONSTRAINT = "ck_sample_flags_flag_kind"
BEFORE = (
    "early_processing",
    "late_processing",
    "haemolysed",
    "clotted",
    "under_filled",
    "temperature_excursion",
    "unexpected",
    "late",
    "received_after_cancel",
    "damaged",
    "disposal_required",
)
AFTER = (*BEFORE, "quarantined")


def _allow(kinds: tuple[str, ...]) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (nothing refers
    # to sample_flags, so the rebuild loses nothing); PostgreSQL alters it in place.
    with op.batch_alter_table("sample_flags") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(
            op.f(CONSTRAINT), "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"
        )


def upgrade():
    _allow(AFTER)


def downgrade():
    # The older code knows no quarantine: its holds are forgotten, the tubes stay as they are.
    op.execute("DELETE FROM sample_flags WHERE kind = 'quarantined'")
    _allow(BEFORE)

"""Wrong passwords counted in the database: electronic signatures are throttled per user.

One row per user and purpose (``signature``, ``login``): failures within the window, when the
window started, and until when the user is locked out. Kept in the database so the limit
holds across app processes and servers, with nothing else to set up.

Revision ID: c85f5603cac1
Revises: 502b29c9255d
Create Date: 2026-12-06 18:01:56
"""

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "c85f5603cac1"
down_revision = "502b29c9255d"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "password_throttles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "signature",
                "login",
                name="throttle_purpose",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("window_started_at", biobank.db.UTCDateTime(), nullable=False),
        sa.Column("locked_until", biobank.db.UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", biobank.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "failures >= 0", name=op.f("ck_password_throttles_failures_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_throttles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "purpose", name=op.f("pk_password_throttles")),
    )


def downgrade():
    op.drop_table("password_throttles")

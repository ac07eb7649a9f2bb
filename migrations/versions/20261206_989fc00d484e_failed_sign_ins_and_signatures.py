"""Failed sign-ins and electronic signatures, recorded for admins (21 CFR Part 11 audit trail).

One row per failed attempt: when, what for (``login``, ``signature``), why (wrong password,
unknown username, locked out by the throttle, deactivated account), the username as typed,
the account it named (if any) and the client's address. Never a password. Written beside the
wrong-password count, so it outlives the failed request's rollback.

Revision ID: 989fc00d484e
Revises: c85f5603cac1
Create Date: 2026-12-06 20:53:00
"""

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "989fc00d484e"
down_revision = "c85f5603cac1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", biobank.db.UTCDateTime(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "signature",
                "login",
                name="auth_failure_purpose",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "wrong_password",
                "unknown_user",
                "locked_out",
                "inactive_account",
                name="auth_failure_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_failures_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_failures")),
    )
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.create_index("ix_auth_failures_at_id", ["at", "id"], unique=False)
        batch_op.create_index("ix_auth_failures_user_id_at", ["user_id", "at"], unique=False)


def downgrade():
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_failures_user_id_at")
        batch_op.drop_index("ix_auth_failures_at_id")
    op.drop_table("auth_failures")

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column, utcnow
from biobank.models.sites import Site


class Role(StrEnum):
    COLLECTOR = "collector"
    TECHNICIAN = "technician"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


def new_session_key() -> str:
    return secrets.token_hex(16)


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = enum_column(Role, "role")
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # The session cookie carries this key, not the user id: rotating it (deactivation, password
    # change) ends every session the user has open.
    session_key: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_session_key)
    last_login_at: Mapped[datetime | None]

    site: Mapped[Site] = relationship(lazy="joined")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.session_key

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(TimestampMixin, Base):
    """A bearer token for the API. Only a SHA-256 of the token is kept; it is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class ThrottlePurpose(StrEnum):
    """What a throttled password is entered for: each is counted on its own."""

    SIGNATURE = "signature"
    LOGIN = "login"


class PasswordThrottle(Base):
    """Wrong passwords a user entered for one purpose, counted in the database so the limit
    holds across app processes and servers (``services.core.throttle``).

    ``failures`` counts attempts since ``window_started_at``; once it reaches the limit,
    ``locked_until`` says when the user may try again (an admin can unlock sooner).
    """

    __tablename__ = "password_throttles"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[ThrottlePurpose] = enum_column(
        ThrottlePurpose, "throttle_purpose", primary_key=True
    )
    failures: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]

    __table_args__ = (sa.CheckConstraint("failures >= 0", name="failures_not_negative"),)

    user: Mapped[User] = relationship()


class AuthFailureReason(StrEnum):
    """Why a sign-in or an electronic signature failed."""

    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_USER = "unknown_user"
    # Refused by the throttle (too many wrong passwords) without a look at the password.
    LOCKED_OUT = "locked_out"
    # The right password, but the account is deactivated (sign-in only).
    INACTIVE_ACCOUNT = "inactive_account"


class AuthFailure(Base):
    """One failed sign-in or electronic signature: the audit trail 21 CFR Part 11 expects of
    attempts to use the system, for admins to read (``services.admin.auth_failures``).

    Written by ``services.core.throttle`` so that it outlives the failed request's rollback, as the
    count of wrong passwords does. Append-only: rows are never updated; old ones may be
    pruned (``flask biobank prune-failed-attempts``). Never holds what was typed as the
    password: ``username`` is what was typed as the username (trimmed, at most 64 characters;
    the password cut out where it holds it), ``user_id`` the account it named, if any;
    ``address`` the client address the app saw.
    """

    __tablename__ = "auth_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    purpose: Mapped[ThrottlePurpose] = enum_column(ThrottlePurpose, "auth_failure_purpose")
    reason: Mapped[AuthFailureReason] = enum_column(AuthFailureReason, "auth_failure_reason")
    username: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    address: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        # The admin page (newest first) and pruning (oldest first) walk this one.
        sa.Index("ix_auth_failures_at_id", "at", "id"),
        sa.Index("ix_auth_failures_user_id_at", "user_id", "at"),
    )

    user: Mapped[User | None] = relationship(lazy="joined")

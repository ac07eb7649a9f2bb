"""Wrong passwords counted in the database, so a limit holds across processes and servers;
and every failed attempt recorded there for admins (``models.AuthFailure``).

An attempt takes a slot *before* the password is checked: one guarded UPDATE that succeeds
only while the user is under the limit, so guesses sent at once cannot all slip in between a
read and a write. A right password gives the slot back and clears the count; a wrong one
leaves it counted, and the attempt that takes the last slot locks the user until the lock
time has passed (an admin can unlock sooner).

The count must outlive the request that carries the wrong password, which fails and rolls
back. Where writers run side by side (PostgreSQL) it is kept in a short transaction of its
own, on a connection of its own: the attempt locks the user's row there (so one user's
password checks take turns, and each sees what the one before left), checks the password, and
commits the count or its clearing. A right password entered sixteen times at once is accepted
sixteen times; sixteen wrong guesses at once get exactly the allowed number of tries. SQLite has
one writer, and a unit of work holds the write lock from its start (so signing requests take
turns there anyway): the slot is counted in the request's own transaction and, when that
transaction does not commit, written again in a fresh one once it has ended.

Each failed attempt (a wrong password, a refusal while locked out, an unknown username, a
deactivated account) is also recorded as an ``AuthFailure`` row, written the same way so it
too outlives the rollback: beside the count where the user's row is held, and otherwise
through ``_keep`` (a short transaction of its own, or the request's and again after it). The
row names the username as typed and the client's address (``Source``), never the password.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from biobank.db import SQLITE_IMMEDIATE, UTCDateTime, bound_engine, side_engine, table_of, utcnow
from biobank.errors import TooManyAttempts, describe_exception
from biobank.extensions import db
from biobank.models import (
    AuthFailure,
    AuthFailureReason,
    PasswordThrottle,
    ThrottlePurpose,
    User,
)

log = logging.getLogger(__name__)

THROTTLES = table_of(PasswordThrottle)
FAILURES = table_of(AuthFailure)
# Settings per purpose: BIOBANK_<prefix>_MAX_FAILURES, _WINDOW_MINUTES, _LOCK_MINUTES.
CONFIG_PREFIX = {
    ThrottlePurpose.SIGNATURE: "BIOBANK_SIGNATURE",
    ThrottlePurpose.LOGIN: "BIOBANK_LOGIN",
}
WHAT_IS_LOCKED = {ThrottlePurpose.SIGNATURE: "signing", ThrottlePurpose.LOGIN: "signing in"}


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: timedelta
    lockout: timedelta


def limit_for(purpose: ThrottlePurpose) -> Limit:
    config, prefix = current_app.config, CONFIG_PREFIX[purpose]
    return Limit(
        max_failures=int(config[f"{prefix}_MAX_FAILURES"]),
        window=timedelta(minutes=int(config[f"{prefix}_WINDOW_MINUTES"])),
        lockout=timedelta(minutes=int(config[f"{prefix}_LOCK_MINUTES"])),
    )


def _at(moment: datetime) -> sa.BindParameter[datetime]:
    return sa.literal(moment, UTCDateTime())


def _row(user_id: int, purpose: ThrottlePurpose) -> sa.ColumnElement[bool]:
    return sa.and_(THROTTLES.c.user_id == user_id, THROTTLES.c.purpose == purpose)


# --- where the count is written ---------------------------------------------------------------

_REPLAY = "biobank_throttle_replay"


def _one_writer(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def _counter() -> Iterator[tuple[Connection, Engine]]:
    """A connection to count on: its own committed transaction, or (one writer) the session's."""
    session = db.session()
    engine = bound_engine(session)
    if _one_writer(engine):
        yield session.connection(), engine
        return
    with side_engine(engine).begin() as connection:
        yield connection, engine


def _again_unless_committed(engine: Engine, change: Callable[[Connection], object]) -> None:
    """Write ``change`` again in a fresh transaction if the session's transaction ends without
    committing (one writer: it was written there, and a rollback takes it away)."""
    if _one_writer(engine):
        db.session().info.setdefault(_REPLAY, []).append((engine, change))


def _keep(change: Callable[[Connection], object]) -> None:
    """Write ``change`` so that it outlives the request: in a short transaction of its own,
    or (one writer) in the request's, and again after it if that does not commit."""
    with _counter() as (connection, engine):
        change(connection)
    _again_unless_committed(engine, change)


@event.listens_for(Session, "after_commit")
def _committed_with_the_session(session: Session) -> None:
    session.info.pop(_REPLAY, None)


@event.listens_for(Session, "after_transaction_end")
def _replay_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    pending = session.info.pop(_REPLAY, None)
    for engine, change in pending or ():
        try:
            with (
                engine.connect().execution_options(**{SQLITE_IMMEDIATE: True}) as connection,
                connection.begin(),
            ):
                change(connection)
        except Exception as error:  # never hide the error that rolled the request back
            log.error(
                "a failed attempt could not be counted or recorded after the rollback: %s",
                describe_exception(error),
            )


# --- counting ---------------------------------------------------------------------------------


def _ensure_row(connection: Connection, user_id: int, purpose: ThrottlePurpose, now: datetime):
    values = {"user_id": user_id, "purpose": purpose, "failures": 0, "window_started_at": now}
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(THROTTLES)
        connection.execute(
            insert.values(**values).on_conflict_do_nothing(index_elements=["user_id", "purpose"])
        )
    elif connection.scalar(sa.select(THROTTLES.c.failures).where(_row(user_id, purpose))) is None:
        connection.execute(THROTTLES.insert().values(**values))


def _take_slot(
    connection: Connection, user_id: int, purpose: ThrottlePurpose, limit: Limit, now: datetime
) -> int | None:
    """Count one attempt if the user is under the limit: the attempts in the window so far,
    this one included; None when the user is locked out. One guarded UPDATE, so concurrent
    attempts queue on the row and each sees the count the one before left."""
    _ensure_row(connection, user_id, purpose, now)
    c = THROTTLES.c
    lock_passed = sa.and_(c.locked_until.is_not(None), c.locked_until <= _at(now))
    fresh = sa.or_(c.window_started_at <= _at(now - limit.window), lock_passed)
    counted = sa.case((fresh, 1), else_=c.failures + 1)
    stmt = (
        THROTTLES.update()
        .where(
            _row(user_id, purpose),
            sa.or_(c.locked_until.is_(None), lock_passed),
            sa.or_(c.failures < limit.max_failures, fresh),
        )
        .values(
            failures=counted,
            window_started_at=sa.case((fresh, _at(now)), else_=c.window_started_at),
            locked_until=sa.case(
                (counted >= limit.max_failures, _at(now + limit.lockout)), else_=None
            ),
            last_attempt_at=_at(now),
        )
        .returning(c.failures)
    )
    return connection.execute(stmt).scalar_one_or_none()


def _clear(connection: Connection, user_id: int, purpose: ThrottlePurpose) -> None:
    """Forget the count: a row is kept only while there are wrong passwords to remember."""
    connection.execute(THROTTLES.delete().where(_row(user_id, purpose)))


def _counting(user_id: int, purpose: ThrottlePurpose, limit: Limit):
    def change(connection: Connection) -> None:
        _take_slot(connection, user_id, purpose, limit, utcnow())

    return change


def _clearing(user_id: int, purpose: ThrottlePurpose):
    def change(connection: Connection) -> None:
        _clear(connection, user_id, purpose)

    return change


# --- recording failed attempts ----------------------------------------------------------------

MAX_USERNAME = 64
MAX_ADDRESS = 64
WITHHELD = "(withheld)"  # in place of the password, where a username holds it


def _storable(text: str, most: int) -> str:
    """Text any database can keep: no NUL, no lone surrogate, at most ``most`` characters."""
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:most]


@dataclass(frozen=True)
class Source:
    """Who made an attempt and from where, as its failure is recorded: the username as typed
    (or the signer's) and the client's address. Never the password."""

    username: str
    address: str | None = None

    @classmethod
    def typed(cls, username: str, password: str | None, address: str | None) -> Source:
        """A sign-in's source: the username as typed, trimmed and cut to 64 characters, with
        the password cut out wherever it holds it (typed into both fields, or both the same):
        ``WITHHELD`` stands in its place. It is cut out before the username is shortened, so
        no piece of it is left at the end either."""
        typed = username.strip()
        if password:
            typed = typed.replace(password, WITHHELD)
        return cls(typed, address)

    def __post_init__(self) -> None:
        object.__setattr__(self, "username", _storable(self.username, MAX_USERNAME))
        if self.address is not None:
            object.__setattr__(self, "address", _storable(self.address, MAX_ADDRESS) or None)


@dataclass(frozen=True)
class Failure:
    """One failed attempt, to be written as an ``AuthFailure`` row (the same row if written
    again after a rollback)."""

    purpose: ThrottlePurpose
    reason: AuthFailureReason
    source: Source
    user_id: int | None = None
    at: datetime = field(default_factory=utcnow)

    def write(self, connection: Connection) -> None:
        connection.execute(
            FAILURES.insert().values(
                at=self.at,
                purpose=self.purpose,
                reason=self.reason,
                username=self.source.username,
                user_id=self.user_id,
                address=self.source.address,
            )
        )


def record_failure(
    purpose: ThrottlePurpose,
    reason: AuthFailureReason,
    source: Source,
    user: User | None = None,
) -> None:
    """Record a failed attempt the throttle does not count (an unknown username, a deactivated
    account) so that it outlives the request's rollback."""
    _keep(Failure(purpose, reason, source, user.id if user is not None else None).write)


def _local(moment: datetime, user: User) -> str:
    try:
        zone = ZoneInfo(user.site.timezone)
    except (KeyError, ValueError, LookupError):
        zone = ZoneInfo("UTC")
    return f"{moment.astimezone(zone):%H:%M} ({zone.key} time)"


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@dataclass
class Attempt:
    """One counted attempt: say whether the password was right (exactly once)."""

    user: User
    purpose: ThrottlePurpose
    limit: Limit
    attempts: int
    engine: Engine
    source: Source
    # PostgreSQL: the side connection holding the user's row locked until the answer is known.
    held: Connection | None = None
    # PostgreSQL: the user is not committed yet (made in this very transaction), so what is
    # written of the attempt goes in that transaction, to be kept or dropped with the user.
    pending_user: bool = False

    def _settle(self, change: Callable[[Connection], object]) -> None:
        """Write the outcome where the row is held, and let go of it."""
        assert self.held is not None
        try:
            change(self.held)
            self.held.commit()
        finally:
            self.held.close()
            self.held = None

    def _write(self, change: Callable[[Connection], object]) -> None:
        """Write ``change`` where this attempt's outcome goes, so it outlives the request."""
        if self.held is not None:
            self._settle(change)
        elif self.pending_user:
            change(db.session.connection())
        else:
            _keep(change)

    @property
    def tries_left(self) -> int:
        return max(0, self.limit.max_failures - self.attempts)

    def failed(self) -> str:
        """Keep it counted (the slot was taken) and record it as a wrong password; a sentence
        on what is left, for the user."""
        failure = Failure(self.purpose, AuthFailureReason.WRONG_PASSWORD, self.source, self.user.id)
        if self.held is not None:

            def count(connection: Connection) -> None:
                taken = _take_slot(connection, self.user.id, self.purpose, self.limit, failure.at)
                self.attempts = taken if taken is not None else self.limit.max_failures
                failure.write(connection)

            self._write(count)
        else:  # one writer: the slot was counted in the request's transaction already
            self._write(failure.write)
        _again_unless_committed(self.engine, _counting(self.user.id, self.purpose, self.limit))
        what = WHAT_IS_LOCKED[self.purpose]
        lock = _minutes(int(self.limit.lockout.total_seconds()))
        if self.tries_left == 0:
            until = utcnow() + self.limit.lockout
            return (
                f"That makes {self.limit.max_failures} wrong passwords: {what} is locked for "
                f"{lock}, until {_local(until, self.user)}. An administrator can unlock it "
                "sooner."
            )
        tries = "1 more try" if self.tries_left == 1 else f"{self.tries_left} more tries"
        return f"{tries} before {what} is locked for {lock}."

    def succeeded(self) -> None:
        """A right password: the count starts again from nothing."""
        self._write(_clearing(self.user.id, self.purpose))


def take_attempt(
    user: User, purpose: ThrottlePurpose, source: Source, *, field: str | None = None
) -> Attempt:
    """Count an attempt to enter ``user``'s password for ``purpose`` before checking it, or
    refuse it with ``TooManyAttempts`` (429, ``Retry-After``) while the user is locked out,
    recording the refusal; ``source`` is who tries from where, as a failure is recorded, and
    ``field`` names the form field the refusal belongs beside."""
    limit = limit_for(purpose)
    engine = bound_engine(db.session)
    if not _one_writer(engine):
        return _hold_attempt(user, purpose, limit, engine, source, field)
    now = utcnow()
    row = None
    with _counter() as (connection, engine):
        # A right password deletes the row: an attempt that queued behind that finds no row
        # to count on, and counts again on a new one.
        for _ in range(3):
            attempts = _take_slot(connection, user.id, purpose, limit, now)
            if attempts is not None:
                return Attempt(user, purpose, limit, attempts, engine, source)
            row = connection.execute(
                sa.select(THROTTLES.c.locked_until, THROTTLES.c.window_started_at).where(
                    _row(user.id, purpose)
                )
            ).first()
            if row is not None:
                break
    _keep(Failure(purpose, AuthFailureReason.LOCKED_OUT, source, user.id, now).write)
    if row is None:  # deleted under us again and again: the user keeps getting it right
        raise TooManyAttempts("Too many attempts at once: try again.", retry_after=1)
    _refuse(user, purpose, limit, row, now, field)


def _hold_attempt(
    user: User,
    purpose: ThrottlePurpose,
    limit: Limit,
    engine: Engine,
    source: Source,
    field: str | None,
) -> Attempt:
    """PostgreSQL: lock the user's row on a side connection and keep it until the password has
    been checked; refuse at once while the user is locked out (and record the refusal)."""
    connection = side_engine(engine).connect()
    try:
        connection.begin()
        try:
            _ensure_row(connection, user.id, purpose, utcnow())
        except sa.exc.IntegrityError:
            # The user is not committed yet (made in this very transaction, as the demo data
            # does): no other request can guess at an account that does not exist outside
            # it, and if the transaction rolls back there is no one to remember.
            connection.close()
            return Attempt(user, purpose, limit, 0, engine, source, pending_user=True)
        row = connection.execute(
            sa.select(THROTTLES.c.locked_until, THROTTLES.c.window_started_at, THROTTLES.c.failures)
            .where(_row(user.id, purpose))
            .with_for_update()
        ).one()
        now = utcnow()  # after the wait for the row: what the attempts before this one left
        if row.locked_until is not None and row.locked_until > now:
            Failure(purpose, AuthFailureReason.LOCKED_OUT, source, user.id, now).write(connection)
            connection.commit()
            _refuse(user, purpose, limit, row, now, field)
    except BaseException:
        connection.close()  # rolls back what was not committed: nothing else of it is kept
        raise
    return Attempt(user, purpose, limit, row.failures, engine, source, held=connection)


def _refuse(
    user: User,
    purpose: ThrottlePurpose,
    limit: Limit,
    row: sa.Row,
    now: datetime,
    field: str | None,
) -> NoReturn:
    until = row.locked_until or row.window_started_at + limit.window
    retry_after = max(1, math.ceil((until - now).total_seconds()))
    detail = (
        f"Too many wrong passwords: {WHAT_IS_LOCKED[purpose]} is locked for your account until "
        f"{_local(until, user)}. Try again in {_minutes(retry_after)}, or ask an administrator "
        "to unlock it."
    )
    if purpose == ThrottlePurpose.SIGNATURE:
        detail += " Nothing was signed or saved."
    raise TooManyAttempts(
        detail,
        errors={field: [detail]} if field else None,
        retry_after=retry_after,
        locked_until=until.isoformat(),
    )


# --- what admins see and do ---------------------------------------------------------------


def locks(user_ids: list[int] | None = None, now: datetime | None = None) -> dict[int, datetime]:
    """When each locked-out user may try again (users not locked out are left out)."""
    now = now or utcnow()
    stmt = sa.select(PasswordThrottle.user_id, sa.func.max(PasswordThrottle.locked_until)).where(
        PasswordThrottle.locked_until > now
    )
    if user_ids is not None:
        stmt = stmt.where(PasswordThrottle.user_id.in_(user_ids))
    return {
        user_id: until
        for user_id, until in db.session.execute(stmt.group_by(PasswordThrottle.user_id))
        if until is not None
    }


def clear(user: User, purpose: ThrottlePurpose | None = None) -> list[ThrottlePurpose]:
    """Forget ``user``'s wrong passwords (all purposes, or one): the purposes that had any.
    Written in the caller's unit of work."""
    stmt = sa.select(PasswordThrottle).where(
        PasswordThrottle.user_id == user.id,
        sa.or_(PasswordThrottle.failures > 0, PasswordThrottle.locked_until.is_not(None)),
    )
    if purpose is not None:
        stmt = stmt.where(PasswordThrottle.purpose == purpose)
    cleared = []
    for row in db.session.scalars(stmt.order_by(PasswordThrottle.purpose)):
        cleared.append(row.purpose)
        db.session.delete(row)
    db.session.flush()
    return cleared

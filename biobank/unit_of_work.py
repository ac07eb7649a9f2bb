"""Units of work on the request's session: everything done inside one commits once, or nothing
does; and the two session helpers that go with them (a read by an id from outside, and
forgetting rows a statement changed behind the ORM's back).

They live apart from ``biobank.db`` (column types, the clock, the declarative base), which
``biobank.extensions`` imports: ``db`` imports nothing of the app, so the two no longer import
each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from biobank.db import MAX_RECORD_ID, SQLITE_IMMEDIATE
from biobank.extensions import db

if TYPE_CHECKING:
    from flask import Flask

RecordT = TypeVar("RecordT")


def is_record_id(record_id: int) -> bool:
    """Whether an id from outside can name a row at all (the columns are 32-bit)."""
    return 1 <= record_id <= MAX_RECORD_ID


def get_record(model: type[RecordT], record_id: int, **options: Any) -> RecordT | None:
    """``session.get`` for ids that come from outside: out-of-range ids find nothing."""
    if not is_record_id(record_id):
        return None
    return db.session.get(model, record_id, **options)


def expire_loaded(*records: tuple[type, int | None]) -> None:
    """Rows a statement changed without the ORM: a copy the session holds of any of them is
    read again when next used, instead of showing what was there before."""
    session = db.session()
    for model, record_id in records:
        if record_id is not None:
            loaded = session.identity_map.get(identity_key(model, record_id))
            if loaded is not None:
                session.expire(loaded)


@contextmanager
def unit_of_work(*, keep_loaded: bool = False) -> Iterator[Any]:
    """Commit everything done inside the block once, or nothing at all.

    On SQLite the block runs in a fresh BEGIN IMMEDIATE transaction: whatever was read before
    (e.g. the logged-in user) is reloaded inside it, so writes never come from a stale snapshot.

    ``keep_loaded``: the commit leaves what the session has loaded as it is, for a unit that
    writes only rows nothing else in the request reads (a claimed Idempotency-Key), so the
    request does not read its user and the rest again.
    """
    session = db.session()  # the request's real Session behind the scoped proxy
    if session.get_bind().dialect.name == "sqlite":
        if session.in_transaction():
            session.commit()  # ends a read-only snapshot; nothing is written outside a unit
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
    try:
        yield session
        expiring, session.expire_on_commit = session.expire_on_commit, not keep_loaded
        try:
            session.commit()
        finally:
            session.expire_on_commit = expiring
    except BaseException:
        session.rollback()
        raise


# --- the end of a request ------------------------------------------------------------------

_FLUSHED = "biobank_flushed_since_transaction_began"


def _note_flush(session: Session, _flush_context: Any) -> None:
    session.info[_FLUSHED] = True


def _forget_flush(session: Session) -> None:
    session.info.pop(_FLUSHED, None)


def end_read_only_transaction(error: BaseException | None) -> None:
    """At the end of a request, a transaction that only read ends with COMMIT, not with the
    ROLLBACK the session's close would send.

    Both end a read alike, but psycopg forgets every prepared statement of the connection at
    each ROLLBACK, so on PostgreSQL the statements every request runs (a look-up, a scan's
    eight) would be parsed and planned afresh each time: a look-up's join down the freezer
    path cost PostgreSQL more CPU to plan than to run. Anything that wrote, or a request that
    failed, still ends in a rollback: a unit of work commits its own writes, nothing is
    written outside one, and a transaction that flushed is never committed here."""
    if error is not None or not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction() or session.info.get(_FLUSHED):
        return
    if session.new or session.dirty or session.deleted:
        return
    try:
        session.commit()
    except sa.exc.SQLAlchemyError:
        session.rollback()  # what the close would have done


def init_app(app: Flask) -> None:
    if not sa.event.contains(Session, "after_flush", _note_flush):
        sa.event.listen(Session, "after_flush", _note_flush)
        sa.event.listen(Session, "after_commit", _forget_flush)
        sa.event.listen(Session, "after_rollback", _forget_flush)
    # Teardown functions run last-registered first: this one before Flask-SQLAlchemy's close.
    app.teardown_appcontext(end_read_only_transaction)

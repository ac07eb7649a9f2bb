"""Database foundations: the declarative base, the UTC datetime type and the unit of work.

Services change objects and ``flush()``; whoever owns the request (a view, a CLI command, a
test) wraps the work in ``unit_of_work()``, which commits once or rolls everything back.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry, scoped_session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_SIDE_ENGINES: dict[tuple[int, str], sa.Engine] = {}
_SIDE_ENGINES_LOCK = threading.Lock()


def rows_affected(result: sa.Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched (its cursor's rowcount)."""
    return cast("sa.CursorResult[Any]", result).rowcount or 0


def bound_engine(session: Any) -> sa.Engine:
    """The engine a session (or ``db.session``) runs on, even when it is bound to a
    connection."""
    bind = session.get_bind()
    return bind if isinstance(bind, sa.Engine) else bind.engine


def side_engine(engine: sa.Engine) -> sa.Engine:
    """An engine with a small pool of its own for short transactions beside a request's (a
    wrong-password count, a kept figure): the request already holds a connection of the main
    pool, and must not wait for a second one there."""
    from flask import current_app

    key = (os.getpid(), engine.url.render_as_string(hide_password=False))
    with _SIDE_ENGINES_LOCK:
        side = _SIDE_ENGINES.get(key)
        if side is None:
            options = dict(current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
            options.update(pool_size=2, max_overflow=14, pool_timeout=30)
            side = _SIDE_ENGINES[key] = sa.create_engine(engine.url, **options)
    return side


# Set only by ``clock_at`` (the demo data is made as it would have happened, over days).
_CLOCK: ContextVar[datetime | None] = ContextVar("biobank_clock", default=None)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only clock the app reads)."""
    return _CLOCK.get() or datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Inside the block, this thread's ``utcnow()`` is ``moment``: records made there (their
    times, their custody events) read as made then. For demo data only; nothing the app
    serves sets it."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _CLOCK.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _CLOCK.reset(token)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC on every database.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC and made aware again on the way out. Naive datetimes are refused on the way in: a naive
    time is ambiguous, and a wrong hour in a chain of custody is a silent corruption.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: give a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


def enum_column(enum_class: type[enum.StrEnum], name: str, **kwargs: Any) -> Mapped[Any]:
    """A string column holding a ``StrEnum``, with a CHECK constraint listing its values.

    Stored as plain VARCHAR (not a native ENUM type) so adding a value is an ordinary migration
    on both databases.
    """
    return mapped_column(
        sa.Enum(
            enum_class,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=enum_values,
            validate_strings=True,
        ),
        **kwargs,
    )


class sorted_after_filtering(sa.sql.expression.FunctionElement[Any]):
    """An ORDER BY column that SQLite must not walk an index of to avoid the sort.

    Once ANALYZE has run, SQLite (which keeps no per-value statistics) prefers walking the
    column's index in order over the few rows a selective filter finds, and reads a million
    rows to skip a sort of fifty. A unary plus is SQLite's documented way to turn that index
    off for one term; other databases order by the plain column.
    """

    name = "sorted_after_filtering"
    inherit_cache = True


@compiles(sorted_after_filtering)
def _plain_column(element: sorted_after_filtering, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(sorted_after_filtering, "sqlite")
def _column_without_its_index(element: sorted_after_filtering, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


class Base(DeclarativeBase):
    # On the registry, not the class: Flask-SQLAlchemy subclasses this base once more.
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


# A session, or flask-sqlalchemy's request-scoped proxy for one (``db.session``): code that
# runs in a request and in the sequencer's own session takes either.
AnySession = Session | scoped_session[Any]


def table_of(model: type[Base]) -> sa.Table:
    """A model's table, typed as the Table it is (Core INSERT/UPDATE/DELETE take a Table)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


SQLITE_IMMEDIATE = "biobank_sqlite_immediate"
# Record ids are 32-bit on PostgreSQL; a larger number from a URL is no record, not an error.
MAX_RECORD_ID = 2**31 - 1

"""Row locks for every write that checks a state first: one place for the rule.

Two technicians clicking at once must not both win. A write that checks a tube's (or a
shipment's, a collection's, a box's) state first takes the row's lock, then reads the state
again *after* the lock: ``populate_existing`` overwrites what the session loaded before, which
may be a moment out of date (the identity map would otherwise hand back the stale object).
The lock is held until the unit of work commits or rolls back.

Order, so two writers never wait for each other in a circle: a shipment or a collection
first, then its tubes by id; a tube before the box it goes into. Boxes are locked for share
by the writers that put tubes in them (many at once) and for update by whoever takes a box
out of use. On SQLite the unit of work already holds the database's write lock
(BEGIN IMMEDIATE), so only the fresh read is needed there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from biobank.db import MAX_RECORD_ID, utcnow
from biobank.errors import NotFound
from biobank.extensions import db
from biobank.models import (
    Collection,
    Container,
    Event,
    EventType,
    Sample,
    Shipment,
    ShipmentItem,
    StoragePosition,
    User,
)

RowT = TypeVar("RowT")
# A change this recent is "a moment ago" in a refusal; older ones are given a time.
A_MOMENT = timedelta(minutes=2)


def on_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def locked(
    stmt: sa.Select[Any], of: Any, *, share: bool = False, postgres: bool | None = None
) -> sa.Select[Any]:
    """``stmt`` taking ``of``'s row lock (PostgreSQL) and reading past the identity map.

    ``of``: eager-loaded outer joins cannot be locked, so only the named table is.
    ``postgres``: for a statement built once, the dialect it is for (default: the session's)."""
    stmt = stmt.execution_options(populate_existing=True)
    if on_postgres() if postgres is None else postgres:
        stmt = stmt.with_for_update(of=of, read=share)
    return stmt


_HELD = "biobank.locks.held"


def held(record: Any) -> bool | None:
    """Whether this transaction has locked and read ``record`` already (True: with its
    children), or None."""
    return db.session.info.get(_HELD, {}).get((type(record), record.id))


def mark_held(record: Any, *, with_children: bool) -> None:
    """Note that ``record`` was locked and read fresh in this transaction: a second
    ``lock_*`` of it costs no statement."""
    db.session.info.setdefault(_HELD, {})[(type(record), record.id)] = with_children


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_held(session: Session, transaction: SessionTransaction) -> None:
    # Any end, a savepoint's included: a lock taken inside a savepoint rolled back is gone.
    session.info.pop(_HELD, None)


def lock_sample(barcode: str, *, position: bool = True) -> Sample | None:
    """The tube's row, locked until commit and read fresh, with its position read fresh too
    (``position=False`` for writes that never look at it: packing, receiving).

    Whoever changes a tube's position holds this lock, so the position read after it is the
    tube's true place."""
    sample = db.session.scalar(locked(sa.select(Sample).where(Sample.barcode == barcode), Sample))
    if sample is not None and position:
        _fresh_position(sample)
    return sample


def lock_samples(sample_ids: Iterable[int]) -> list[Sample]:
    """Many tubes' rows, locked in id order (the order every writer uses), read fresh."""
    wanted = sorted(set(sample_ids))
    if not wanted:
        return []
    return list(
        db.session.scalars(
            locked(sa.select(Sample).where(Sample.id.in_(wanted)).order_by(Sample.id), Sample)
        )
    )


def _fresh_position(sample: Sample) -> None:
    position = db.session.scalar(
        sa.select(StoragePosition)
        .where(StoragePosition.sample_id == sample.id)
        .execution_options(populate_existing=True)
    )
    set_committed_value(sample, "position", position)


def _lock_by_id(model: type[RowT], record_id: int, *options: Any) -> RowT | None:
    if not 1 <= record_id <= MAX_RECORD_ID:
        return None
    stmt = sa.select(model).where(model.id == record_id).options(*options)  # type: ignore[attr-defined]
    return db.session.scalar(locked(stmt, model))


def _found(fresh: RowT | None, record: RowT) -> RowT:
    if fresh is None:  # gone since it was read: nothing deletes these, but say so plainly
        raise NotFound(f"{type(record).__name__.lower()} {record.id} is gone: reload the page.")  # type: ignore[attr-defined]
    return fresh


def lock_shipment(shipment: Shipment, *, with_items: bool = True) -> Shipment:
    """The shipment locked and read again, its items (and their tubes) with it unless
    ``with_items`` is False (a scan must not load a thousand items)."""
    already = held(shipment)
    if already is True or (already is False and not with_items):
        return shipment  # locked and read in this transaction already (e.g. by get_shipment)
    options = [selectinload(Shipment.items).selectinload(ShipmentItem.sample)] if with_items else []
    fresh = _found(_lock_by_id(Shipment, shipment.id, *options), shipment)
    mark_held(fresh, with_children=with_items)
    return fresh


def lock_collection(collection: Collection) -> Collection:
    """The collection locked and read again, its tubes with it (their rows are not locked:
    whoever changes them locks them by id after this)."""
    fresh = _lock_by_id(Collection, collection.id, selectinload(Collection.samples))
    return _found(fresh, collection)


def lock_box(box: Container, *, share: bool = False) -> Container:
    """The box (or any container) locked and read again: ``share`` for writers that put tubes
    in it (they do not exclude each other), update for whoever takes it out of use."""
    stmt = sa.select(Container).where(Container.id == box.id)
    return _found(db.session.scalar(locked(stmt, Container, share=share)), box)


def lock_containers(container_ids: Iterable[int]) -> list[Container]:
    wanted = sorted(set(container_ids))
    stmt = sa.select(Container).where(Container.id.in_(wanted)).order_by(Container.id)
    return list(db.session.scalars(locked(stmt, Container)))


def latest_event(event_types: Iterable[EventType | str], **about: Any) -> Event | None:
    """The latest event of these types about a record (``sample=``, ``shipment=``,
    ``collection=`` or ``container=``)."""
    stmt = sa.select(Event).where(Event.type.in_([str(t) for t in event_types]))
    for name, record in about.items():
        stmt = stmt.where(getattr(Event, f"{name}_id") == record.id)
    return db.session.scalar(stmt.order_by(Event.id.desc()).limit(1))


def by_whom(actor: User, event: Event | None) -> str:
    """ "by Ann Lee a moment ago": who made a change and when, for a refusal's words."""
    if event is None:
        return "by someone else a moment ago"
    if event.actor_id == actor.id:
        who = "by you (another click, tab or device)"
    else:
        who = f"by {event.actor.full_name}" if event.actor else "by someone else"
    ago = utcnow() - event.recorded_at
    when = "a moment ago" if ago < A_MOMENT else f"at {event.recorded_at:%Y-%m-%d %H:%M} UTC"
    return f"{who} {when}"


def who_and_when(actor: User, event_types: Iterable[EventType | str], **about: Any) -> str:
    """``by_whom`` of the latest such event about the record."""
    return by_whom(actor, latest_event(event_types, **about))

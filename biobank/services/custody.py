"""The chain of custody: ``record_event`` (the only writer of events) and its verification.

Each event stores SHA-256 over its content and the previous event's hash. Appends are
serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite takes its write lock at
BEGIN IMMEDIATE), so the chain never forks when two technicians scan at the same moment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import (
    Collection,
    Container,
    Event,
    EventType,
    Sample,
    Shipment,
    Site,
    User,
)

GENESIS_HASH = "0" * 64
# Any constant would do; it names the lock in pg_locks for whoever is debugging.
CHAIN_LOCK_KEY = 0x42494F42  # "BIOB"
_HEAD_KEY = "biobank.custody.head"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """What is stored must be exactly what was hashed: Decimals, dates … become strings."""
    return json.loads(canonical_json(dict(details or {})))


def event_hash(
    *,
    type: str,
    at: datetime,
    actor_id: int | None,
    site_id: int | None,
    sample_id: int | None,
    collection_id: int | None,
    shipment_id: int | None,
    container_id: int | None,
    reason: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    content = {
        "type": type,
        "at": at.isoformat(),
        "actor_id": actor_id,
        "site_id": site_id,
        "sample_id": sample_id,
        "collection_id": collection_id,
        "shipment_id": shipment_id,
        "container_id": container_id,
        "reason": reason,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def _hash_of(event: Event) -> str:
    return event_hash(
        type=event.type,
        at=event.at,
        actor_id=event.actor_id,
        site_id=event.site_id,
        sample_id=event.sample_id,
        collection_id=event.collection_id,
        shipment_id=event.shipment_id,
        container_id=event.container_id,
        reason=event.reason,
        details=event.details,
        prev_hash=event.prev_hash,
    )


def chain_head(session: Session) -> str:
    """The hash the next event links to, taking the append lock on first use in a transaction.

    The head is cached on the session until its transaction ends, so a service recording a
    thousand events (closing a big receipt) reads it once.
    """
    cached = session.info.get(_HEAD_KEY)
    if cached is not None:
        return cached
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    head = session.scalar(sa.select(Event.hash).order_by(Event.id.desc()).limit(1))
    return head or GENESIS_HASH


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_chain_head(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HEAD_KEY, None)


def _id_of(record: Any) -> int | None:
    return None if record is None else record.id


def record_event(
    type: EventType,
    *,
    actor: User | None,
    site: Site | None = None,
    sample: Sample | None = None,
    collection: Collection | None = None,
    shipment: Shipment | None = None,
    container: Container | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one event to the chain of custody, in the caller's transaction.

    ``site`` defaults to the actor's site: the place where the thing happened.
    """
    session = db.session
    subjects = (sample, collection, shipment, container)
    if any(subject is not None and subject.id is None for subject in subjects):
        session.flush()
    if site is None and actor is not None:
        site = actor.site
    event = Event(
        type=str(EventType(type)),
        # Hashed exactly as it will read back: UTC.
        at=(at or utcnow()).astimezone(UTC),
        actor_id=_id_of(actor),
        site_id=_id_of(site),
        sample_id=_id_of(sample),
        collection_id=_id_of(collection),
        shipment_id=_id_of(shipment),
        container_id=_id_of(container),
        reason=reason,
        details=normalise_details(details),
        prev_hash=chain_head(session),
    )
    event.hash = _hash_of(event)
    session.add(event)
    session.info[_HEAD_KEY] = event.hash
    return event


def record_events(
    type: EventType,
    samples: list[Sample],
    *,
    actor: User | None,
    site: Site | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    **subjects: Any,
) -> list[Event]:
    """One event per sample, all with the same content otherwise."""
    return [
        record_event(
            type,
            actor=actor,
            site=site,
            sample=sample,
            reason=reason,
            details=details,
            at=at,
            **subjects,
        )
        for sample in samples
    ]


# Rows per executemany when many events go in at once (memory stays flat).
BULK_EVENT_BATCH = 5000


def record_events_in_bulk(
    events: Sequence[Mapping[str, Any]],
    *,
    actor: User | None,
    site: Site | None = None,
    at: datetime | None = None,
) -> int:
    """Append many events at once (an import's thousands of tubes), in the caller's
    transaction: chained and hashed exactly as ``record_event`` does, under the same append
    lock, but inserted as plain rows (executemany) instead of one ORM object each.

    Each mapping gives ``type`` and any of ``sample_id``, ``collection_id``, ``shipment_id``,
    ``container_id``, ``reason`` and ``details``; ``actor``, ``site`` and ``at`` are shared.
    """
    session = db.session
    # Events still pending in the session (a box created just before) go in first: the
    # rows below go straight to the connection, and must come after what they link to.
    session.flush()
    if site is None and actor is not None:
        site = actor.site
    moment = (at or utcnow()).astimezone(UTC)
    previous = chain_head(session)
    rows = []
    for spec in events:
        row = {
            "type": str(EventType(spec["type"])),
            "at": moment,
            "actor_id": _id_of(actor),
            "site_id": _id_of(site),
            "sample_id": spec.get("sample_id"),
            "collection_id": spec.get("collection_id"),
            "shipment_id": spec.get("shipment_id"),
            "container_id": spec.get("container_id"),
            "reason": spec.get("reason"),
            "details": normalise_details(spec.get("details")),
            "prev_hash": previous,
        }
        row["hash"] = previous = event_hash(**row)
        rows.append(row)
    connection = session.connection()
    statement = sa.insert(Event.__table__)
    for start in range(0, len(rows), BULK_EVENT_BATCH):
        connection.execute(statement, rows[start : start + BULK_EVENT_BATCH])
    session.info[_HEAD_KEY] = previous
    return len(rows)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _events_in_order(session: Session, batch: int = 5000) -> Iterator[Event]:
    last_id = 0
    while True:
        chunk = session.scalars(
            sa.select(Event).where(Event.id > last_id).order_by(Event.id).limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        last_id = chunk[-1].id
        for event in chunk:  # keep memory flat over millions of events
            session.expunge(event)


def verify_chain(session: Session | None = None) -> ChainReport:
    """Recompute every hash in order; report the first event that does not fit."""
    session = session or db.session
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _events_in_order(session):
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked,
                ChainBreak(
                    event.id,
                    "its link to the previous event does not match (an event before it was "
                    "removed, inserted or altered)",
                ),
            )
        if _hash_of(event) != event.hash:
            return ChainReport(
                checked, ChainBreak(event.id, "its content does not match its hash (altered)")
            )
        expected_prev = event.hash
        checked += 1
    return ChainReport(checked, None)

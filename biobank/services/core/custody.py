"""The chain of custody: ``record_event`` (the only writer of events) and the bytes each event
is as a leaf of the custody log's Merkle tree (DESIGN §7a).

An append takes no lock that other writers share: the event goes in with its own leaf hash in
the state change's transaction, and the sequencer (``services.core.custody_log``) later gives
committed events their place in the tree. Two technicians at two benches never wait for each
other here; each tube's own history keeps its order because every write that changes a tube
locks that tube's row first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from biobank.db import AnySession, table_of, utcnow
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
from biobank.tlog.merkle import leaf_hash

LEAF_FORMAT = 1
_UNNUMBERED = "biobank.custody.unnumbered"
_NEXT_SQLITE_ID = "biobank.custody.next_id"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """What is stored must be exactly what was hashed: Decimals, dates … become strings."""
    return json.loads(canonical_json(dict(details or {})))


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def leaf_bytes(
    *,
    id: int,
    type: str,
    at: datetime,
    recorded_at: datetime,
    actor: str | None,
    site: str | None,
    sample: str | None,
    collection_id: int | None,
    shipment_id: int | None,
    container_id: int | None,
    reason: str | None,
    details: Mapping[str, Any],
) -> bytes:
    """An event as a leaf of the custody log: a published contract (DESIGN §7a), so it never
    changes for ``LEAF_FORMAT`` 1. Canonical JSON (keys sorted, no spaces, UTF-8) naming the
    event's id, type, times (UTC, microseconds), actor by username, site by code, the sample
    by its barcode, the other subjects by id, the reason and the details."""
    return canonical_json(
        {
            "format": LEAF_FORMAT,
            "id": id,
            "type": type,
            "at": _timestamp(at),
            "recorded_at": _timestamp(recorded_at),
            "actor": actor,
            "site": site,
            "sample": sample,
            "collection": collection_id,
            "shipment": shipment_id,
            "container": container_id,
            "reason": reason,
            "details": details,
        }
    ).encode()


_NEXT_EVENT_IDS = sa.text(
    "SELECT nextval(pg_get_serial_sequence('events', 'id')) "
    "FROM generate_series(1, :count) ORDER BY 1"
)
_INSERT_EVENTS = sa.insert(table_of(Event))


def allocate_event_ids(session: AnySession, count: int) -> list[int]:
    """Ids for events about to be inserted, in order: a leaf names its event's id, so the id
    is known before the INSERT. PostgreSQL draws them from the table's own sequence (no lock
    shared with other writers); on SQLite the writer holds the database's write lock (BEGIN
    IMMEDIATE), so the next free id is simply the largest plus one."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(_NEXT_EVENT_IDS, {"count": count}))
    first = session.info.get(_NEXT_SQLITE_ID)
    if first is None:
        first = (connection.scalar(sa.select(sa.func.max(Event.id))) or 0) + 1
    session.info[_NEXT_SQLITE_ID] = first + count
    return list(range(first, first + count))


def _names(actor: User | None, site: Site | None, sample: Sample | None) -> dict[str, Any]:
    return {
        "actor": None if actor is None else actor.username,
        "site": None if site is None else site.code,
        "sample": None if sample is None else sample.barcode,
    }


def _leaf_of(event: Event, names: Mapping[str, Any]) -> bytes:
    return leaf_bytes(
        id=event.id,
        type=event.type,
        at=event.at,
        recorded_at=event.recorded_at,
        collection_id=event.collection_id,
        shipment_id=event.shipment_id,
        container_id=event.container_id,
        reason=event.reason,
        details=event.details,
        **names,
    )


@sa_event.listens_for(Session, "before_flush")
def _number_new_events(session: Session, flush_context: Any, instances: Any) -> None:
    """Events recorded since the last flush get their ids (in the order they were recorded)
    and their leaf hashes, in one statement however many there are."""
    pending = session.info.pop(_UNNUMBERED, None)
    if not pending:
        return
    ids = allocate_event_ids(session, len(pending))
    for (event, names), event_id in zip(pending, ids, strict=True):
        event.id = event_id
        event.leaf_hash = leaf_hash(_leaf_of(event, names))


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_pending_numbers(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_UNNUMBERED, None)
        session.info.pop(_NEXT_SQLITE_ID, None)


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
    now = utcnow()
    event = Event(
        type=str(EventType(type)),
        at=(at or now).astimezone(UTC),
        recorded_at=now,
        actor_id=_id_of(actor),
        site_id=_id_of(site),
        sample_id=_id_of(sample),
        collection_id=_id_of(collection),
        shipment_id=_id_of(shipment),
        container_id=_id_of(container),
        reason=reason,
        details=normalise_details(details),
    )
    session.add(event)
    session.info.setdefault(_UNNUMBERED, []).append((event, _names(actor, site, sample)))
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


def event_rows(
    specs: Sequence[Mapping[str, Any]],
    *,
    ids: Sequence[int],
    actor: User | None = None,
    site: Site | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Plain ``events`` rows, leaf hashes included, for many events at once: for a caller that
    inserts them itself (an import's thousands of tubes, the demo's million), numbered with
    ``ids`` from ``allocate_event_ids``.

    Each spec gives ``type`` and any of ``sample_id`` with ``sample_barcode``,
    ``collection_id``, ``shipment_id``, ``container_id``, ``reason``, ``details``, and its own
    ``actor``, ``site`` and ``at`` where they differ from the shared ones."""
    now = utcnow()
    rows = []
    for spec, event_id in zip(specs, ids, strict=True):
        who, where = spec.get("actor", actor), spec.get("site", site)
        row: dict[str, Any] = {
            "id": event_id,
            "type": str(EventType(spec["type"])),
            "at": (spec.get("at") or at or now).astimezone(UTC),
            "recorded_at": now,
            "actor_id": _id_of(who),
            "site_id": _id_of(where),
            "sample_id": spec.get("sample_id"),
            "collection_id": spec.get("collection_id"),
            "shipment_id": spec.get("shipment_id"),
            "container_id": spec.get("container_id"),
            "reason": spec.get("reason"),
            "details": normalise_details(spec.get("details")),
        }
        leaf = leaf_bytes(
            id=event_id,
            type=row["type"],
            at=row["at"],
            recorded_at=now,
            actor=None if who is None else who.username,
            site=None if where is None else where.code,
            sample=spec.get("sample_barcode"),
            collection_id=row["collection_id"],
            shipment_id=row["shipment_id"],
            container_id=row["container_id"],
            reason=row["reason"],
            details=row["details"],
        )
        row["leaf_hash"] = leaf_hash(leaf)
        rows.append(row)
    return rows


def record_events_in_bulk(
    events: Sequence[Mapping[str, Any]],
    *,
    actor: User | None,
    site: Site | None = None,
    at: datetime | None = None,
) -> int:
    """Append many events at once, in the caller's transaction: the same rows and leaves
    ``record_event`` writes, inserted as plain rows (executemany) instead of one ORM object
    each. See ``event_rows`` for what each mapping may give; a ``sample_barcode`` not given
    is looked up."""
    session = db.session
    # Events still pending in the session (a box created just before) are numbered first, so
    # the ids below follow theirs.
    session.flush()
    if site is None and actor is not None:
        site = actor.site
    sample_ids = sorted(
        {
            spec["sample_id"]
            for spec in events
            if spec.get("sample_id") and "sample_barcode" not in spec
        }
    )
    barcodes: dict[int, str] = {}
    for start in range(0, len(sample_ids), BULK_EVENT_BATCH):
        chunk = sample_ids[start : start + BULK_EVENT_BATCH]
        barcodes.update(
            session.execute(sa.select(Sample.id, Sample.barcode).where(Sample.id.in_(chunk))).all()
        )
    named = [
        {
            **spec,
            "sample_barcode": spec.get("sample_barcode", barcodes.get(spec.get("sample_id") or 0)),
        }
        for spec in events
    ]
    rows = event_rows(
        named,
        ids=allocate_event_ids(session, len(events)) if events else [],
        actor=actor,
        site=site,
        at=at,
    )
    connection = session.connection()
    for start in range(0, len(rows), BULK_EVENT_BATCH):
        connection.execute(_INSERT_EVENTS, rows[start : start + BULK_EVENT_BATCH])
    return len(rows)

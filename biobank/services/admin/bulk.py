"""Many stored tubes fast, for scale tests: ``seed-demo --samples N``.

Tubes arrive as real tubes would leave the system: collected and finalized at a clinic,
shipped and received at the biobank, stored in a box, each with its events in the
custody log. Rows go in with bulk inserts and ids assigned up front; each event's leaf hash
is computed in Python as ``record_event`` computes it, and the sequencer puts them in the tree.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from biobank.db import table_of, utcnow
from biobank.extensions import db
from biobank.models import (
    Collection,
    CollectionStatus,
    Container,
    ContainerKind,
    Event,
    EventType,
    ItemOutcome,
    KitTemplate,
    PackageCondition,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    Site,
    StoragePosition,
    TemperatureClass,
    User,
)
from biobank.services.core import custody_log, ids
from biobank.services.core.custody import allocate_event_ids, event_rows

BATCH = 20_000
TUBES_PER_SHIPMENT = 800
BOX_ROWS = BOX_COLS = 10
BOXES_PER_RACK = 100
# An upright -80 °C freezer holds about 400 two-inch boxes: a program's ten million tubes fill
# hundreds of freezers, not one (whose page would list 100,000 boxes).
RACKS_PER_FREEZER = 4


@dataclass(frozen=True)
class BulkSummary:
    samples: int
    collections: int
    shipments: int
    boxes: int
    events: int


def _next_id(model: Any) -> Iterator[int]:
    start = (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1
    return itertools.count(start)


@functools.lru_cache(maxsize=1 << 16)
def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text format, naive UTC (see biobank.db.UTCDateTime).
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _converter(sample: Any, sqlite: bool) -> Callable[[Any], Any] | None:
    """How a column's values become what the column stores (what the ORM types would send);
    None when they go in as they are. Chosen once per column: its values share a type."""
    if isinstance(sample, datetime):
        if sqlite:
            return lambda value: None if value is None else _sqlite_time(value)
        return lambda value: None if value is None else value.astimezone(UTC)
    if isinstance(sample, enum.Enum):
        return lambda value: None if value is None else value.value
    if isinstance(sample, dict):
        return lambda value: None if value is None else json.dumps(value)
    if sqlite and isinstance(sample, bool):
        return lambda value: None if value is None else int(value)
    if sqlite and isinstance(sample, Decimal):
        return lambda value: None if value is None else float(value)
    return None


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """Straight to the driver: executemany on SQLite, COPY on PostgreSQL.

    Millions of rows through the ORM's per-value type processing take minutes; the values
    here are converted once to exactly what those types store.
    """
    if not rows:
        return
    columns = sorted(set().union(*rows))
    connection = db.session.connection()
    sqlite = connection.dialect.name == "sqlite"
    table = model.__tablename__
    converters = []
    for column in columns:
        sample = next((row[column] for row in rows if row.get(column) is not None), None)
        converters.append(_converter(sample, sqlite))
    pairs = list(zip(columns, converters, strict=True))
    values = (
        tuple(row.get(c) if convert is None else convert(row.get(c)) for c, convert in pairs)
        for row in rows
    )
    names = ", ".join(f'"{column}"' for column in columns)
    if sqlite:
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(values)
        )
        return
    raw = connection.connection.driver_connection
    assert raw is not None  # a live psycopg connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in values:
            copy.write_row(row)


def _fresh_barcodes(count: int) -> list[str]:
    def taken(candidates: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(candidates), 5_000):
            chunk = candidates[start : start + 5_000]
            found |= set(
                db.session.scalars(sa.select(Sample.barcode).where(Sample.barcode.in_(chunk)))
            )
        return found

    fresh = iter(ids.new_sample_ids(count))

    def make() -> str:
        nonlocal fresh
        try:
            return next(fresh)
        except StopIteration:  # only collisions are drawn again
            fresh = iter(ids.new_sample_ids(1000))
            return next(fresh)

    return ids.unique_codes(count, make, taken)


def _advance_sequences() -> None:
    """PostgreSQL: the serial sequences must follow the ids we assigned ourselves."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for model in (Collection, Sample, Shipment, ShipmentItem, Container, StoragePosition):
        table = model.__tablename__
        db.session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


class _Chain:
    """The bulk events in order, leaf-hashed as ``record_event`` hashes them, written a batch
    at a time with ids from the events' own sequence, and sequenced as they go in.

    The chain holds the sequencer's lock for the whole load and first lets the sequencer
    finish what was waiting; then each batch goes in with its log indices and the subtrees and
    tree head it completes, exactly what the sequencer would store after the commit, without
    rewriting millions of event rows a second time to number them."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        custody_log.take_sequencer_lock(wait=True)
        while custody_log.sequence_batch() == custody_log.SEQUENCE_BATCH:
            pass
        head = custody_log.tree_head(db.session)
        self.size = head.tree_size if head else 0

    def add(
        self,
        type: EventType,
        at: datetime,
        *,
        actor: User,
        site: Site,
        details: dict[str, Any],
        **subjects: Any,
    ) -> None:
        self.specs.append(
            {"type": type, "at": at, "actor": actor, "site": site, "details": details, **subjects}
        )

    def flush(self) -> int:
        count = len(self.specs)
        if count:
            rows = event_rows(self.specs, ids=allocate_event_ids(db.session, count))
            for offset, row in enumerate(rows):
                row["log_index"] = self.size + offset
            _insert(Event, rows)
            self.size = custody_log.extend_tree(
                db.session, self.size, [row["leaf_hash"] for row in rows]
            )
        self.specs = []
        return count


# From this many tubes a load drops its tables' non-unique indexes and builds them after: one
# sorted build each beats a million scattered inserts into twenty-odd indexes. Unique ones stay:
# they are what the load's barcodes and positions are checked against.
REBUILD_INDEXES_FROM = 100_000
_LOADED = (Collection, Shipment, Sample, ShipmentItem, StoragePosition, Event)


def _drop_secondary_indexes(connection: sa.Connection) -> list[sa.Index]:
    """Drop the loaded tables' non-unique indexes (as the models declare them, which the
    migrations match); returns them to be created again."""
    dropped = [
        index
        for model in _LOADED
        for index in sorted(table_of(model).indexes, key=lambda index: str(index.name))
        if not index.unique
    ]
    for index in dropped:
        index.drop(connection)
    return dropped


def seed_stored_samples(
    count: int,
    *,
    clinics: Sequence[Site],
    biobank: Site,
    collector: User,
    technician: User,
    kit: KitTemplate,
    now: datetime | None = None,
    seed: int = 20261124,
    days_ago: tuple[float, float] = (1, 180),
    rebuild_indexes: bool | None = None,
) -> BulkSummary:
    """``count`` stored tubes shipped between ``days_ago`` days before ``now`` (the last 180
    days unless told), clinics taking turns.

    ``rebuild_indexes`` (from REBUILD_INDEXES_FROM tubes unless told): the loaded tables'
    non-unique indexes are dropped before the load and built after it, in the same
    transaction (a failed load gets them back with its rollback)."""
    if not 0 <= days_ago[0] <= days_ago[1]:
        raise ValueError("days_ago must be (nearer, further), neither in the future")
    if count < 1:
        raise ValueError("count must be at least 1")
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # One big transaction: with SQLite's default 8 MB page cache its dirty pages spill
        # to the WAL mid-transaction; a larger cache keeps the load in memory.
        connection.exec_driver_sql("PRAGMA cache_size=-524288")  # 512 MB, this connection
    if rebuild_indexes is None:
        rebuild_indexes = count >= REBUILD_INDEXES_FROM
    postponed = _drop_secondary_indexes(connection) if rebuild_indexes else []
    now = now or utcnow()
    rng = random.Random(seed)
    tube_types = kit.tube_types
    # Drawn a batch at a time (after the previous batch is written, so the database sees
    # every barcode already used): ten million at once would hold a gigabyte.
    barcodes: list[str] = []
    collection_ids, sample_ids = _next_id(Collection), _next_id(Sample)
    first_collection = (db.session.scalar(sa.select(sa.func.max(Collection.id))) or 0) + 1
    shipment_ids, item_ids = _next_id(Shipment), _next_id(ShipmentItem)
    container_ids, position_ids = _next_id(Container), _next_id(StoragePosition)
    chain = _Chain()
    first_participant = 900_000_000 + (
        db.session.scalar(sa.select(sa.func.count(Collection.id))) or 0
    )

    containers: list[dict[str, Any]] = []
    freezer_id = None
    capacity = BOX_ROWS * BOX_COLS
    box_count = -(-count // capacity)
    rack_id = None
    box_ids = []
    for number in range(box_count):
        if number % (BOXES_PER_RACK * RACKS_PER_FREEZER) == 0:
            freezer_id = next(container_ids)
            containers.append(
                {
                    "id": freezer_id,
                    "site_id": biobank.id,
                    "parent_id": None,
                    "kind": ContainerKind.FREEZER,
                    "name": f"Scale freezer {freezer_id}",
                    "temperature_c": Decimal("-80"),
                    "active": True,
                    "created_at": now,
                }
            )
        if number % BOXES_PER_RACK == 0:
            rack_id = next(container_ids)
            containers.append(
                {
                    "id": rack_id,
                    "site_id": biobank.id,
                    "parent_id": freezer_id,
                    "freezer_id": freezer_id,
                    "kind": ContainerKind.RACK,
                    "name": f"Rack {number // BOXES_PER_RACK % RACKS_PER_FREEZER + 1:03d}",
                    "active": True,
                    "created_at": now,
                }
            )
        box_id = next(container_ids)
        box_ids.append(box_id)
        containers.append(
            {
                "id": box_id,
                "site_id": biobank.id,
                "parent_id": rack_id,
                "freezer_id": freezer_id,
                "kind": ContainerKind.BOX,
                "name": f"Box {number + 1:05d}",
                "barcode": ids.new_prefixed_code(ids.BOX_PREFIX),
                "rows": BOX_ROWS,
                "cols": BOX_COLS,
                "active": True,
                "created_at": now,
            }
        )
    _insert(Container, containers)

    collections: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    shipments: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    positions: list[dict[str, Any]] = []
    events = 0
    made = 0
    shipment_count = 0
    box_stored: dict[int, datetime] = {}
    while made < count:
        clinic = clinics[shipment_count % len(clinics)]
        in_shipment = min(TUBES_PER_SHIPMENT, count - made)
        dispatched = now - timedelta(days=rng.uniform(*days_ago))
        received = dispatched + timedelta(hours=rng.uniform(18, 60))
        shipment_id = next(shipment_ids)
        shipment_count += 1
        shipments.append(
            {
                "id": shipment_id,
                "manifest_number": ids.new_prefixed_code(ids.MANIFEST_PREFIX),
                "origin_site_id": clinic.id,
                "destination_site_id": biobank.id,
                "temperature": TemperatureClass.REFRIGERATED,
                "status": ShipmentStatus.RECEIVED,
                "carrier": "fedex",
                "tracking_number": f"{rng.randrange(10**11, 10**12)}",
                "created_by_id": collector.id,
                "dispatched_at": dispatched,
                "dispatched_by_id": collector.id,
                "receipt_opened_at": received,
                "receipt_opened_by_id": technician.id,
                "received_at": received,
                "received_by_id": technician.id,
                "condition": PackageCondition.GOOD,
                "created_at": dispatched - timedelta(hours=2),
            }
        )
        chain.add(
            EventType.DISPATCHED,
            dispatched,
            actor=collector,
            site=clinic,
            details={"bulk": True, "tubes": in_shipment},
            shipment_id=shipment_id,
        )
        for start in range(0, in_shipment, len(tube_types)):
            collected = dispatched - timedelta(hours=rng.uniform(3, 30))
            finalized = collected + timedelta(hours=1)
            collection_id = next(collection_ids)
            collections.append(
                {
                    "id": collection_id,
                    "participant_id": f"P{first_participant + collection_id}",
                    "site_id": clinic.id,
                    "kit_id": kit.id,
                    "status": CollectionStatus.FINALIZED,
                    "created_by_id": collector.id,
                    "finalized_at": finalized,
                    "finalized_by_id": collector.id,
                    "created_at": collected - timedelta(minutes=10),
                }
            )
            chain.add(
                EventType.FINALIZED,
                finalized,
                actor=collector,
                site=clinic,
                details={"bulk": True},
                collection_id=collection_id,
            )
            for tube_type in tube_types[: min(len(tube_types), in_shipment - start)]:
                sample_id = next(sample_ids)
                if not barcodes:
                    events += _write(collections, samples, shipments, items, positions, chain)
                    barcodes = _fresh_barcodes(min(BATCH, count - made))
                    barcodes.reverse()
                barcode = barcodes.pop()
                box_index, slot = divmod(made, capacity)
                row, col = divmod(slot, BOX_COLS)
                # A box is filled in one sitting: its tubes share their storing time.
                stored = box_stored.setdefault(box_index, received + timedelta(hours=2))
                processed = (
                    collected + timedelta(minutes=45) if tube_type.requires_processing else None
                )
                samples.append(
                    {
                        "id": sample_id,
                        "barcode": barcode,
                        "tube_type_id": tube_type.id,
                        "collection_id": collection_id,
                        "site_id": clinic.id,
                        "custody_site_id": biobank.id,
                        "status": SampleStatus.STORED,
                        "volume_ml": tube_type.volume_ml,
                        "collected_at": collected,
                        "collected_by_id": collector.id,
                        "processed_at": processed,
                        "processed_by_id": collector.id if processed else None,
                        "finalized_at": finalized,
                        "received_at": received,
                        "stored_at": stored,
                        "freeze_thaw_count": 0,
                        "created_at": collected,
                    }
                )
                items.append(
                    {
                        "id": next(item_ids),
                        "shipment_id": shipment_id,
                        "sample_id": sample_id,
                        "manifested": True,
                        "outcome": ItemOutcome.RECEIVED,
                        "added_at": dispatched,
                        "added_by_id": collector.id,
                        "scanned_at": received,
                        "scanned_by_id": technician.id,
                    }
                )
                positions.append(
                    {
                        "id": next(position_ids),
                        "box_id": box_ids[box_index],
                        "row": row + 1,
                        "col": col + 1,
                        "sample_id": sample_id,
                        "stored_at": stored,
                        "stored_by_id": technician.id,
                    }
                )
                chain.add(
                    EventType.RECEIVED,
                    received,
                    actor=technician,
                    site=biobank,
                    details={"bulk": True},
                    sample_id=sample_id,
                    sample_barcode=barcode,
                    shipment_id=shipment_id,
                )
                chain.add(
                    EventType.STORED,
                    stored,
                    actor=technician,
                    site=biobank,
                    details={"position": f"{chr(65 + row)}{col + 1}", "bulk": True},
                    sample_id=sample_id,
                    sample_barcode=barcode,
                    container_id=box_ids[box_index],
                )
                made += 1
        if len(samples) >= BATCH:
            events += _write(collections, samples, shipments, items, positions, chain)
    events += _write(collections, samples, shipments, items, positions, chain)
    for index in postponed:
        index.create(connection)
    _advance_sequences()
    collection_count = next(collection_ids) - first_collection
    return BulkSummary(made, collection_count, shipment_count, box_count, events)


def _write(collections, samples, shipments, items, positions, chain: _Chain) -> int:
    """Parents before children, then clear the buffers (memory stays flat)."""
    for model, rows in (
        (Shipment, shipments),
        (Collection, collections),
        (Sample, samples),
        (ShipmentItem, items),
        (StoragePosition, positions),
    ):
        _insert(model, rows)
        rows.clear()
    return chain.flush()

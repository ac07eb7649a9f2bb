"""Bulk-seeded tubes are real tubes: stored in boxes, with collections, shipments and a
custody chain that verifies, whichever database takes them (executemany or COPY)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import (
    Collection,
    Event,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    StoragePosition,
)
from biobank.services.admin.bulk import seed_stored_samples
from biobank.services.core import catalogue, ids, samples
from biobank.services.core.custody_log import verify_chain
from biobank.services.reporting import interop
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count(model.id)))


def test_bulk_tubes_are_whole_records(
    collector, other_collector, technician, coordinator, start_collection
):
    start_collection(collector)  # existing rows and events: the bulk load continues after them
    before = _count(Event)
    with unit_of_work():
        summary = seed_stored_samples(
            1_650,
            clinics=[collector.site, other_collector.site],
            biobank=technician.site,
            collector=collector,
            technician=technician,
            kit=catalogue.get_kit("BASELINE-ADULT"),
        )
    db.session.rollback()
    assert summary.samples == 1_650
    assert summary.shipments == 3 and summary.boxes == 17
    stored = db.session.scalar(
        sa.select(sa.func.count(Sample.id)).where(Sample.status == SampleStatus.STORED)
    )
    assert stored == 1_650
    assert _count(StoragePosition) == 1_650
    assert _count(ShipmentItem) == 1_650
    assert _count(Collection) == 1 + summary.collections
    assert _count(Event) - before == summary.events
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Shipment.id)).where(Shipment.status == ShipmentStatus.RECEIVED)
        )
        == 3
    )
    report = verify_chain()
    assert report.intact, report.first_break
    some = db.session.scalar(sa.select(Sample).where(Sample.status == SampleStatus.STORED).limit(1))
    assert ids.is_valid(some.barcode)
    assert location_of(some)["box"].startswith("Box ")
    assert some.received_at.utcoffset().total_seconds() == 0
    found = samples.get_sample(coordinator, some.barcode)
    assert [e.type for e in samples.sample_events(coordinator, found.barcode)] == [
        "received",
        "stored",
    ]
    assert interop.specimen_resource(found)["status"] == "available"


def test_new_records_after_a_bulk_load_get_fresh_ids(collector, technician, start_collection):
    with unit_of_work():
        seed_stored_samples(
            20,
            clinics=[collector.site],
            biobank=technician.site,
            collector=collector,
            technician=technician,
            kit=catalogue.get_kit("BASELINE-ADULT"),
        )
    later = start_collection(collector)  # the sequences followed the bulk ids (PostgreSQL)
    assert later.id > 0 and len(later.samples) == 8
    assert verify_chain().intact


def _index_names() -> set[str]:
    inspector = sa.inspect(db.session.connection())
    return {
        index["name"]
        for table in ("collections", "shipments", "samples", "shipment_items", "events")
        for index in inspector.get_indexes(table)
    }


def _load_rebuilding_indexes(collector, technician, count: int):
    return seed_stored_samples(
        count,
        clinics=[collector.site],
        biobank=technician.site,
        collector=collector,
        technician=technician,
        kit=catalogue.get_kit("BASELINE-ADULT"),
        rebuild_indexes=True,
    )


def test_a_load_that_rebuilds_indexes_leaves_every_one_in_place(collector, technician):
    before = _index_names()
    assert "ix_samples_distributable" in before
    with unit_of_work():
        summary = _load_rebuilding_indexes(collector, technician, 120)
    db.session.rollback()
    assert _index_names() == before
    # The load itself is whole: the last tube is found, stored.
    stored = db.session.scalars(sa.select(Sample.barcode).order_by(Sample.id.desc())).first()
    assert samples.get_sample(technician, stored).status == SampleStatus.STORED
    assert summary.samples == 120


def test_a_failed_load_gets_its_dropped_indexes_back(collector, technician, monkeypatch):
    before = _index_names()

    def broken(*args, **kwargs):
        raise RuntimeError("the load failed half-way")

    # Fails writing its rows: the indexes are dropped by then, and not yet built again.
    monkeypatch.setattr("biobank.services.admin.bulk._write", broken)
    with pytest.raises(RuntimeError, match="half-way"), unit_of_work():
        _load_rebuilding_indexes(collector, technician, 40)
    db.session.rollback()
    assert _index_names() == before
    assert _count(Sample) == 0

from __future__ import annotations

from datetime import timedelta

import pytest

from biobank.db import unit_of_work, utcnow
from biobank.errors import Forbidden, NotFound
from biobank.services import collections, reports, storage


def _processed(collector, start_collection, minutes: int, participant: str):
    collection = start_collection(collector, participant, tube_types=["1SST8", "1PST8"])
    drawn = utcnow() - timedelta(hours=6)
    with unit_of_work():
        for tube in collection.samples:
            collections.record_collected(collector, collection, tube.barcode, drawn)
            collections.record_processed(
                collector, collection, tube.barcode, drawn + timedelta(minutes=minutes)
            )
    return collection


def test_processing_deviations_count_early_and_late_by_site(
    coordinator, collector, start_collection
):
    _processed(collector, start_collection, 20, "P100000001")  # SST early; PST fine
    _processed(collector, start_collection, 300, "P100000002")  # both late
    _processed(collector, start_collection, 45, "P100000003")  # both fine
    [row] = reports.processing_deviations(coordinator)
    assert (row.site.code, row.processed, row.early, row.late) == ("UCSD-01", 6, 1, 2)
    assert row.percent == 50.0
    table = reports.report_table(coordinator, "processing")
    assert table.rows == [("UCSD-01", 6, 1, 2, 50.0)]


def test_collection_to_freezer_distribution(
    coordinator, technician, collector, received_tubes, freezer
):
    tubes = received_tubes(collector)
    with unit_of_work():
        storage.store_many(technician, freezer, [t.barcode for t in tubes])
    [row] = reports.collection_to_freezer(coordinator)
    # finalized_collection draws two hours ago; they are stored now
    assert row.buckets["under 1 day"] == 8 and row.stored == 8
    assert 1.9 <= row.mean_hours <= 2.2
    assert reports.collection_to_freezer(coordinator, now=utcnow() + timedelta(days=100)) == []


def test_every_report_is_a_table_with_its_filters(coordinator, collector, finalized_collection):
    finalized_collection(collector)
    for name in reports.REPORT_TABLES:
        table = reports.report_table(coordinator, name)
        assert table.title and table.columns
        assert all(len(row) == len(table.columns) for row in table.rows)
    missing = reports.report_table(coordinator, "overdue", state="missing")
    assert missing.rows == []
    with pytest.raises(NotFound):
        reports.report_table(coordinator, "payroll")


def test_reports_are_for_coordinators(collector):
    with pytest.raises(Forbidden):
        reports.report_table(collector, "processing")

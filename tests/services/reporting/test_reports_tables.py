from __future__ import annotations

from datetime import timedelta

import pytest

from biobank.db import utcnow
from biobank.errors import Forbidden, NotFound, ValidationFailed
from biobank.services.collecting import collections
from biobank.services.reporting import reports
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work


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
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
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


@pytest.mark.parametrize(
    ("minutes", "early", "late"),
    [
        (29, 1, 0),  # SST spun before it clotted
        (30, 0, 0),  # exactly 30 minutes is allowed
        (240, 0, 0),  # exactly 4 hours is allowed
        (241, 0, 2),  # SST and PST both late
    ],
)
def test_processing_deviation_boundaries(
    coordinator, collector, start_collection, minutes, early, late
):
    _processed(collector, start_collection, minutes, "P100000009")
    [row] = reports.processing_deviations(coordinator)
    assert (row.processed, row.early, row.late) == (2, early, late)


@pytest.mark.parametrize(
    ("hours_to_freezer", "bucket"),
    [
        (23.9, "under 1 day"),
        (24.1, "1–2 days"),
        (47.9, "1–2 days"),
        (72.1, "3–7 days"),
        (170, "over 7 days"),
    ],
)
def test_collection_to_freezer_bucket_boundaries(
    monkeypatch,
    coordinator,
    technician,
    collector,
    received_tubes,
    freezer,
    hours_to_freezer,
    bucket,
):
    tubes = received_tubes(collector)
    # finalized_collection drew the tubes two hours ago: store them as if hours later.
    stored_at = tubes[0].collected_at + timedelta(hours=hours_to_freezer)
    monkeypatch.setattr(placing, "utcnow", lambda: stored_at)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    [row] = reports.collection_to_freezer(coordinator, now=stored_at)
    assert row.buckets[bucket] == len(tubes) == row.stored
    assert row.mean_hours == pytest.approx(hours_to_freezer, abs=0.1)


@pytest.mark.parametrize(("days_later", "counted"), [(29, 8), (31, 0)])
def test_the_occupancy_forecast_counts_the_last_30_days_intake(
    coordinator, technician, collector, received_tubes, freezer, days_later, counted
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    later = utcnow() + timedelta(days=days_later)
    [row] = reports.occupancy_report(coordinator, now=later)
    assert row.stored_last_30_days == counted
    assert row.days_until_full == (int((162 - 8) / (counted / 30)) if counted else None)


@pytest.mark.parametrize("days", [0, 3651])
def test_a_report_window_outside_a_day_to_ten_years_is_refused(coordinator, days):
    with pytest.raises(ValidationFailed, match="between 1 and 3650 days") as error:
        reports.report_table(coordinator, "processing", days=days)
    assert list(error.value.errors) == ["days"]

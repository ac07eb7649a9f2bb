from __future__ import annotations

from datetime import timedelta

from biobank.db import utcnow
from biobank.services.reporting import dashboards
from biobank.services.shipping import receiving
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work


def test_collector_sees_todays_work(collector, start_collection, finalized_collection):
    start_collection(collector, "P111111111")
    finalized_collection(collector, "P222222222")
    board = dashboards.dashboard_for(collector)
    assert board.counts == {
        "collections_today": 2,
        "unfinished_collections": 1,
        "tubes_ready_to_ship": 8,
        "open_shipments": 0,
    }
    assert board.lists["ready_to_ship"][0]["tubes"] == 8


def test_collector_counts_only_their_site(collector, other_collector, start_collection):
    start_collection(other_collector)
    assert dashboards.dashboard_for(collector).counts["collections_today"] == 0


def test_technician_sees_arrivals_waiting_tubes_and_full_boxes(
    technician, collector, dispatched_shipment, received_tubes, boxes
):
    on_the_way = dispatched_shipment(collector, participant_id="P333333333")
    with unit_of_work():
        receiving.open_receipt(technician, on_the_way)
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes[:8]:
            placing.store_sample(technician, boxes[0], tube.barcode)
    board = dashboards.dashboard_for(technician)
    assert board.counts["shipments_on_the_way"] == 1
    assert board.counts["receipts_in_progress"] == 1
    assert board.counts["tubes_waiting_for_a_freezer"] == 0
    assert board.counts["full_boxes"] == 0
    assert dashboards.full_boxes(technician.site_id, threshold=0.09)[0]["used"] == 8


def test_coordinator_figures_and_charts(
    coordinator, technician, collector, received_tubes, freezer, finalized_collection
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    late = finalized_collection(collector, "P444444444")
    now = utcnow()
    board = dashboards.coordinator_dashboard(coordinator, now=now + timedelta(hours=40))
    assert board.counts["overdue_tubes"] == len(late.samples)
    assert board.counts["missing_tubes"] == 0
    [activity] = [row for row in board.lists["site_activity"] if row["site"]["code"] == "UCSD-01"]
    assert activity["received"] == 8 and activity["overdue"] == 8
    per_day, to_freezer, fill = board.charts
    assert sum(per_day.series["received"]) == 8
    assert len(per_day.labels) == 14
    assert to_freezer.labels == ["UCSD-01"]
    assert sum(values[0] for values in to_freezer.series.values()) == 8
    assert to_freezer.series["2–3 days"] == [0.0] and to_freezer.series["under 1 day"] == [8.0]
    assert fill.series["used"] == [5.0]  # 8 of 162 positions


def test_missing_after_ten_days(coordinator, collector, finalized_collection):
    finalized_collection(collector)
    board = dashboards.coordinator_dashboard(coordinator, now=utcnow() + timedelta(days=11))
    assert board.counts == {**board.counts, "overdue_tubes": 0, "missing_tubes": 8}


def test_admin_sees_the_catalogue_and_storage(admin, freezer):
    board = dashboards.dashboard_for(admin)
    assert board.counts["tube_types"] == 14 and board.counts["freezers"] == 1
    [(unit, figures)] = board.lists["freezers"]
    assert unit.name == "Freezer 1" and figures.capacity == 162

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, ItemOutcome, PackageCondition, SampleStatus, ShipmentStatus
from biobank.services.collecting import collections
from biobank.services.core.custody_log import verify_chain
from biobank.services.reporting import reports
from biobank.services.shipping import receiving, sending
from biobank.services.shipping.receiving import ScanOutcome
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


def _scan(actor, shipment, barcode, **kwargs):
    with unit_of_work():
        return receiving.receive_scan(actor, shipment, barcode, **kwargs)


def _close(actor, shipment, condition="good", **kwargs):
    with unit_of_work():
        return receiving.close_receipt(
            actor, shipment, condition=condition, **kwargs, signature_password=PASSWORD
        )


def test_scanning_the_manifest_opens_the_receipt(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    found = sending.find_by_manifest(technician, shipment.manifest_number)
    with unit_of_work():
        receiving.open_receipt(technician, found)
        receiving.open_receipt(technician, found)  # again: nothing new
    assert shipment.receipt_opened_by_id == technician.id
    opened = db.session.scalars(sa.select(Event).where(Event.type == "receipt_opened")).all()
    assert len(opened) == 1


def test_an_expected_tube_is_received_as_fully_as_by_the_full_path(
    technician, collector, dispatched_shipment
):
    """The common scan takes guarded UPDATEs instead of loading the tube: it must leave the
    very rows and the event the full path leaves, and the tube already loaded in the session
    must not show its old state."""
    shipment = dispatched_shipment(collector)
    fast, damaged = (item.sample for item in shipment.items[:2])
    assert fast.status == SampleStatus.IN_TRANSIT  # loaded before the scan
    with unit_of_work():
        result = receiving.receive_scan(technician, shipment, fast.barcode)
        assert fast.status == SampleStatus.RECEIVED  # read again inside the unit
    _scan(technician, shipment, damaged.barcode, damaged=True)  # the full path
    assert (result.barcode, result.tube_type) == (fast.barcode, fast.tube_type.code)
    assert result.message == f"{fast.display_barcode} ({fast.tube_type.code}) received."
    events = {
        e.sample_id: e for e in db.session.scalars(sa.select(Event).where(Event.type == "received"))
    }
    for tube in (fast, damaged):
        item = next(i for i in shipment.items if i.sample_id == tube.id)
        event = events[tube.id]
        assert tube.status == SampleStatus.RECEIVED
        assert tube.custody_site_id == shipment.destination_site_id
        assert tube.received_at == event.at
        assert item.scanned_by_id == technician.id and item.scanned_at is not None
        assert (event.actor_id, event.site_id, event.shipment_id) == (
            technician.id,
            technician.site_id,
            shipment.id,
        )
        assert event.details == {
            "manifest_number": shipment.manifest_number,
            "previous_status": "in_transit",
            "late": False,
        }
    assert next(i for i in shipment.items if i.sample_id == fast.id).outcome == ItemOutcome.RECEIVED
    assert verify_chain().intact


def test_expected_then_duplicate_with_live_counts(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    first, second = (item.sample for item in shipment.items[:2])
    result = _scan(technician, shipment, first.display_barcode)
    assert result.outcome == ScanOutcome.EXPECTED
    assert result.counts.as_dict() == {
        "expected": 8,
        "received": 1,
        "missing": 7,
        "unexpected": 0,
        "damaged": 0,
        "elsewhere": 0,
    }
    assert first.status == SampleStatus.RECEIVED and first.received_at is not None
    again = _scan(technician, shipment, first.barcode)
    assert again.outcome == ScanOutcome.DUPLICATE
    assert again.counts.received == 1
    assert _scan(technician, shipment, second.barcode).counts.received == 2
    received_events = db.session.scalars(
        sa.select(Event).where(Event.type == "received", Event.sample_id == first.id)
    ).all()
    assert len(received_events) == 1


def test_unexpected_known_tube_is_recorded_and_flagged(
    technician, collector, dispatched_shipment, finalized_collection
):
    shipment = dispatched_shipment(collector)
    stray = finalized_collection(collector, "P999999999").samples[0]
    result = _scan(technician, shipment, stray.barcode)
    assert result.outcome == ScanOutcome.UNEXPECTED
    assert "unexpected" in stray.flag_kinds
    assert stray.status == SampleStatus.RECEIVED
    assert result.counts.unexpected == 1 and result.counts.expected == 8
    assert _scan(technician, shipment, stray.barcode).outcome == ScanOutcome.DUPLICATE


def test_unknown_barcode_is_404_and_nothing_is_recorded(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    before = db.session.scalar(sa.select(sa.func.count(Event.id)))
    from biobank.services.core import ids

    with pytest.raises(NotFound, match="not known to this system"):
        _scan(technician, shipment, ids.new_sample_id())
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == before


def test_a_misread_barcode_is_422(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    barcode = shipment.items[0].sample.barcode
    misread = barcode[:-1] + ("1" if barcode[-1] == "0" else "0")
    with pytest.raises(ValidationFailed, match="check character"):
        _scan(technician, shipment, misread)


def test_a_participant_id_scanned_as_a_tube_says_it_is_a_participant_id(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    with pytest.raises(ValidationFailed) as refused:
        _scan(technician, shipment, "P123456789")
    assert refused.value.errors["barcode"] == [
        "'P123456789' is a participant ID, not a tube label: scan the label on the tube "
        "(a sample ID has 10 characters, e.g. 7KQ2M-9XD3E)."
    ]


def test_close_marks_unscanned_tubes_missing(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    tubes = [item.sample for item in shipment.items]
    for tube in tubes[:-1]:
        _scan(technician, shipment, tube.barcode)
    _close(technician, shipment, temperature_c=4.5, notes="box slightly dented")
    assert shipment.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES
    assert tubes[-1].status == SampleStatus.MISSING
    assert shipment.items[-1].outcome == ItemOutcome.MISSING
    assert str(shipment.arrival_temperature_c) == "4.5"
    assert verify_chain().intact


def test_everything_scanned_and_a_good_package_is_received(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    for item in shipment.items:
        _scan(technician, shipment, item.sample.barcode)
    _close(technician, shipment)
    assert shipment.status == ShipmentStatus.RECEIVED
    assert shipment.received_by_id == technician.id


def test_a_warm_package_flags_every_tube(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    for item in shipment.items:
        _scan(technician, shipment, item.sample.barcode)
    _close(technician, shipment, condition=PackageCondition.WARM, temperature_c=22)
    assert shipment.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES
    assert all("temperature_excursion" in i.sample.flag_kinds for i in shipment.items)


def test_a_missing_tube_found_later_is_received_and_flagged_late(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    lost = shipment.items[0].sample
    _close(technician, shipment)
    assert lost.status == SampleStatus.MISSING
    result = _scan(technician, shipment, lost.barcode)
    assert result.outcome == ScanOutcome.EXPECTED and result.late
    assert lost.status == SampleStatus.RECEIVED
    assert "late" in lost.flag_kinds


def test_a_cancelled_tube_that_arrives_is_received_and_flagged(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    collection = shipment.items[0].sample.collection
    with unit_of_work():
        collections.cancel_collection(collector, collection, "consent form incomplete")
    tube = shipment.items[0].sample
    assert tube.status == SampleStatus.CANCELLED
    _scan(technician, shipment, tube.barcode)
    assert tube.status == SampleStatus.RECEIVED
    assert "received_after_cancel" in tube.flag_kinds


def test_damaged_tube(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    result = _scan(technician, shipment, tube.barcode, damaged=True, note="cracked cap")
    assert result.counts.damaged == 1
    assert "damaged" in tube.flag_kinds


def test_close_checks_condition_and_temperature(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    with pytest.raises(ValidationFailed) as error:
        receiving.close_receipt(
            technician, shipment, condition="soggy", signature_password=PASSWORD
        )
    assert "condition" in error.value.errors
    with pytest.raises(ValidationFailed) as error:
        receiving.close_receipt(
            technician,
            shipment,
            condition="good",
            temperature_c="cold",
            signature_password=PASSWORD,
        )
    assert "temperature_c" in error.value.errors
    _close(technician, shipment)
    with pytest.raises(InvalidTransition, match="cannot be closed"):
        receiving.close_receipt(technician, shipment, condition="good", signature_password=PASSWORD)


def test_only_the_destinations_technicians_receive(
    collector, dispatched_shipment, make_user, make_site
):
    from biobank.models import Role, SiteKind

    shipment = dispatched_shipment(collector)
    with pytest.raises(Forbidden):
        receiving.receive_scan(collector, shipment, shipment.items[0].sample.barcode)
    other_bank = make_site("OTHER-BB", SiteKind.BIOBANK)
    stranger = make_user("stranger", Role.TECHNICIAN, other_bank)
    with pytest.raises(NotFound):
        sending.get_shipment(stranger, shipment.id)


def test_an_open_shipment_cannot_be_received(technician, collector, biobank_site):
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
    with pytest.raises(InvalidTransition, match="only a dispatched shipment"):
        receiving.open_receipt(technician, shipment)


def test_overdue_and_missing_report_thresholds(app, coordinator, collector, finalized_collection):
    collection = finalized_collection(collector)
    finalized = collection.finalized_at
    # 35 h after finalizing: not yet overdue; 37 h: overdue; 11 days: missing.
    assert reports.overdue_tubes(coordinator, now=finalized + timedelta(hours=35)).total == 0
    page = reports.overdue_tubes(coordinator, now=finalized + timedelta(hours=37))
    assert page.total == 8
    assert {row.state for row in page.items} == {"overdue"}
    assert page.items[0].hours_outstanding == 37
    later = reports.overdue_tubes(coordinator, now=finalized + timedelta(days=11))
    assert {row.state for row in later.items} == {"missing"}
    app.config["BIOBANK_OVERDUE_HOURS"] = 48
    assert reports.overdue_tubes(coordinator, now=finalized + timedelta(hours=37)).total == 0


def test_received_tubes_leave_the_overdue_report(
    coordinator, technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    for item in shipment.items[:3]:
        _scan(technician, shipment, item.sample.barcode)
    page = reports.overdue_tubes(coordinator, now=utcnow() + timedelta(days=2))
    assert page.total == 5
    assert all(row.shipment.id == shipment.id for row in page.items)


def test_discrepancy_report_lists_what_did_not_match(
    coordinator, technician, collector, dispatched_shipment, finalized_collection
):
    shipment = dispatched_shipment(collector)
    stray = finalized_collection(collector, "P999999999").samples[0]
    _scan(technician, shipment, stray.barcode)
    for item in shipment.items[1:]:
        if item.manifested:
            _scan(technician, shipment, item.sample.barcode)
    _close(technician, shipment)
    [row] = reports.discrepancies(coordinator).items
    assert [s.barcode for s in row.missing] == [shipment.items[0].sample.barcode]
    assert [s.barcode for s in row.unexpected] == [stray.barcode]


def test_slow_shipments(coordinator, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    assert reports.slow_shipments(coordinator) == []
    assert reports.slow_shipments(coordinator, now=utcnow() + timedelta(hours=73)) == [shipment]


def test_reports_are_for_coordinators(collector):
    with pytest.raises(Forbidden):
        reports.overdue_tubes(collector)


def test_an_unfinished_tube_scanned_on_a_receipt_is_flagged_not_received(
    technician, collector, other_collector, dispatched_shipment, start_collection
):
    shipment = dispatched_shipment(collector)
    draft = start_collection(other_collector, "P555555555").samples[0]
    result = _scan(technician, shipment, draft.barcode)
    assert result.outcome == ScanOutcome.UNEXPECTED
    assert draft.status == SampleStatus.PENDING  # never dispatched: not received
    assert "unexpected" in draft.flag_kinds
    assert "flagged, not received" in result.message
    received = db.session.scalars(
        sa.select(Event).where(Event.type == "received", Event.sample_id == draft.id)
    ).all()
    assert received == []


def test_who_may_receive_a_shipment(technician, collector, coordinator, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    assert receiving.may_receive(technician, shipment)
    assert not receiving.may_receive(collector, shipment)  # the sender's site
    assert not receiving.may_receive(coordinator, shipment)  # reads, does not receive
    with unit_of_work():
        opened = sending.open_shipment(collector, destination="MAYO-BB", temperature="frozen")
    assert not receiving.may_receive(technician, opened)  # not dispatched yet


# --- a tube that arrives in another shipment than its own -----------------------------------


def test_a_tube_packed_in_the_wrong_box_is_received_where_it_arrived_and_named_in_both(
    coordinator, technician, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    result = _scan(technician, other, stray.barcode)
    assert result.outcome == ScanOutcome.UNEXPECTED
    assert f"on the manifest of {own.manifest_number}" in result.message
    db.session.expire_all()
    # Its own shipment no longer waits for it, and does not call it missing.
    counts = receiving.receipt_counts(own)
    assert (counts.expected, counts.received, counts.missing, counts.elsewhere) == (8, 0, 8 - 1, 1)
    assert stray.barcode not in [s.barcode for s in receiving.tubes_still_missing(own)]
    assert receiving.arrived_elsewhere(own) == [(stray, other.manifest_number)]
    for item in own.items[1:]:
        _scan(technician, own, item.sample.barcode)
    closed = _close(technician, own)  # the tube received elsewhere does not block the close
    assert closed.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES
    assert db.session.get(type(stray), stray.id).status == SampleStatus.RECEIVED
    _close(technician, other)
    found = {row.shipment.manifest_number: row for row in reports.discrepancies(coordinator).items}
    assert found[own.manifest_number].elsewhere == [(stray, other.manifest_number)]
    assert found[own.manifest_number].missing == []
    assert found[other.manifest_number].unexpected == [stray]


def test_a_tube_marked_missing_and_found_in_another_shipment_is_no_longer_missing_there(
    technician, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    for item in own.items[1:]:
        _scan(technician, own, item.sample.barcode)
    _close(technician, own)
    assert db.session.get(type(stray), stray.id).status == SampleStatus.MISSING
    _scan(technician, other, stray.barcode)
    db.session.expire_all()
    assert db.session.get(type(stray), stray.id).status == SampleStatus.RECEIVED
    counts = receiving.receipt_counts(own)
    assert (counts.missing, counts.elsewhere) == (0, 1)
    assert receiving.arrived_elsewhere(own) == [(stray, other.manifest_number)]


# --- undoing a scan made in error -----------------------------------------------------------


def _undo(actor, shipment, barcode, reason="scanned from the wrong box"):
    with unit_of_work():
        return receiving.undo_scan(actor, shipment, barcode, reason)


def _events(sample, event_type):
    return db.session.scalars(
        sa.select(Event)
        .where(Event.sample_id == sample.id, Event.type == event_type)
        .order_by(Event.id)
    ).all()


def test_an_expected_scan_undone_puts_the_tube_back_in_transit(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    _scan(technician, shipment, tube.barcode)
    undone = _undo(technician, shipment, tube.barcode)
    db.session.expire_all()
    item = next(i for i in shipment.items if i.sample_id == tube.id)
    assert (tube.status, tube.received_at) == (SampleStatus.IN_TRANSIT, None)
    assert tube.custody_site_id == shipment.destination_site_id
    assert (item.outcome, item.scanned_at, item.scanned_by_id) == (None, None, None)
    assert undone.status == SampleStatus.IN_TRANSIT
    assert (undone.counts.received, undone.counts.missing) == (0, 8)
    assert f"Scan of {tube.display_barcode}" in undone.message
    [event] = _events(tube, "receipt_scan_undone")
    assert event.reason == "scanned from the wrong box"
    assert (event.actor_id, event.shipment_id) == (technician.id, shipment.id)
    assert event.details["status"] == "in_transit"
    assert tube.barcode in [s.barcode for s in receiving.tubes_still_missing(shipment)]
    # Scanned again, it is received again: the undo left nothing in the way.
    assert _scan(technician, shipment, tube.barcode).outcome == ScanOutcome.EXPECTED
    assert verify_chain().intact


def test_an_undone_damaged_scan_clears_the_flags_it_raised(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    _scan(technician, shipment, tube.barcode, damaged=True, note="cracked cap")
    _undo(technician, shipment, tube.barcode, reason="the damaged mark was for the next tube")
    db.session.expire_all()
    assert "damaged" not in tube.flag_kinds
    cleared = [e for e in _events(tube, "flagged") if e.details.get("cleared")]
    assert [e.details["flag"] for e in cleared] == ["damaged"]
    assert cleared[0].reason == "scan undone: the damaged mark was for the next tube"
    assert receiving.receipt_counts(shipment).damaged == 0


def test_an_undone_stray_leaves_this_receipt_and_its_own_manifest_waits_again(
    technician, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    _scan(technician, other, stray.barcode)
    undone = _undo(technician, other, stray.barcode, reason="it fell out of the other box")
    db.session.expire_all()
    assert stray.status == SampleStatus.IN_TRANSIT
    assert "unexpected" not in stray.flag_kinds
    assert undone.counts.unexpected == 0
    assert stray.id not in [i.sample_id for i in other.items]
    own_counts = receiving.receipt_counts(own)
    assert (own_counts.elsewhere, own_counts.missing) == (0, 8)
    assert receiving.arrived_elsewhere(own) == []
    # Now scanned where it belongs, it is received there.
    assert _scan(technician, own, stray.barcode).outcome == ScanOutcome.EXPECTED


def test_an_undone_stray_whose_own_receipt_closed_meanwhile_is_missing_again(
    technician, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    _scan(technician, other, stray.barcode)
    for item in own.items[1:]:
        _scan(technician, own, item.sample.barcode)
    _close(technician, own)
    _undo(technician, other, stray.barcode)
    db.session.expire_all()
    assert stray.status == SampleStatus.MISSING
    counts = receiving.receipt_counts(own)
    assert (counts.missing, counts.elsewhere) == (1, 0)


def test_an_undone_scan_of_a_cancelled_tube_leaves_it_cancelled_without_the_flag(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    with unit_of_work():
        collections.cancel_collection(collector, tube.collection, "consent form incomplete")
    _scan(technician, shipment, tube.barcode)
    _undo(technician, shipment, tube.barcode)
    db.session.expire_all()
    assert tube.status == SampleStatus.CANCELLED
    assert "received_after_cancel" not in tube.flag_kinds


def test_a_scan_is_undone_only_while_nothing_else_happened_to_the_tube(
    technician, collector, dispatched_shipment, boxes
):
    from biobank.services.storage import placing

    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    _scan(technician, shipment, tube.barcode)
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tube.barcode)
    with pytest.raises(InvalidTransition, match=r"was stored by you .*only a scan that nothing"):
        _undo(technician, shipment, tube.barcode)
    db.session.expire_all()
    assert tube.status == SampleStatus.STORED
    assert _events(tube, "receipt_scan_undone") == []


def test_undo_needs_a_reason_an_open_receipt_and_a_scan_to_undo(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    tube, unscanned = (item.sample for item in shipment.items[:2])
    _scan(technician, shipment, tube.barcode)
    with pytest.raises(ValidationFailed) as no_reason:
        _undo(technician, shipment, tube.barcode, reason="  ")
    assert "Say why the scan is undone" in no_reason.value.errors["reason"][0]
    with pytest.raises(Conflict, match="was not scanned into"):
        _undo(technician, shipment, unscanned.barcode)
    with pytest.raises(Conflict, match="was not scanned into"):
        _undo(technician, shipment, "JQCNWGC14D")  # valid, unknown: said the same way
    with pytest.raises(Forbidden):
        _undo(collector, shipment, tube.barcode)  # the sender does not receive
    for item in shipment.items[1:]:
        _scan(technician, shipment, item.sample.barcode)
    _close(technician, shipment)
    with pytest.raises(InvalidTransition, match="only while its receipt is open"):
        _undo(technician, shipment, tube.barcode)
    db.session.expire_all()
    assert tube.status == SampleStatus.RECEIVED

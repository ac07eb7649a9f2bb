"""The pick list (rows, CSV, PDF) and picking by scan, with aliquoting at picking."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    DistributionItem,
    Event,
    RequestStatus,
    Role,
    Sample,
    SampleStatus,
    SiteKind,
)
from biobank.services.collecting import participants
from biobank.services.core.custody_log import verify_chain
from biobank.services.distribution import picking, requests
from biobank.services.storage import freezer_tree, lifecycle
from biobank.unit_of_work import unit_of_work
from tests.decoding import pdf_text


def _serum(tubes):
    return [t for t in tubes if t.tube_type.specimen == "serum"]


def _events(kind, sample_ids):
    return db.session.scalars(
        sa.select(Event).where(Event.type == kind, Event.sample_id.in_(sample_ids))
    ).all()


def _reserved(request):
    return requests.reserved_tubes(request)


# --- the pick list --------------------------------------------------------------------------


def test_the_pick_list_walks_freezer_path_box_and_position_with_ties_by_id(technician, approved):
    request, _ = approved
    reserved = _reserved(request)
    with unit_of_work():
        first = freezer_tree.create_freezer(technician, name="-80 Freezer A", temperature_c=-80)
        rack = freezer_tree.create_container(technician, parent_id=first.id, kind="rack", name="R1")
        box = freezer_tree.create_container(
            technician, parent_id=rack.id, kind="box", name="B1", rows=9, cols=9
        )
        # The last reserved tube goes to a freezer that sorts first; the first to I9 of its box.
        lifecycle.move_sample(technician, reserved[-1].barcode, box, "C3")
        lifecycle.move_sample(technician, reserved[0].barcode, reserved[0].position.box_id, "I9")
    listed = picking.pick_list(technician, request)
    order = [row.barcode for row in listed.rows]
    assert order == [
        reserved[-1].barcode,
        reserved[1].barcode,
        reserved[2].barcode,
        reserved[0].barcode,
    ]
    top = listed.rows[0]
    assert (top.freezer, top.path, top.box, top.position) == (
        "-80 Freezer A",
        ("-80 Freezer A", "R1", "B1"),
        "B1",
        "C3",
    )
    assert top.place == "-80 Freezer A › R1 › B1 › C3"
    assert listed.rows[-1].position == "I9"
    assert listed.picked == 0 and listed.next == top

    # CSV: same order, a freezer name that a spreadsheet would run is quoted.
    rows = list(csv.reader(io.StringIO(picking.pick_list_csv(technician, request))))
    assert rows[0] == list(picking.PICK_LIST_COLUMNS)
    assert [r[0] for r in rows[1:]] == order
    assert rows[1][3] == "'-80 Freezer A"
    assert rows[1][4:7] == ["R1", "B1", "C3"]
    assert rows[2][3:6] == ["Freezer 1", "Shelf 1", "Box 1"]


def test_the_pick_list_pdf_lists_each_tube_where_it_is_and_no_participant(technician, approved):
    request, _ = approved
    pdf = picking.pick_list_pdf(technician, request)
    assert pdf.startswith(b"%PDF") and b"/FlateDecode" in pdf
    text = pdf_text(pdf)
    for tube in _reserved(request):
        assert tube.display_barcode in text
    assert "Box 1" in text and "Freezer 1" in text and "Picked" in text
    assert "P100000001" not in text and "P100000002" not in text


def test_a_draft_request_has_no_pick_list_and_clinics_none_at_all(
    technician, collector, make_request, make_user, make_site
):
    draft = make_request()
    with pytest.raises(InvalidTransition, match="approve it first"):
        picking.pick_list(technician, draft)
    with pytest.raises(Forbidden):
        picking.pick_list(collector, draft)
    elsewhere = make_user(
        "tech.elsewhere", Role.TECHNICIAN, make_site("UCLA-BB", SiteKind.BIOBANK, "UTC")
    )
    with pytest.raises(NotFound):
        requests.get_request(elsewhere, draft.id)


# --- picking by scan --------------------------------------------------------------------------


def test_picking_marks_the_tube_picked_and_checked_out_once(technician, approved):
    request, _ = approved
    tube = picking.pick_list(technician, request).rows[0]
    with unit_of_work():
        done = picking.pick(technician, request, tube.display_barcode.lower())
    assert not done.already and done.remaining == 3
    assert done.message.startswith(f"Picked {tube.display_barcode} for request {request.id}.")
    assert "The next tube to pick is" in done.message
    sample = db.session.get(Sample, tube.sample_id)
    assert sample.status == SampleStatus.CHECKED_OUT
    assert sample.position is not None  # held until dispatch
    assert sample.reserved_for_request_id == request.id
    item = db.session.scalar(
        sa.select(DistributionItem).where(DistributionItem.sample_id == sample.id)
    )
    assert item.picked_by_id == technician.id and item.picked_at is not None
    assert db.session.get(type(request), request.id).status == RequestStatus.PICKING
    [event] = _events("checked_out", [sample.id])
    assert event.details["request"] == request.id and event.details["picked"] is True

    with unit_of_work():
        again = picking.pick(technician, request, tube.barcode)
    assert again.already
    assert again.message.startswith(f"Tube {tube.display_barcode} is already picked by Technician")
    assert len(_events("checked_out", [sample.id])) == 1
    assert picking.pick_list(technician, request).picked == 1
    assert verify_chain().intact


def test_a_wrong_tube_is_refused_saying_what_it_is_and_where_the_next_one_is(technician, approved):
    request, stored = approved
    plasma = next(t for t in stored if t.tube_type.specimen == "plasma")
    upcoming = picking.pick_list(technician, request).rows[0]
    with pytest.raises(Conflict) as refused:
        picking.pick(technician, request, plasma.barcode)
    detail = refused.value.detail
    assert f"Tube {plasma.display_barcode} (stored at Freezer 1 › Shelf 1 › Box 1 › " in detail
    assert f"is not on request {request.id}'s pick list: put it back." in detail
    assert (
        f"The next tube to pick is {upcoming.display_barcode} at {upcoming.place} "
        f"(box Box 1, position {upcoming.position})."
    ) in detail
    with pytest.raises(ValidationFailed):
        picking.pick(technician, request, "not a tube")


def test_a_quarantined_reserved_tube_is_not_picked(technician, approved):
    request, _ = approved
    tube = _reserved(request)[0]
    with unit_of_work():
        lifecycle.quarantine(technician, tube.barcode, "cap cracked")
    with pytest.raises(Conflict, match="quarantined \\(cap cracked\\)"):
        picking.pick(technician, request, tube.barcode)
    [flagged] = [row for row in picking.pick_list(technician, request).rows if row.quarantined]
    assert flagged.barcode == tube.barcode


def test_coordinators_pick_too_and_clinics_do_not(coordinator, collector, approved):
    request, _ = approved
    tube = _reserved(request)[0]
    with pytest.raises(Forbidden):
        picking.pick(collector, request, tube.barcode)
    with unit_of_work():
        assert not picking.pick(coordinator, request, tube.barcode).already


def test_picking_a_cancelled_request_is_refused(coordinator, technician, approved):
    request, _ = approved
    tube = _reserved(request)[0]
    with unit_of_work():
        requests.cancel_request(coordinator, request, "study paused")
    with pytest.raises(InvalidTransition, match="its tubes were released"):
        picking.pick(technician, request, tube.barcode)


def test_aliquoting_at_picking_sends_the_child_and_keeps_the_parent_stored(technician, approved):
    request, _ = approved
    parent = _reserved(request)[0]
    held = parent.volume_ml
    with unit_of_work():
        done = picking.pick(technician, request, parent.barcode, aliquot_ml="1.5")
    child, back = done.tube, done.parent
    assert back.id == parent.id and child.parent_id == parent.id
    assert child.volume_ml == Decimal("1.5")
    assert child.reserved_for_request_id == request.id
    assert child.status == SampleStatus.RECEIVED
    parent = db.session.get(Sample, parent.id)
    assert parent.reserved_for_request_id is None
    assert parent.status == SampleStatus.STORED and parent.position is not None
    assert parent.volume_ml == held - Decimal("1.5")
    assert "put " + parent.display_barcode + " back" in done.message
    items = {
        item.sample_id: item
        for item in db.session.scalars(
            sa.select(DistributionItem).where(DistributionItem.request_id == request.id)
        )
    }
    assert items[parent.id].released_at is not None
    assert "aliquoted at picking" in items[parent.id].release_reason
    assert items[child.id].picked_by_id == technician.id
    assert len(_events("released", [parent.id])) == 1
    assert len(_events("reserved", [child.id])) == 1
    assert len(_events("aliquoted", [parent.id])) == 1
    rows = picking.pick_list(technician, request).rows
    assert [r.barcode for r in rows if r.picked] == [child.barcode]
    assert rows[-1].barcode == child.barcode and rows[-1].position is None
    # The parent scanned again (a second click, a retry) says where it goes and what went.
    with unit_of_work():
        again = picking.pick(technician, request, parent.barcode, aliquot_ml="1.5")
    assert again.already and again.tube.id == child.id
    assert again.message.startswith(
        f"Tube {parent.display_barcode} was aliquoted at picking: its aliquot "
        f"{child.display_barcode} goes to the study instead. Put {parent.display_barcode} back "
        "at Freezer 1 › Shelf 1 › Box 1 › "
    )
    assert len(_events("aliquoted", [parent.id])) == 1
    assert verify_chain().intact


def test_an_aliquot_smaller_than_the_request_asks_or_larger_than_the_tube_is_refused(
    technician, approved
):
    request, _ = approved
    tube = _reserved(request)[0]
    with pytest.raises(ValidationFailed, match="at least 1 mL"):
        picking.pick(technician, request, tube.barcode, aliquot_ml="0.5")
    with pytest.raises(ValidationFailed, match="aliquot at most"):
        picking.pick(technician, request, tube.barcode, aliquot_ml="500")
    db.session.rollback()
    assert db.session.get(Sample, tube.id).reserved_for_request_id == request.id


def test_a_picked_tube_can_still_be_released_or_its_request_cancelled(
    coordinator, technician, approved
):
    request, _ = approved
    first, second = picking.pick_list(technician, request).rows[:2]
    with unit_of_work():
        picking.pick(technician, request, first.barcode)
        picking.pick(technician, request, second.barcode)
    with unit_of_work():
        assert requests.release(coordinator, request, "cap loose", barcodes=[first.barcode]) == [
            first.barcode
        ]
    item = db.session.scalar(
        sa.select(DistributionItem).where(DistributionItem.sample_id == first.sample_id)
    )
    assert item.released_at is not None and item.picked_at is None
    released = db.session.get(Sample, first.sample_id)
    assert released.reserved_for_request_id is None
    assert released.status == SampleStatus.CHECKED_OUT  # to be checked back in
    with unit_of_work():
        lifecycle.check_in(technician, released.barcode)
    with unit_of_work():
        requests.cancel_request(coordinator, request, "study paused")
    assert db.session.get(Sample, second.sample_id).reserved_for_request_id is None


def test_a_tube_whose_participant_withdrew_after_the_reservation_is_not_picked(
    coordinator, technician, approved
):
    request, _ = approved
    tube = _reserved(request)[0]
    participant_id = tube.collection.participant_id
    with unit_of_work():
        participants.upsert_participant(
            coordinator, participant_id, biospecimen_consent=True, withdrawn_at=utcnow()
        )
    with pytest.raises(Conflict, match=f"withdrew on .*Release it from request {request.id}"):
        picking.pick(technician, request, tube.barcode)
    [row] = [
        row for row in picking.pick_list(technician, request).rows if row.barcode == tube.barcode
    ]
    assert not row.picked

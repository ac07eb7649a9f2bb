"""Outbound shipments to a study: packing picked tubes, the signed dispatch that takes them
out of their boxes, the manifest under study pseudonyms, and returns."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    BoxFill,
    DistributionItem,
    DistributionRequest,
    DistributionShipment,
    Event,
    OutboundStatus,
    RequestStatus,
    Role,
    Sample,
    SampleStatus,
    SiteKind,
    StoragePosition,
)
from biobank.services.collecting import participants
from biobank.services.core.custody_log import verify_chain
from biobank.services.distribution import outbound, picking, requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.services.storage import lifecycle, placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD
from tests.decoding import pdf_text

PARTICIPANTS = ("P100000001", "P100000002")


def _tubes(technician, request):
    """The request's pick list rows: (picked, not picked)."""
    rows = picking.pick_list(technician, request).rows
    return [r for r in rows if r.picked], [r for r in rows if not r.picked]


def _events(kind, sample_ids):
    return db.session.scalars(
        sa.select(Event).where(Event.type == kind, Event.sample_id.in_(sample_ids))
    ).all()


def _pack_picked(technician, shipment):
    picked, _ = _tubes(technician, shipment.request)
    with unit_of_work():
        for row in picked:
            assert outbound.pack(technician, shipment, row.barcode).added
    return picked


def _dispatch(technician, shipment, carrier="courier", tracking_number="REF-1"):
    """Dispatch the shipment by ``carrier``, signed with the technician's password (in the
    caller's transaction: the caller commits, or expects a refusal)."""
    return outbound.dispatch(
        technician,
        shipment,
        carrier=carrier,
        tracking_number=tracking_number,
        signature_password=PASSWORD,
    )


def _used(box_id):
    return db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == box_id))


# --- opening and packing -------------------------------------------------------------------


def test_a_shipment_is_opened_once_to_the_protocols_institution(technician, approved, shipment):
    request, _ = approved
    assert shipment.institution == "University of Somewhere"
    assert shipment.address.startswith("1 Science Way")
    assert shipment.responsible_person == "Dr Ada Researcher"
    assert shipment.status == OutboundStatus.OPEN
    with unit_of_work():
        assert outbound.open_shipment(technician, request).id == shipment.id


def test_a_shipment_needs_a_picked_request(technician, approved):
    request, _ = approved
    with pytest.raises(InvalidTransition, match="pick its tubes first"):
        outbound.open_shipment(technician, request)


def test_packing_takes_only_picked_unquarantined_tubes_of_the_request(
    technician, coordinator, approved, shipment, make_request, store_participant
):
    request, stored = approved
    picked, unpicked = _tubes(technician, request)
    with pytest.raises(Conflict, match="is not picked yet: pick it off request"):
        outbound.pack(technician, shipment, unpicked[0].barcode)
    plasma = next(t for t in stored if t.tube_type.specimen == "plasma")
    with pytest.raises(Conflict, match="is not reserved for any request"):
        outbound.pack(technician, shipment, plasma.barcode)
    other_tubes = store_participant("P100000003")
    other = make_request()
    with unit_of_work():
        requests.approve(coordinator, other)
    theirs = next(t for t in other_tubes if t.tube_type.specimen == "serum")
    with pytest.raises(Conflict, match=f"is reserved for request {other.id}, not request"):
        outbound.pack(technician, shipment, theirs.barcode)
    with unit_of_work():
        lifecycle.quarantine(technician, picked[2].barcode, "label smudged")
    with pytest.raises(Conflict, match="quarantined \\(label smudged\\)"):
        outbound.pack(technician, shipment, picked[2].barcode)

    with unit_of_work():
        first = outbound.pack(technician, shipment, picked[0].display_barcode)
    assert first.added
    participant = db.session.get(Sample, picked[0].sample_id).collection.participant_id
    assert first.item.pseudonym == study_pseudonym(participant, request.protocol_id)
    with unit_of_work():
        again = outbound.pack(technician, shipment, picked[0].barcode)
    assert not again.added and "packed already" in again.message
    packed = [e for e in _events("packed", [picked[0].sample_id]) if "request" in e.details]
    assert len(packed) == 1 and packed[0].details["distribution_shipment"] == shipment.id


def test_clinics_do_not_pack_and_other_biobanks_do_not_see_the_shipment(
    technician, collector, make_user, make_site, approved, shipment
):
    picked, _ = _tubes(technician, shipment.request)
    with pytest.raises(Forbidden):
        outbound.pack(collector, shipment, picked[0].barcode)
    with pytest.raises(NotFound):
        outbound.get_shipment(collector, shipment.id)
    elsewhere = make_user(
        "tech.elsewhere", Role.TECHNICIAN, make_site("UCLA-BB", SiteKind.BIOBANK, "UTC")
    )
    with pytest.raises(NotFound):
        outbound.get_shipment(elsewhere, shipment.id)


# --- dispatch ----------------------------------------------------------------------------------


def test_dispatch_is_signed_and_refuses_every_bad_field_at_once(technician, shipment):
    with pytest.raises(ValidationFailed) as refused:
        outbound.dispatch(
            technician, shipment, carrier="pigeon", tracking_number="", signature_password="no"
        )
    assert set(refused.value.errors) == {"carrier", "items", "signature_password"}


def test_dispatch_sends_every_packed_tube_out_of_its_box_in_one_go(
    technician, approved, shipment, boxes
):
    request, _ = approved
    picked = _pack_picked(technician, shipment)
    _, unpicked = _tubes(technician, request)
    box_id = boxes[0].id
    used_before = _used(box_id)
    with unit_of_work():
        done = _dispatch(technician, shipment, "fedex", "1234 5678 9012")
    assert sorted(done.tubes) == sorted(r.barcode for r in picked)
    assert done.released == [unpicked[0].barcode]
    ids = [r.sample_id for r in picked]
    for sample in db.session.scalars(sa.select(Sample).where(Sample.id.in_(ids))):
        assert sample.status == SampleStatus.DISTRIBUTED
        assert sample.reserved_for_request_id is None
    assert not db.session.scalars(
        sa.select(StoragePosition).where(StoragePosition.sample_id.in_(ids))
    ).all()
    assert _used(box_id) == used_before - 3
    events = _events("distributed", ids)
    assert len(events) == 3
    event = events[0]
    assert event.details["protocol"] == request.protocol_id
    assert event.details["distribution_shipment"] == shipment.id
    assert event.details["pseudonym"].startswith("SP-")
    assert event.details["signature"]["meaning"].startswith("Distributed:")
    assert event.details["position"].startswith("Freezer 1 › Shelf 1 › Box 1 › ")
    left = db.session.get(Sample, unpicked[0].sample_id)
    assert left.reserved_for_request_id is None and left.status == SampleStatus.STORED
    assert len(_events("released", [left.id])) == 1
    assert db.session.get(DistributionRequest, request.id).status == RequestStatus.SHIPPED
    shipped = db.session.get(DistributionShipment, shipment.id)
    assert shipped.status == OutboundStatus.DISPATCHED
    assert (shipped.carrier, shipped.tracking_number) == ("fedex", "123456789012")
    assert shipped.signature["signer"] == "technician"
    assert verify_chain().intact
    with pytest.raises(InvalidTransition, match="is dispatched \\(dispatched by Technician"):
        _dispatch(technician, shipment, "fedex", "123456789012")


def test_a_freed_position_takes_a_new_tube(
    technician, collector, approved, shipment, boxes, received_tubes
):
    picked = _pack_picked(technician, shipment)
    with unit_of_work():
        _dispatch(technician, shipment)
    [fresh, *_] = received_tubes(collector, participant_id="P100000009", tube_types=["1SST8"])
    with unit_of_work():
        placing.store_sample(technician, boxes[0], fresh.barcode, picked[0].position)
    assert db.session.get(Sample, fresh.id).position.label == picked[0].position


def test_dispatch_refuses_picked_tubes_left_out_of_the_package(technician, shipment):
    picked, _ = _tubes(technician, shipment.request)
    with unit_of_work():
        outbound.pack(technician, shipment, picked[0].barcode)
    with pytest.raises(Conflict, match="picked for the request but are not packed"):
        _dispatch(technician, shipment)


def test_a_tube_quarantined_after_packing_stops_the_dispatch(technician, shipment):
    picked = _pack_picked(technician, shipment)
    with unit_of_work():
        lifecycle.quarantine(technician, picked[1].barcode, "cap cracked")
    with pytest.raises(Conflict, match=f"{picked[1].display_barcode} \\(quarantined\\)"):
        _dispatch(technician, shipment)


# --- the manifest ---------------------------------------------------------------------------


def test_the_manifest_lists_study_pseudonyms_and_never_a_participant_id(
    technician, approved, shipment
):
    request, _ = approved
    picked = _pack_picked(technician, shipment)
    with unit_of_work():
        _dispatch(technician, shipment, "ups", "1Z999AA10123456784")
    pseudonyms = {study_pseudonym(p, request.protocol_id) for p in PARTICIPANTS}
    pdf = outbound.manifest_pdf(technician, shipment)
    assert pdf.startswith(b"%PDF") and b"/FlateDecode" in pdf
    text = pdf_text(pdf)
    for participant in PARTICIPANTS:
        assert participant not in text
    assert all(p in text for p in pseudonyms)
    for row in picked:
        assert row.display_barcode in text
    assert "University of Somewhere" in text and "1Z999AA10123456784" in text

    rows = list(csv.reader(io.StringIO(outbound.manifest_csv(technician, shipment))))
    assert rows[0] == list(outbound.MANIFEST_COLUMNS)
    assert {r[0] for r in rows[1:]} == pseudonyms
    assert sorted(r[1] for r in rows[1:]) == sorted(r.barcode for r in picked)
    flat = "".join(",".join(r) for r in rows)
    assert not any(p in flat for p in PARTICIPANTS)


# --- returns ---------------------------------------------------------------------------------


def test_returned_tubes_are_received_back_and_can_be_stored_again(
    technician, approved, shipment, boxes
):
    request, stored = approved
    picked = _pack_picked(technician, shipment)
    with pytest.raises(InvalidTransition, match="receiving returns is only possible"):
        outbound.receive_return(technician, shipment, picked[0].barcode, "unused")
    with unit_of_work():
        _dispatch(technician, shipment)
    with pytest.raises(ValidationFailed, match="reason"):
        outbound.receive_return(technician, shipment, picked[0].barcode, " ")
    plasma = next(t for t in stored if t.tube_type.specimen == "plasma")
    with pytest.raises(Conflict, match="did not travel in shipment D"):
        outbound.receive_return(technician, shipment, plasma.barcode, "unused")
    with unit_of_work():
        back = outbound.receive_return(technician, shipment, picked[0].barcode, "unused")
    assert not back.already
    sample = db.session.get(Sample, picked[0].sample_id)
    assert sample.status == SampleStatus.RECEIVED
    [event] = _events("received", [sample.id])[-1:]
    assert event.reason == "unused" and event.details["distribution_shipment"] == shipment.id
    assert db.session.get(DistributionShipment, shipment.id).status == (
        OutboundStatus.PARTLY_RETURNED
    )
    with unit_of_work():
        assert outbound.receive_return(technician, shipment, picked[0].barcode, "unused").already
    assert len([e for e in _events("received", [sample.id]) if e.reason == "unused"]) == 1
    with unit_of_work():
        placing.store_sample(technician, boxes[1], sample.barcode)
    assert db.session.get(Sample, sample.id).status == SampleStatus.STORED
    with unit_of_work():
        for row in picked[1:]:
            outbound.receive_return(technician, shipment, row.barcode, "study ended")
    assert db.session.get(DistributionShipment, shipment.id).status == OutboundStatus.RETURNED
    items = db.session.scalars(
        sa.select(DistributionItem).where(DistributionItem.request_id == request.id)
    ).all()
    assert len(items) == 4
    assert verify_chain().intact


def test_a_tube_whose_participant_withdrew_is_neither_packed_nor_shipped(
    coordinator, technician, shipment
):
    picked, _ = _tubes(technician, shipment.request)
    tubes = db.session.scalars(
        sa.select(Sample).where(Sample.barcode.in_([row.barcode for row in picked]))
    ).all()
    by_participant: dict[str, list[Sample]] = {}
    for tube in sorted(tubes, key=lambda t: t.id):
        by_participant.setdefault(tube.collection.participant_id, []).append(tube)
    [(participant_id, (packed, unpacked))] = [
        (pid, two) for pid, two in by_participant.items() if len(two) == 2
    ]
    with unit_of_work():
        outbound.pack(technician, shipment, packed.barcode)
        participants.upsert_participant(
            coordinator, participant_id, biospecimen_consent=True, withdrawn_at=utcnow()
        )
    with pytest.raises(Conflict, match=r"withdrew on .*instead of packing it"):
        outbound.pack(technician, shipment, unpacked.barcode)
    with pytest.raises(
        Conflict, match=re.escape(f"{packed.display_barcode} (its participant withdrew")
    ):
        _dispatch(technician, shipment, "fedex", "123456789012")
    db.session.rollback()
    assert db.session.get(Sample, packed.id).status != SampleStatus.DISTRIBUTED


# --- cancelling before dispatch ---------------------------------------------------------------


def test_cancelling_an_open_shipment_takes_its_tubes_out_still_picked_for_the_request(
    technician, approved, shipment
):
    request, _ = approved
    picked = _pack_picked(technician, shipment)
    ids = [row.sample_id for row in picked]
    with unit_of_work():
        cancelled = outbound.cancel_shipment(technician, shipment, "courier booking cancelled")
    assert cancelled.unpacked == sorted(row.barcode for row in picked)
    db.session.expire_all()
    gone = db.session.get(DistributionShipment, shipment.id)
    assert gone.status == OutboundStatus.CANCELLED
    assert gone.cancel_reason == "courier booking cancelled"
    assert gone.cancelled_by.username == "technician" and gone.cancelled_at is not None
    assert gone.dispatched_at is None and outbound.packed_items(gone) == []
    # Nothing is lost: each tube is still checked out for the request, in its held position.
    for sample in db.session.scalars(sa.select(Sample).where(Sample.id.in_(ids))):
        assert sample.reserved_for_request_id == request.id
        assert sample.status == SampleStatus.CHECKED_OUT
    assert (
        len(
            db.session.scalars(
                sa.select(StoragePosition).where(StoragePosition.sample_id.in_(ids))
            ).all()
        )
        == 3
    )
    assert {row.barcode for row in _tubes(technician, request)[0]} == set(cancelled.unpacked)
    assert db.session.get(DistributionRequest, request.id).status == RequestStatus.PICKING
    unpacked = _events("unpacked", ids)
    assert len(unpacked) == 3
    assert {e.reason for e in unpacked} == {"courier booking cancelled"}
    assert all(e.details["distribution_shipment"] == shipment.id for e in unpacked)
    assert all(e.details["shipment_cancelled"] for e in unpacked)
    assert verify_chain().intact


def test_after_a_cancel_the_request_opens_another_shipment_and_ships_in_it(
    technician, approved, shipment
):
    request, _ = approved
    picked = _pack_picked(technician, shipment)
    with unit_of_work():
        outbound.cancel_shipment(technician, shipment, "wrong box size")
    assert outbound.shipment_of(request) is None
    assert [s.id for s in outbound.cancelled_shipments(request)] == [shipment.id]
    with pytest.raises(InvalidTransition, match="packing is only possible while it is open"):
        outbound.pack(technician, shipment, picked[0].barcode)
    with unit_of_work():
        again = outbound.open_shipment(technician, request)
    assert again.id != shipment.id and outbound.shipment_of(request).id == again.id
    _pack_picked(technician, again)
    with unit_of_work():
        done = _dispatch(technician, again, "fedex", "123456789012")
    assert sorted(done.tubes) == sorted(row.barcode for row in picked)
    assert db.session.get(DistributionShipment, shipment.id).status == OutboundStatus.CANCELLED


def test_an_empty_open_shipment_is_cancelled_and_a_coordinator_may_do_it(coordinator, shipment):
    with unit_of_work():
        cancelled = outbound.cancel_shipment(coordinator, shipment, "study postponed")
    assert cancelled.unpacked == []
    assert cancelled.shipment.cancelled_by.username == "coordinator"


def test_a_dispatched_shipment_is_not_cancelled_and_says_so(technician, shipment):
    _pack_picked(technician, shipment)
    with unit_of_work():
        _dispatch(technician, shipment)
    with pytest.raises(InvalidTransition) as refused:
        outbound.cancel_shipment(technician, shipment, "too late")
    assert re.match(
        rf"Shipment D{shipment.id} is dispatched \(dispatched by Technician .*\): cancelling is "
        r"only possible while it is open\. Reload the shipment\.",
        refused.value.detail,
    )
    db.session.rollback()
    assert db.session.get(DistributionShipment, shipment.id).status == OutboundStatus.DISPATCHED


def test_a_cancelled_shipment_is_neither_cancelled_again_nor_dispatched(technician, shipment):
    _pack_picked(technician, shipment)
    with unit_of_work():
        outbound.cancel_shipment(technician, shipment, "courier booking cancelled")
    with pytest.raises(InvalidTransition, match="is cancelled: cancelling is only possible"):
        outbound.cancel_shipment(technician, shipment, "again")
    with pytest.raises(InvalidTransition, match="is cancelled: dispatching is only possible"):
        _dispatch(technician, shipment)


def test_cancelling_needs_a_reason(technician, shipment):
    with pytest.raises(ValidationFailed) as refused:
        outbound.cancel_shipment(technician, shipment, "  ")
    assert list(refused.value.errors) == ["reason"]
    assert db.session.get(DistributionShipment, shipment.id).status == OutboundStatus.OPEN


def test_clinic_staff_and_other_biobanks_may_not_cancel_the_shipment(
    collector, make_user, make_site, shipment
):
    with pytest.raises(Forbidden):
        outbound.cancel_shipment(collector, shipment, "not mine")
    elsewhere = make_user(
        "tech.elsewhere", Role.TECHNICIAN, make_site("UCLA-BB", SiteKind.BIOBANK, "UTC")
    )
    with pytest.raises(Forbidden):
        outbound.cancel_shipment(elsewhere, shipment, "not mine")
    assert db.session.get(DistributionShipment, shipment.id).status == OutboundStatus.OPEN


def test_the_database_holds_one_live_shipment_per_request_and_a_cancel_has_its_time(
    technician, shipment
):
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            DistributionShipment(
                request_id=shipment.request_id,
                institution="x",
                address="x",
                responsible_person="x",
                status=OutboundStatus.OPEN,
                created_by_id=technician.id,
            )
        )
        db.session.flush()
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.execute(
            sa.update(DistributionShipment)
            .where(DistributionShipment.id == shipment.id)
            .values(status=OutboundStatus.CANCELLED)
        )
    db.session.rollback()


def test_a_packed_tube_is_not_released_nor_its_request_cancelled_until_it_is_out_of_the_box(
    coordinator, technician, approved, shipment
):
    request, _ = approved
    picked = _pack_picked(technician, shipment)
    packed_in = rf"packed in outbound shipment D{shipment.id}"
    with pytest.raises(Conflict, match=packed_in) as refused, unit_of_work():
        requests.release(
            coordinator, request, "study asked for fewer", barcodes=[picked[0].barcode]
        )
    assert "Take them out of the box" in str(refused.value)
    with pytest.raises(Conflict, match="cancel the shipment"), unit_of_work():
        requests.cancel_request(coordinator, request, "study ended")
    # Nothing changed: every packed tube is still reserved, packed, and the request picking.
    db.session.expire_all()
    assert len(outbound.packed_items(db.session.get(DistributionShipment, shipment.id))) == 3
    assert {
        s.reserved_for_request_id
        for s in db.session.scalars(
            sa.select(Sample).where(Sample.id.in_([row.sample_id for row in picked]))
        )
    } == {request.id}
    assert db.session.get(DistributionRequest, request.id).status == RequestStatus.PICKING
    assert _events("released", [row.sample_id for row in picked]) == []
    # Out of the box, the tube is released; once the shipment is cancelled, so is the request.
    with unit_of_work():
        outbound.unpack(technician, shipment, picked[0].barcode)
        assert requests.release(
            coordinator, request, "study asked for fewer", barcodes=[picked[0].barcode]
        ) == [picked[0].barcode]
    still_held = sorted(tube.barcode for tube in requests.reserved_tubes(request))
    assert len(still_held) == 3 and picked[0].barcode not in still_held
    with unit_of_work():
        outbound.cancel_shipment(technician, shipment, "study ended")
        released = requests.cancel_request(coordinator, request, "study ended")
    assert sorted(released) == still_held
    assert requests.reserved_tubes(request) == []
    assert verify_chain().intact

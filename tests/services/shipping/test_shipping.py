from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, SampleStatus, ShipmentStatus
from biobank.services.collecting import collections
from biobank.services.core import ids
from biobank.services.core.custody_log import verify_chain
from biobank.services.shipping import sending
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@pytest.fixture
def shipment(collector, biobank_site):
    with unit_of_work():
        return sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")


def test_open_shipment_gets_a_valid_manifest_number(shipment, collector):
    assert shipment.status == ShipmentStatus.OPEN
    assert ids.parse_prefixed_code(shipment.manifest_number, "MN") == shipment.manifest_number
    assert shipment.origin.code == "UCSD-01" and shipment.destination.code == "MAYO-BB"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": "BWH-01", "temperature": "refrigerated"}, "destination"),
        ({"destination": "NOPE", "temperature": "refrigerated"}, "destination"),
        ({"destination": "MAYO-BB", "temperature": "lukewarm"}, "temperature"),
    ],
)
def test_open_shipment_checks_its_fields(collector, biobank_site, other_clinic, kwargs, field):
    with pytest.raises(ValidationFailed) as error:
        sending.open_shipment(collector, **kwargs)
    assert field in error.value.errors


def test_only_clinic_staff_pack(technician, biobank_site):
    with pytest.raises(Forbidden):
        sending.open_shipment(technician, destination="MAYO-BB", temperature="refrigerated")


def test_pack_by_scanning_and_the_same_tube_again_is_a_no_op(
    collector, shipment, finalized_collection
):
    tube = finalized_collection(collector).samples[0]
    with unit_of_work():
        first = sending.pack_sample(collector, shipment, tube.display_barcode.lower())
        again = sending.pack_sample(collector, shipment, tube.barcode)
    assert first.added and not again.added
    assert first.item.id == again.item.id
    assert len(shipment.items) == 1
    assert tube.status == SampleStatus.FINALIZED  # packing does not change the status
    packed = db.session.scalars(sa.select(Event).where(Event.type == "packed")).all()
    assert len(packed) == 1


def test_only_finalized_tubes_are_packed(collector, shipment, start_collection):
    tube = start_collection(collector).samples[0]
    with pytest.raises(InvalidTransition, match="record its times and finalize"):
        sending.pack_sample(collector, shipment, tube.barcode)


def test_a_tube_in_another_open_shipment_is_a_conflict_naming_it(
    collector, shipment, finalized_collection
):
    tube = finalized_collection(collector).samples[0]
    with unit_of_work():
        sending.pack_sample(collector, shipment, tube.barcode)
        second = sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")
    with pytest.raises(Conflict, match=shipment.manifest_number):
        sending.pack_sample(collector, second, tube.barcode)


def test_another_sites_tube_is_not_found(
    collector, other_collector, shipment, finalized_collection
):
    tube = finalized_collection(other_collector).samples[0]
    with pytest.raises(NotFound):
        sending.pack_sample(collector, shipment, tube.barcode)


def test_temperature_class_must_match(collector, biobank_site, finalized_collection):
    tube = finalized_collection(collector).samples[0]
    with unit_of_work():
        frozen = sending.open_shipment(collector, destination="MAYO-BB", temperature="frozen")
    with pytest.raises(Conflict, match="ship refrigerated"):
        sending.pack_sample(collector, frozen, tube.barcode)


def test_unpack_a_tube(collector, shipment, finalized_collection):
    tube = finalized_collection(collector).samples[0]
    with unit_of_work():
        sending.pack_sample(collector, shipment, tube.barcode)
    with unit_of_work():
        sending.unpack_sample(collector, shipment, tube.barcode)
    assert shipment.items == []
    with pytest.raises(NotFound, match="not in shipment"):
        sending.unpack_sample(collector, shipment, tube.barcode)


@pytest.mark.parametrize(
    ("carrier", "tracking", "ok"),
    [
        ("fedex", "123456789012", True),
        ("fedex", "12345678901234", True),
        ("fedex", "12345678901", False),
        ("fedex", "1234567890123X", False),
        ("ups", "1Z999AA10123456784", True),
        ("ups", "1Z999AA1012345678", False),
        ("courier", "Bike courier #42", True),
        ("dhl", "123", False),
    ],
)
def test_dispatch_validates_the_tracking_number(
    collector, shipment, finalized_collection, carrier, tracking, ok
):
    with unit_of_work():
        for tube in finalized_collection(collector).samples:
            sending.pack_sample(collector, shipment, tube.barcode)
    if ok:
        with unit_of_work():
            sending.dispatch_shipment(
                collector,
                shipment,
                carrier=carrier,
                tracking_number=tracking,
                signature_password=PASSWORD,
            )
        assert shipment.status == ShipmentStatus.IN_TRANSIT
    else:
        with pytest.raises(ValidationFailed) as error:
            sending.dispatch_shipment(
                collector,
                shipment,
                carrier=carrier,
                tracking_number=tracking,
                signature_password=PASSWORD,
            )
        assert set(error.value.errors) & {"carrier", "tracking_number"}


def test_dispatch_moves_every_tube_in_transit_to_the_biobank(collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    tubes = [item.sample for item in shipment.items]
    assert {t.status for t in tubes} == {SampleStatus.IN_TRANSIT}
    assert {t.custody_site.code for t in tubes} == {"MAYO-BB"}
    assert shipment.dispatched_by_id == collector.id
    assert verify_chain().intact


def test_nothing_is_added_after_dispatch(collector, dispatched_shipment, finalized_collection):
    shipment = dispatched_shipment(collector)
    straggler = finalized_collection(collector, "P555555555").samples[0]
    with pytest.raises(InvalidTransition, match="only possible while it is open"):
        sending.pack_sample(collector, shipment, straggler.barcode)


def test_frozen_shipments_need_dry_ice_and_others_refuse_it(collector, biobank_site):
    with unit_of_work():
        frozen = sending.open_shipment(collector, destination="MAYO-BB", temperature="frozen")
        cold = sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")
    with pytest.raises(ValidationFailed) as error:
        sending.dispatch_shipment(
            collector,
            frozen,
            carrier="ups",
            tracking_number="1Z999AA10123456784",
            signature_password=PASSWORD,
        )
    assert "dry_ice_kg" in error.value.errors
    with pytest.raises(ValidationFailed) as error:
        sending.dispatch_shipment(
            collector,
            cold,
            carrier="ups",
            tracking_number="1Z999AA10123456784",
            dry_ice_kg=2,
            signature_password=PASSWORD,
        )
    assert "dry_ice_kg" in error.value.errors


def test_an_empty_shipment_is_not_dispatched(collector, shipment):
    with pytest.raises(ValidationFailed, match="empty"):
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )


def test_a_tube_cancelled_after_packing_blocks_dispatch(collector, shipment, finalized_collection):
    collection = finalized_collection(collector)
    with unit_of_work():
        for tube in collection.samples:
            sending.pack_sample(collector, shipment, tube.barcode)
        collections.cancel_collection(collector, collection, "wrong participant")
    with pytest.raises(InvalidTransition, match="Remove these tubes"):
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )


def test_stragglers_go_in_a_later_shipment(
    collector, dispatched_shipment, finalized_collection, biobank_site
):
    dispatched_shipment(collector)
    straggler = finalized_collection(collector, "P777777777").samples[0]
    with unit_of_work():
        later = sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")
        assert sending.pack_sample(collector, later, straggler.barcode).added


def test_cancelled_shipment_frees_its_tubes(collector, shipment, finalized_collection):
    tube = finalized_collection(collector).samples[0]
    with unit_of_work():
        sending.pack_sample(collector, shipment, tube.barcode)
        sending.cancel_shipment(collector, shipment, "box was damaged before pickup")
        another = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        assert sending.pack_sample(collector, another, tube.barcode).added


def test_a_cancelled_shipment_has_no_manifest_to_print(collector, shipment):
    with unit_of_work():
        sending.cancel_shipment(collector, shipment, "pickup called off")
    with pytest.raises(Conflict, match="was cancelled: it travels nowhere"):
        sending.manifest_pdf(collector, shipment)


def test_find_by_scanned_manifest(collector, shipment):
    assert sending.find_by_manifest(collector, shipment.manifest_number.lower()) is shipment
    with pytest.raises(ValidationFailed, match="not a manifest number"):
        sending.find_by_manifest(collector, "hello")


def test_only_the_origins_packers_pack_and_only_while_open(
    collector, other_collector, technician, shipment
):
    assert sending.may_pack(collector, shipment)
    assert not sending.may_pack(other_collector, shipment)  # another clinic
    assert not sending.may_pack(technician, shipment)  # the biobank receives, not packs
    with unit_of_work():
        sending.cancel_shipment(collector, shipment, "packed by mistake")
    assert not sending.may_pack(collector, shipment)

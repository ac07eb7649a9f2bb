"""Electronic signatures (21 CFR Part 11-style) on dispatch, receipt close and disposal."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.db import unit_of_work
from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import Event, SampleStatus, ShipmentStatus
from biobank.services import accounts, lifecycle, receiving, shipping, storage
from tests.conftest import PASSWORD


def _last(kind: str, **where) -> Event:
    stmt = sa.select(Event).where(Event.type == kind)
    for key, value in where.items():
        stmt = stmt.where(getattr(Event, key) == value)
    return db.session.scalars(stmt.order_by(Event.id.desc())).first()


def _packed(collector, finalized_collection):
    tubes = finalized_collection(collector).samples
    with unit_of_work():
        shipment = shipping.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for tube in tubes:
            shipping.pack_sample(collector, shipment, tube.barcode)
    return shipment


def test_dispatch_is_signed_with_who_when_and_what_it_means(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    with unit_of_work():
        shipping.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )
    signature = _last("dispatched", shipment_id=shipment.id, sample_id=None).details["signature"]
    assert signature["signer"] == "collector" and signature["name"] == "Collector"
    assert signature["meaning"] == accounts.Meaning.DISPATCH
    assert signature["signed_at"].endswith("+00:00")
    assert PASSWORD not in str(signature)
    per_tube = _last("dispatched", sample_id=shipment.items[0].sample_id)
    assert per_tube.details["signature"] == signature


@pytest.mark.parametrize("password", [None, "", "not-my-password"])
def test_an_unsigned_or_wrongly_signed_dispatch_changes_nothing(
    collector, biobank_site, finalized_collection, password
):
    shipment = _packed(collector, finalized_collection)
    with pytest.raises(ValidationFailed) as refused:
        shipping.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=password,
        )
    assert "signature_password" in refused.value.errors
    db.session.rollback()
    assert shipment.status == ShipmentStatus.OPEN
    assert {i.sample.status for i in shipment.items} == {SampleStatus.FINALIZED}


def test_every_problem_is_reported_with_the_signature(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    with pytest.raises(ValidationFailed) as refused:
        shipping.dispatch_shipment(collector, shipment, carrier="fedex", tracking_number="1")
    assert set(refused.value.errors) == {"tracking_number", "signature_password"}


def test_receipt_close_is_signed(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    with pytest.raises(ValidationFailed) as refused:
        receiving.close_receipt(
            technician, shipment, condition="good", signature_password="wrong-password-42"
        )
    assert "That is not your password" in refused.value.errors["signature_password"][0]
    db.session.rollback()
    with unit_of_work():
        receiving.close_receipt(technician, shipment, condition="good", signature_password=PASSWORD)
    signature = _last("receipt_closed", shipment_id=shipment.id).details["signature"]
    assert signature["signer"] == "technician"
    assert signature["meaning"] == accounts.Meaning.RECEIPT


def test_disposal_is_signed(technician, collector, received_tubes, boxes):
    tube = received_tubes(collector)[0]
    with unit_of_work():
        storage.store_sample(technician, boxes[0], tube.barcode)
    with pytest.raises(ValidationFailed) as refused:
        lifecycle.dispose(technician, tube.barcode, "", signature_password=None)
    assert set(refused.value.errors) == {"reason", "signature_password"}
    db.session.rollback()
    with unit_of_work():
        lifecycle.dispose(technician, tube.barcode, "expired", signature_password=PASSWORD)
    signature = _last("disposed", sample_id=tube.id).details["signature"]
    assert signature["meaning"] == accounts.Meaning.DISPOSAL
    assert tube.status == SampleStatus.DISPOSED

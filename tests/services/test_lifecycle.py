from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from biobank.db import unit_of_work
from biobank.errors import InvalidTransition, PositionTaken, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, SampleStatus
from biobank.services import ids, lifecycle, storage
from biobank.services.custody_log import verify_chain
from biobank.services.storage_paths import location_of
from tests.conftest import PASSWORD


@pytest.fixture
def stored(technician, collector, boxes, received_tubes):
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes:
            storage.store_sample(technician, boxes[0], tube.barcode)
    return tubes


def _events(sample, kind):
    return db.session.scalars(
        sa.select(Event).where(Event.sample_id == sample.id, Event.type == kind)
    ).all()


def test_move_within_and_between_boxes(technician, boxes, stored):
    tube = stored[0]
    with unit_of_work():
        lifecycle.move_sample(technician, tube.barcode, boxes[0], "E5")
    assert location_of(tube)["position"] == "E5"
    with unit_of_work():
        lifecycle.move_sample(technician, tube.barcode, boxes[1], "A1")
    assert location_of(tube)["box"] == "Box 2"
    [first, second] = _events(tube, "moved")
    assert first.details["from"].endswith("Box 1 › A1") and first.details["to"].endswith("E5")
    assert second.details["to"] == "Freezer 1 › Shelf 1 › Box 2 › A1"


def test_moving_onto_a_taken_position_is_409(technician, boxes, stored):
    with pytest.raises(PositionTaken):
        lifecycle.move_sample(technician, stored[0].barcode, boxes[0], "A2")


def test_check_out_and_in_records_time_out_of_the_freezer(technician, stored):
    tube = stored[0]
    with unit_of_work():
        lifecycle.check_out(technician, tube.barcode, "sent to assay")
    assert tube.status == SampleStatus.CHECKED_OUT
    assert location_of(tube)["position"] == "A1"  # the position is held for its return
    with unit_of_work():
        lifecycle.check_in(technician, tube.barcode)
    assert tube.status == SampleStatus.STORED
    [checked_in] = _events(tube, "checked_in")
    assert checked_in.details["minutes_out_of_freezer"] == 0
    with pytest.raises(InvalidTransition, match="not checked out"):
        lifecycle.check_in(technician, tube.barcode)


def test_thaw_counts_freeze_thaw_cycles(technician, stored):
    tube = stored[0]
    with unit_of_work():
        lifecycle.thaw(technician, tube.barcode)
        lifecycle.thaw(technician, tube.barcode)
    assert tube.freeze_thaw_count == 2
    assert [e.details["freeze_thaw_count"] for e in _events(tube, "thawed")] == [1, 2]


def test_aliquot_makes_children_and_reduces_the_parent(technician, stored):
    parent = next(t for t in stored if t.tube_type.code == "1SST8")
    with unit_of_work():
        made = lifecycle.aliquot(technician, parent.barcode, count=4, volume_ml="0.5")
    assert parent.volume_ml == Decimal("6.00")
    assert len(made.children) == 4
    for child in made.children:
        assert ids.is_valid(child.barcode)
        assert child.parent_id == parent.id
        assert child.status == SampleStatus.RECEIVED
        assert child.volume_ml == Decimal("0.5")
        assert child.collection_id == parent.collection_id
    [event] = _events(parent, "aliquoted")
    assert event.details["children"] == [c.barcode for c in made.children]


def test_aliquots_never_take_more_than_is_there(technician, stored):
    parent = next(t for t in stored if t.tube_type.code == "1ED04")
    with pytest.raises(ValidationFailed, match="holds only 4 mL") as error:
        lifecycle.aliquot(technician, parent.barcode, count=3, volume_ml=2)
    assert "volume_ml" in error.value.errors
    db.session.rollback()
    assert parent.volume_ml == Decimal("4.00")
    assert parent.children == []


def test_emptying_a_tube_consumes_it_and_frees_its_position(technician, stored):
    parent = next(t for t in stored if t.tube_type.code == "1ED04")
    with unit_of_work():
        lifecycle.aliquot(technician, parent.barcode, count=4, volume_ml=1)
    assert parent.volume_ml == 0
    assert parent.status == SampleStatus.CONSUMED
    assert location_of(parent) is None


def test_withdraw_then_dispose_with_reasons(technician, boxes, stored):
    tube = stored[0]
    with pytest.raises(ValidationFailed):
        lifecycle.withdraw(technician, tube.barcode, "")
    with unit_of_work():
        lifecycle.withdraw(technician, tube.barcode, "participant withdrew consent")
    assert tube.status == SampleStatus.WITHDRAWN
    with unit_of_work():
        lifecycle.dispose(
            technician,
            tube.barcode,
            "withdrawal: destroy per protocol",
            signature_password=PASSWORD,
        )
    assert tube.status == SampleStatus.DISPOSED
    assert location_of(tube) is None
    assert storage.occupancy(boxes[0]).used == len(stored) - 1
    [disposed] = _events(tube, "disposed")
    assert disposed.details["from"].endswith("A1")
    with pytest.raises(InvalidTransition, match="is disposed: it cannot be withdrawn"):
        lifecycle.withdraw(technician, tube.barcode, "again")
    assert verify_chain().intact


def test_an_aliquot_volume_that_is_not_a_number_is_refused(technician, stored):
    parent = next(t for t in stored if t.tube_type.code == "1ED04")
    with pytest.raises(ValidationFailed, match="each aliquot's volume in mL"):
        lifecycle.aliquot(technician, parent.barcode, count=2, volume_ml="NaN")

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from biobank.errors import Conflict, Forbidden, InvalidTransition, PositionTaken, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, SampleStatus
from biobank.services.core import ids
from biobank.services.core.custody_log import verify_chain
from biobank.services.storage import freezer_tree, lifecycle, placing
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@pytest.fixture
def stored(technician, collector, boxes, received_tubes):
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes:
            placing.store_sample(technician, boxes[0], tube.barcode)
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
    assert freezer_tree.occupancy(boxes[0]).used == len(stored) - 1
    [disposed] = _events(tube, "disposed")
    assert disposed.details["from"].endswith("A1")
    with pytest.raises(InvalidTransition, match="is disposed: it cannot be withdrawn"):
        lifecycle.withdraw(technician, tube.barcode, "again")
    assert verify_chain().intact


def test_an_aliquot_volume_that_is_not_a_number_is_refused(technician, stored):
    parent = next(t for t in stored if t.tube_type.code == "1ED04")
    with pytest.raises(ValidationFailed, match="each aliquot's volume in mL"):
        lifecycle.aliquot(technician, parent.barcode, count=2, volume_ml="NaN")


# --- quarantine -------------------------------------------------------------------------------


def test_a_quarantined_tube_is_not_stored_until_released(
    technician, collector, boxes, received_tubes
):
    tube = received_tubes(collector)[0]
    with unit_of_work():
        lifecycle.quarantine(technician, tube.barcode, "cracked cap, ask the site")
    assert "quarantined" in tube.flag_kinds
    [held] = _events(tube, "flagged")
    assert (held.details["flag"], held.reason) == ("quarantined", "cracked cap, ask the site")
    with pytest.raises(Conflict, match=r"is quarantined \(cracked cap, ask the site\): release"):
        placing.store_sample(technician, boxes[0], tube.barcode)
    db.session.rollback()
    with unit_of_work():
        lifecycle.release(technician, tube.barcode, "site confirmed the cap was re-sealed")
    db.session.expire_all()
    assert "quarantined" not in tube.flag_kinds
    released = [e for e in _events(tube, "flagged") if e.details.get("cleared")]
    assert released[0].reason == "site confirmed the cap was re-sealed"
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tube.barcode)
    assert tube.status == SampleStatus.STORED
    assert verify_chain().intact


def test_a_quarantined_stored_tube_is_not_checked_out_or_aliquoted_but_may_be_disposed(
    technician, stored
):
    tube = stored[0]
    with unit_of_work():
        lifecycle.quarantine(technician, tube.barcode, "freezer alarm overnight")
    with pytest.raises(Conflict, match="before checking it out"):
        lifecycle.check_out(technician, tube.barcode)
    db.session.rollback()
    with pytest.raises(Conflict, match="before aliquoting it"):
        lifecycle.aliquot(technician, tube.barcode, count=2, volume_ml="0.5")
    db.session.rollback()
    db.session.expire_all()
    assert tube.status == SampleStatus.STORED and _events(tube, "checked_out") == []
    with unit_of_work():
        lifecycle.dispose(
            technician, tube.barcode, "thawed in the alarm", signature_password=PASSWORD
        )
    assert tube.status == SampleStatus.DISPOSED


def test_quarantine_and_release_need_a_reason_and_say_when_there_is_nothing_to_do(
    technician, collector, received_tubes
):
    tube = received_tubes(collector)[0]
    with pytest.raises(ValidationFailed) as missing:
        lifecycle.quarantine(technician, tube.barcode, " ")
    assert "Give a reason to quarantine a tube" in missing.value.errors["reason"][0]
    with pytest.raises(Conflict, match="is not quarantined: there is nothing to release"):
        lifecycle.release(technician, tube.barcode, "fine")
    with unit_of_work():
        lifecycle.quarantine(technician, tube.barcode, "label smudged")
    with pytest.raises(Conflict, match=r"quarantined already \(label smudged\), by you"):
        lifecycle.quarantine(technician, tube.barcode, "again")
    db.session.rollback()
    assert len(_events(tube, "flagged")) == 1


def test_only_the_biobank_holding_a_tube_quarantines_it(technician, collector, dispatched_shipment):
    on_the_way = dispatched_shipment(collector).items[0].sample
    with pytest.raises(InvalidTransition, match="only tubes at the biobank are quarantined"):
        lifecycle.quarantine(technician, on_the_way.barcode, "heard it was dropped")
    with pytest.raises(Forbidden):
        lifecycle.quarantine(collector, on_the_way.barcode, "dropped it")


def test_a_tube_page_offers_what_the_writes_allow(technician, collector, stored):
    tube = stored[0]
    assert lifecycle.offered_actions(collector, tube) == set()  # not at their site
    assert lifecycle.offered_actions(technician, tube) == {
        "check_out",
        "move",
        "thaw",
        "aliquot",
        "quarantine",
        "withdraw",
        "dispose",
    }
    with unit_of_work():
        lifecycle.quarantine(technician, tube.barcode, "label smudged")
    held = lifecycle.offered_actions(technician, tube)
    assert {"check_out", "aliquot", "move", "quarantine"}.isdisjoint(held)
    assert {"thaw", "release", "dispose"} <= held
    with unit_of_work():
        lifecycle.check_out(technician, stored[1].barcode, "sent to assay")
    assert {"check_in", "move"} <= lifecycle.offered_actions(technician, stored[1])

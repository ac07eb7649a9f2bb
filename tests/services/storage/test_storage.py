from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PositionTaken,
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import Event, SampleStatus
from biobank.services.core import ids
from biobank.services.core.custody_log import verify_chain
from biobank.services.storage import box_positions, freezer_tree, placing
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work
from tests import decoding


def _store(actor, box, barcode, position=None):
    with unit_of_work():
        return placing.store_sample(actor, box, barcode, position)


def test_the_tree_and_its_barcodes(freezer, boxes):
    assert freezer.kind == "freezer" and str(freezer.temperature_c) == "-80.0"
    assert freezer.freezer_id is None
    assert [b.freezer_id for b in boxes] == [freezer.id] * 2 == [boxes[0].parent.freezer_id] * 2
    assert [b.name for b in boxes] == ["Box 1", "Box 2"]
    assert all(ids.parse_prefixed_code(b.barcode, "BX") == b.barcode for b in boxes)
    assert freezer_tree.path_text(boxes[0]) == "Freezer 1 › Shelf 1 › Box 1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "box", "name": "B", "rows": 0, "cols": 9}, "rows"),
        ({"kind": "box", "name": "B", "rows": 9, "cols": 100}, "cols"),
        ({"kind": "shelf", "name": "S", "rows": 9, "cols": 9}, "rows"),
        ({"kind": "freezer", "name": "F"}, "kind"),
        ({"kind": "box", "name": " ", "rows": 9, "cols": 9}, "name"),
    ],
)
def test_container_rules(technician, freezer, kwargs, field):
    with pytest.raises(ValidationFailed) as error:
        freezer_tree.create_container(technician, parent_id=freezer.id, **kwargs)
    assert field in error.value.errors


def test_boxes_hold_nothing_but_tubes(technician, boxes):
    with pytest.raises(ValidationFailed, match="holds nothing"):
        freezer_tree.create_container(
            technician, parent_id=boxes[0].id, kind="box", name="x", rows=2, cols=2
        )


def test_sibling_names_are_unique(technician, freezer):
    with pytest.raises(Conflict, match="already"):
        freezer_tree.create_container(
            technician, parent_id=freezer.id, kind="shelf", name="Shelf 1"
        )
    with pytest.raises(Conflict):
        freezer_tree.create_freezer(technician, name="Freezer 1", temperature_c=-80)


def test_collectors_do_not_manage_storage(collector):
    with pytest.raises(Forbidden):
        freezer_tree.create_freezer(collector, name="F", temperature_c=-80)


def test_store_into_a_chosen_position_and_the_first_free(
    technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    _store(technician, boxes[0], tubes[0].barcode, "B3")
    _store(technician, boxes[0], tubes[1].barcode)
    assert location_of(tubes[0])["position"] == "B3"
    assert location_of(tubes[1])["position"] == "A1"
    assert tubes[0].status == SampleStatus.STORED
    assert location_of(tubes[0])["path"] == ["Freezer 1", "Shelf 1", "Box 1"]
    stored = db.session.scalars(
        sa.select(Event).where(Event.type == "stored").order_by(Event.id)
    ).all()
    assert [e.details["position"] for e in stored] == ["B3", "A1"]


def test_a_taken_position_is_409_naming_the_next_free(technician, collector, boxes, received_tubes):
    tubes = received_tubes(collector)
    _store(technician, boxes[0], tubes[0].barcode, "A1")
    _store(technician, boxes[0], tubes[1].barcode, "A2")
    with pytest.raises(PositionTaken) as taken:
        placing.store_sample(technician, boxes[0], tubes[2].barcode, "A1")
    assert "the next free position is A3" in taken.value.detail
    assert taken.value.extra["next_free"] == "A3"


@pytest.mark.parametrize("position", ["J1", "A10", "Z9", "11", "A0"])
def test_outside_the_box_is_422(technician, collector, boxes, received_tubes, position):
    tube = received_tubes(collector)[0]
    with pytest.raises(ValidationFailed) as error:
        placing.store_sample(technician, boxes[0], tube.barcode, position)
    assert "position" in error.value.errors


def test_padded_and_lower_case_positions_are_read(technician, collector, boxes, received_tubes):
    tube = received_tubes(collector)[0]
    _store(technician, boxes[0], tube.barcode, "c07")
    assert location_of(tube)["position"] == "C7"


def test_only_received_tubes_are_stored(technician, collector, boxes, dispatched_shipment):
    on_the_way = dispatched_shipment(collector).items[0].sample
    with pytest.raises(InvalidTransition, match="in transit: only received tubes are stored"):
        placing.store_sample(technician, boxes[0], on_the_way.barcode)


def test_a_tube_still_at_the_clinic_is_not_found_at_the_biobank(
    technician, collector, boxes, finalized_collection
):
    at_clinic = finalized_collection(collector).samples[0]
    with pytest.raises(NotFound):
        placing.store_sample(technician, boxes[0], at_clinic.barcode)


def test_a_stored_tube_is_moved_not_stored_twice(technician, collector, boxes, received_tubes):
    tube = received_tubes(collector)[0]
    _store(technician, boxes[0], tube.barcode)
    with pytest.raises(Conflict, match="stored at Freezer 1 › Shelf 1 › Box 1 › A1"):
        placing.store_sample(technician, boxes[1], tube.barcode)


def test_restricted_boxes_take_only_their_specimens(technician, collector, freezer, received_tubes):
    with unit_of_work():
        serum_box = freezer_tree.create_container(
            technician,
            parent_id=freezer.id,
            kind="box",
            name="Serum",
            rows=9,
            cols=9,
            allowed_specimens=["serum"],
        )
    tubes = received_tubes(collector)
    urine = next(t for t in tubes if t.tube_type.specimen == "urine")
    serum = next(t for t in tubes if t.tube_type.specimen == "serum")
    with pytest.raises(Conflict, match="takes serum only"):
        placing.store_sample(technician, serum_box, urine.barcode)
    _store(technician, serum_box, serum.barcode)


def test_occupancy_at_every_level(technician, collector, freezer, boxes, received_tubes):
    tubes = received_tubes(collector)
    for tube in tubes[:5]:
        _store(technician, boxes[0], tube.barcode)
    assert freezer_tree.occupancy(boxes[0]) == freezer_tree.Occupancy(5, 81)
    assert freezer_tree.occupancy(freezer) == freezer_tree.Occupancy(5, 162)
    assert freezer_tree.occupancy(boxes[1]).free == 81


def test_store_many_keeps_a_collection_together_and_is_all_or_nothing(
    technician, collector, freezer, boxes, received_tubes
):
    first = received_tubes(collector)
    second = received_tubes(collector, participant_id="P222222222")
    # fill Box 1 but for 5 places: the next collection (8 tubes) must go whole into Box 2
    with unit_of_work():
        for index in range(76):
            from biobank.models import StoragePosition

            db.session.add(
                StoragePosition(box_id=boxes[0].id, row=index // 9 + 1, col=index % 9 + 1)
            )
    with unit_of_work():
        placed = placing.store_many(technician, freezer, [t.barcode for t in first + second])
    assert {p.box.name for p in placed[:8]} == {"Box 2"}
    assert [p.position for p in placed[:3]] == ["A1", "A2", "A3"]
    assert {p.box.name for p in placed[8:]} == {"Box 2"}


def test_store_many_without_room_stores_nothing(
    technician, collector, freezer, boxes, received_tubes
):
    tubes = received_tubes(collector)
    with unit_of_work():
        freezer_tree.deactivate_container(technician, boxes[1])
    from biobank.models import StoragePosition

    with unit_of_work():
        for index in range(78):
            db.session.add(
                StoragePosition(box_id=boxes[0].id, row=index // 9 + 1, col=index % 9 + 1)
            )
    with pytest.raises(Conflict, match="No room for 5"):
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    db.session.rollback()
    assert all(t.status == SampleStatus.RECEIVED for t in tubes)


def test_deactivate_only_when_empty(technician, collector, boxes, received_tubes):
    tube = received_tubes(collector)[0]
    _store(technician, boxes[0], tube.barcode)
    with pytest.raises(InvalidTransition, match="still holds 1"):
        freezer_tree.deactivate_container(technician, boxes[0])
    with unit_of_work():
        freezer_tree.deactivate_container(technician, boxes[1])
    assert not boxes[1].active
    with pytest.raises(InvalidTransition, match="deactivated"):
        placing.store_sample(
            technician, boxes[1], received_tubes(collector, participant_id="P100000009")[0].barcode
        )


def test_rename(technician, boxes):
    with unit_of_work():
        freezer_tree.rename_container(technician, boxes[0], "Serum box 17")
    assert freezer_tree.path_text(boxes[0]).endswith("Serum box 17")


@pytest.mark.parametrize("name", ["Serum\nbox", "Serum\tbox", "Serum\x07box", "Serum\u2028box"])
def test_a_name_is_one_line_without_control_characters(technician, boxes, name):
    """Names print on box labels, one line each: a line break or a control character would
    break the label (and the export's row)."""
    with pytest.raises(ValidationFailed, match="one line") as refused:
        freezer_tree.rename_container(technician, boxes[0], name)
    assert list(refused.value.errors) == ["name"]
    db.session.rollback()
    assert db.session.get(type(boxes[0]), boxes[0].id).name != name


def test_box_grid_draws_every_position(technician, collector, boxes, received_tubes):
    tube = received_tubes(collector)[0]
    _store(technician, boxes[0], tube.barcode, "I9")
    grid = box_positions.box_grid(boxes[0])
    assert len(grid) == 9 and all(len(row) == 9 for row in grid)
    assert grid[0][0] == box_positions.Cell("A1")
    corner = grid[8][8]
    assert (corner.position, corner.barcode, corner.status) == ("I9", tube.barcode, "stored")


def test_find_box_by_scanned_barcode(technician, boxes):
    assert freezer_tree.find_box_by_barcode(technician, boxes[1].barcode.lower()) is boxes[1]


def test_free_slots_skips_full_boxes(technician, boxes, freezer):
    from biobank.models import StoragePosition

    with unit_of_work():
        for index in range(81):
            db.session.add(
                StoragePosition(box_id=boxes[0].id, row=index // 9 + 1, col=index % 9 + 1)
            )
    slots = placing.free_slots(freezer, 3)
    assert [(b.name, g) for b, g in slots] == [
        ("Box 2", (1, 1)),
        ("Box 2", (1, 2)),
        ("Box 2", (1, 3)),
    ]
    assert verify_chain().intact


def test_occupancy_of_a_whole_tree_in_one_pass(
    technician, collector, freezer, boxes, received_tubes
):
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes[:3]:
            placing.store_sample(technician, boxes[1], tube.barcode)
    figures = freezer_tree.occupancy_by_container(freezer)
    assert figures[freezer.id] == freezer_tree.occupancy(freezer) == freezer_tree.Occupancy(3, 162)
    assert figures[boxes[0].id] == freezer_tree.Occupancy(0, 81)
    assert figures[boxes[1].id] == freezer_tree.Occupancy(3, 81)
    shelf = boxes[0].parent
    assert figures[shelf.id] == freezer_tree.Occupancy(3, 162)


def test_freezer_fills_of_many_freezers_in_one_query(technician, collector, freezer, boxes):
    from biobank.models import StoragePosition

    with unit_of_work():
        empty_freezer = freezer_tree.create_freezer(technician, name="Freezer 2", temperature_c=-20)
        spare = freezer_tree.create_container(
            technician, parent_id=freezer.id, kind="box", name="Spare", rows=2, cols=2
        )
        for index in range(81):  # Box 1 full to the last position
            db.session.add(
                StoragePosition(box_id=boxes[0].id, row=index // 9 + 1, col=index % 9 + 1)
            )
        db.session.add(StoragePosition(box_id=boxes[1].id, row=1, col=1))
    with unit_of_work():
        freezer_tree.deactivate_container(technician, spare)  # empty, out of use: no capacity

    fills = freezer_tree.freezer_fills([freezer.id, empty_freezer.id])

    assert fills[freezer.id] == freezer_tree.FreezerFill(
        used=82, capacity=162, boxes=2, full_boxes=1
    )
    assert fills[freezer.id].percent == 51
    assert fills[empty_freezer.id] == freezer_tree.FreezerFill(0, 0, 0, 0)
    assert freezer_tree.freezer_fills([]) == {}


def _kept_and_counted_fills() -> tuple[dict[int, int], dict[int, int]]:
    from biobank.models import BoxFill, StoragePosition

    db.session.rollback()  # read what is committed, not this session's copies
    kept = db.session.execute(sa.select(BoxFill.box_id, BoxFill.used).where(BoxFill.used > 0))
    counted = db.session.execute(
        sa.select(StoragePosition.box_id, sa.func.count()).group_by(StoragePosition.box_id)
    )
    return {box: int(n) for box, n in kept}, {box: int(n) for box, n in counted}


def test_the_database_keeps_each_box_fill_whoever_writes_the_positions(
    technician, collector, freezer, boxes, received_tubes
):
    """Stored one by one, moved across boxes and within one, disposed, and written by plain SQL:
    each box's kept fill is its count of positions every time."""
    from biobank.models import StoragePosition
    from biobank.services.storage import lifecycle
    from tests.conftest import PASSWORD

    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes[:4]:
            placing.store_sample(technician, boxes[0], tube.barcode)
    assert _kept_and_counted_fills() == ({boxes[0].id: 4}, {boxes[0].id: 4})

    with unit_of_work():
        lifecycle.move_sample(technician, tubes[0].barcode, boxes[1], "C3")
        lifecycle.move_sample(technician, tubes[1].barcode, boxes[0], "I9")  # same box
        lifecycle.dispose(
            technician, tubes[2].barcode, "Cracked in the freezer", signature_password=PASSWORD
        )
    assert _kept_and_counted_fills() == ({boxes[0].id: 2, boxes[1].id: 1},) * 2

    connection = db.session.connection()
    connection.execute(
        sa.insert(StoragePosition), [{"box_id": boxes[1].id, "row": 9, "col": c} for c in (1, 2)]
    )
    connection.execute(
        sa.update(StoragePosition)
        .where(StoragePosition.box_id == boxes[1].id, StoragePosition.row == 9)
        .values(box_id=boxes[0].id)
    )
    connection.execute(sa.delete(StoragePosition).where(StoragePosition.sample_id.is_(None)))
    db.session.commit()
    kept, counted = _kept_and_counted_fills()
    assert kept == counted == {boxes[0].id: 2, boxes[1].id: 1}
    assert freezer_tree.occupancy(freezer) == freezer_tree.Occupancy(3, 162)


def test_a_tube_is_offered_its_box_then_the_newest_with_room_that_take_it(
    technician, collector, freezer, boxes, received_tubes
):
    from biobank.models import StoragePosition

    shelf_id = boxes[0].parent_id
    with unit_of_work():
        serum_only = freezer_tree.create_container(
            technician,
            parent_id=shelf_id,
            kind="box",
            name="Serum",
            rows=9,
            cols=9,
            allowed_specimens=["serum"],
        )
        newer = [
            freezer_tree.create_container(
                technician, parent_id=shelf_id, kind="box", name=f"Box {n}", rows=9, cols=9
            )
            for n in (3, 4, 5)
        ]
        full = newer[2]
        for index in range(81):
            db.session.add(StoragePosition(box_id=full.id, row=index // 9 + 1, col=index % 9 + 1))
    urine = next(t for t in received_tubes(collector) if t.tube_type.specimen == "urine")
    assert [b.name for b in freezer_tree.boxes_to_offer(technician, urine)] == [
        "Box 4",
        "Box 3",
        "Box 2",
        "Box 1",
    ]
    _store(technician, boxes[0], urine.barcode)
    offered = freezer_tree.boxes_to_offer(technician, urine, most=3)
    assert [b.name for b in offered] == ["Box 1", "Box 4", "Box 3"]
    assert serum_only not in freezer_tree.boxes_to_offer(technician, urine)


@pytest.mark.parametrize(
    ("used", "capacity", "full", "nearly_full"),
    [(81, 81, True, False), (73, 81, False, True), (72, 81, False, False), (0, 0, False, False)],
)
def test_full_and_nearly_full_boxes(used, capacity, full, nearly_full):
    figures = freezer_tree.Occupancy(used, capacity)
    assert (figures.full, figures.nearly_full) == (full, nearly_full)


def test_a_box_label_is_printed_whatever_the_length_of_its_place(technician, boxes):
    with unit_of_work():
        freezer_tree.rename_container(technician, boxes[0].parent.parent, "F" * 100)
        freezer_tree.rename_container(technician, boxes[0].parent, "S" * 100)
        freezer_tree.rename_container(technician, boxes[0], "B" * 100)
    pdf = freezer_tree.box_label_pdf(technician, boxes[0])
    shown = decoding.pdf_text(pdf)
    assert "B" * 100 in "".join(shown.split()) and boxes[0].barcode in shown


def test_the_grid_target_is_where_a_scan_without_a_position_goes(
    technician, collector, boxes, received_tubes
):
    first, second, *_ = received_tubes(collector)
    _store(technician, boxes[0], first.barcode, "A1")
    _store(technician, boxes[0], second.barcode, "A3")
    grid = box_positions.box_grid(boxes[0])
    assert box_positions.grid_target(boxes[0], grid) == "A2"
    assert box_positions.next_free(boxes[0]) == (1, 2)  # the same rule, read from the database

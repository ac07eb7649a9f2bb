from __future__ import annotations

import pytest

from biobank.errors import ValidationFailed
from biobank.models import SampleStatus
from biobank.services.core import ids
from biobank.services.storage import placing, rack_import
from biobank.services.storage.rack_import import RackScanRefused, WellOutcome
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work


def _file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _outcomes(report):
    return {w.position: w.outcome for w in report.wells}


def test_preview_writes_nothing_and_apply_places_every_tube(
    technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    data = _file(*(f"A{i + 1:02d},{t.barcode}" for i, t in enumerate(tubes)), "B01,NO READ")
    preview = rack_import.import_rack_scan(technician, boxes[0], data, apply=False)
    assert preview.ok and not preview.applied
    assert preview.counts["placed"] == len(tubes) and preview.counts["empty"] == 1
    assert all(t.status == SampleStatus.RECEIVED for t in tubes)
    with unit_of_work():
        applied = rack_import.import_rack_scan(technician, boxes[0], data, apply=True)
    assert applied.applied
    assert [location_of(t)["position"] for t in tubes] == [f"A{i + 1}" for i in range(len(tubes))]
    assert {t.status for t in tubes} == {SampleStatus.STORED}
    # the same file again: every tube is already there, nothing changes
    again = rack_import.import_rack_scan(technician, boxes[0], data, apply=False)
    assert set(_outcomes(again).values()) == {WellOutcome.ALREADY_THERE, WellOutcome.EMPTY}


def test_every_problem_is_reported_and_nothing_is_applied(
    technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tubes[0].barcode, "C1")
        placing.store_sample(technician, boxes[1], tubes[1].barcode, "A1")
    data = _file(
        f"A1,{tubes[2].barcode}",  # fine
        f"A2,{ids.new_sample_id()}",  # a valid ID nobody knows
        "A3,FX05653780",  # not our ID at all
        f"A4,{tubes[3].barcode}",
        f"A5,{tubes[3].barcode}",  # read twice
        "K1," + tubes[4].barcode,  # outside a 9 x 9 box
        f"A6,{tubes[1].barcode}",  # stored in Box 2 per the system
        f"C1,{tubes[5].barcode}",  # the system has tubes[0] in C1
    )
    report = rack_import.import_rack_scan(technician, boxes[0], data, apply=False)
    assert not report.ok
    assert _outcomes(report) == {
        "A1": WellOutcome.PLACED,
        "A2": WellOutcome.UNKNOWN_TUBE,
        "A3": WellOutcome.UNKNOWN_TUBE,
        "A4": WellOutcome.DUPLICATE_TUBE,
        "A5": WellOutcome.DUPLICATE_TUBE,
        "K1": WellOutcome.OUTSIDE_BOX,
        "A6": WellOutcome.DIFFERS,
        "C1": WellOutcome.DIFFERS,
    }
    messages = {w.position: w.message for w in report.wells}
    assert "Box 2 › A1" in messages["A6"]
    with pytest.raises(RackScanRefused) as refused:
        rack_import.import_rack_scan(technician, boxes[0], data, apply=True)
    assert refused.value.extra["report"]["counts"]["unknown_tube"] == 2
    assert tubes[2].status == SampleStatus.RECEIVED


def test_an_empty_well_where_a_tube_should_be_differs(technician, collector, boxes, received_tubes):
    tube = received_tubes(collector)[0]
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tube.barcode, "A1")
    report = rack_import.import_rack_scan(technician, boxes[0], _file("A1,NO READ"), apply=False)
    assert _outcomes(report) == {"A1": WellOutcome.DIFFERS}
    assert tube.display_barcode in report.wells[0].message


def test_a_tube_not_yet_received_is_not_storable(technician, collector, boxes, dispatched_shipment):
    on_the_way = dispatched_shipment(collector).items[0].sample
    report = rack_import.import_rack_scan(
        technician, boxes[0], _file(f"A1,{on_the_way.barcode}"), apply=False
    )
    assert _outcomes(report) == {"A1": WellOutcome.NOT_STORABLE}
    assert "only received tubes" in report.wells[0].message


def test_an_unreadable_file_is_a_field_error(technician, boxes):
    with pytest.raises(ValidationFailed) as error:
        rack_import.import_rack_scan(technician, boxes[0], b"\x00\x01binary", apply=False)
    assert "file" in error.value.errors


def test_two_tubes_in_one_well_are_a_file_error_that_names_the_well(
    technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    data = _file(f"A1,{tubes[0].barcode}", f"A2,{tubes[1].barcode}", f"A1,{tubes[2].barcode}")
    for apply in (False, True):
        with pytest.raises(ValidationFailed) as refused:
            rack_import.import_rack_scan(technician, boxes[0], data, apply=apply)
        assert list(refused.value.errors) == ["file"]
        assert refused.value.detail.startswith(
            f"Line 3: two tubes read in A1 ({tubes[0].barcode} on line 1, {tubes[2].barcode} "
            "on line 3)"
        )
    assert all(t.status == SampleStatus.RECEIVED for t in tubes)


def test_a_line_over_the_csv_field_limit_is_a_file_error(technician, boxes):
    data = _file("A1,NO READ", "A2," + "X" * 131_073)
    with pytest.raises(ValidationFailed) as refused:
        rack_import.import_rack_scan(technician, boxes[0], data, apply=False)
    assert list(refused.value.errors) == ["file"]
    assert refused.value.detail.startswith("Line 2 is too long: 131,076 characters")
    assert "at most 131,072" in refused.value.detail

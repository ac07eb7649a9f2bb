"""Inventory import (issue 10): a validation report first, then all or nothing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Forbidden, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    CollectionStatus,
    Container,
    ContainerKind,
    Event,
    FlagKind,
    Role,
    Sample,
    SampleStatus,
    SiteKind,
    StoragePosition,
)
from biobank.services.collecting import participants
from biobank.services.core import ids
from biobank.services.core.custody_log import verify_chain
from biobank.services.inventory import importer, inventory_file
from biobank.services.inventory.inventory_file import InventoryRefused, RowOutcome
from biobank.services.storage import box_positions, freezer_tree, placing
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work

HEADER = (
    "barcode",
    "tube_type",
    "participant_id",
    "collection_site",
    "collected_at",
    "volume_ml",
    "freezer",
    "box",
    "position",
    "parent_barcode",
)


def csv_file(rows: list[dict], header=HEADER, delimiter=",") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def tube(position: str, **values) -> dict:
    """A valid row for Box 1 of Freezer 1 unless told otherwise."""
    return {
        "tube_type": "1SST8",
        "collection_site": "UCSD-01",
        "freezer": "Freezer 1",
        "box": "Box 1",
        "position": position,
        **values,
    }


def table_sizes() -> dict[str, int]:
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Sample, StoragePosition, Event, Collection, Container)
    }


def apply(actor, data: bytes) -> inventory_file.InventoryReport:
    with unit_of_work():
        return importer.import_inventory(actor, data, apply=True)


def by_line(report) -> dict[int, inventory_file.ReportRow]:
    return {row.line: row for row in report.rows}


def columns(row: inventory_file.ReportRow) -> set[str | None]:
    return {problem.column for problem in row.problems}


@pytest.fixture
def site_codes(clinic, other_clinic, biobank_site):
    return clinic, other_clinic, biobank_site


# --- a valid file: preview, then apply --------------------------------------------------------


def test_preview_writes_nothing_and_apply_stores_every_tube_with_its_events(
    technician, boxes, site_codes
):
    kept = ids.new_sample_id()
    morning = "2024-03-01T09:30:00-08:00"
    data = csv_file(
        [
            tube("A1", barcode=kept, participant_id="P000000001", collected_at=morning),
            tube("A02", participant_id="P000000001", collected_at="2024-03-01T10:00:00-08:00"),
            tube("A3", participant_id="P000000001", collected_at="2024-03-02T09:00:00-08:00"),
            tube("B1", tube_type="1ED04", volume_ml="3.5"),
        ]
    )
    before = table_sizes()
    preview = importer.import_inventory(technician, data, apply=False)
    assert preview.ok and not preview.applied
    assert preview.counts == {
        "rows": 4,
        "ok": 4,
        "error": 0,
        "new_ids": 3,
        "new_boxes": 0,
        "collections": 2,  # P000000001 on 1 March (two tubes) and on 2 March
    }
    assert [row.outcome for row in preview.rows] == [RowOutcome.OK] * 4
    assert [row.line for row in preview.rows] == [2, 3, 4, 5]
    assert preview.rows[0].barcode == kept and not preview.rows[0].new_id
    assert preview.rows[1].barcode is None and preview.rows[1].new_id
    assert "new label" in preview.rows[1].message
    assert preview.rows[1].position == "A2"
    assert table_sizes() == before

    applied = apply(technician, data)
    assert applied.applied and applied.ok
    assert applied.counts["collections"] == 2
    barcodes = [row.barcode for row in applied.rows]
    assert barcodes[0] == kept
    assert all(ids.is_valid(code) for code in barcodes) and len(set(barcodes)) == 4
    assert "print its label" in applied.rows[1].message

    db.session.expire_all()
    samples = [db.session.scalar(sa.select(Sample).where(Sample.barcode == b)) for b in barcodes]
    assert [location_of(s)["position"] for s in samples] == ["A1", "A2", "A3", "B1"]
    assert {location_of(s)["box"] for s in samples} == {"Box 1"}
    assert {s.status for s in samples} == {SampleStatus.STORED}
    assert {s.custody_site.code for s in samples} == {"MAYO-BB"}
    assert {s.site.code for s in samples} == {"UCSD-01"}
    assert samples[0].collected_at.isoformat() == "2024-03-01T17:30:00+00:00"
    assert samples[0].volume_ml == Decimal("8")  # blank: the tube type's nominal volume
    assert samples[3].volume_ml == Decimal("3.5") and samples[3].collection_id is None
    assert samples[0].collection_id == samples[1].collection_id != samples[2].collection_id
    collection = samples[0].collection
    assert collection.status == CollectionStatus.FINALIZED
    assert collection.participant_id == "P000000001" and collection.site.code == "UCSD-01"
    assert collection.created_by_id == technician.id

    events = db.session.scalars(
        sa.select(Event).where(Event.sample_id == samples[1].id).order_by(Event.id)
    ).all()
    assert [e.type for e in events] == ["created", "stored"]
    assert events[0].details == {
        "imported": True,
        "source": "inventory import",
        "line": 3,
        "tube_type": "1SST8",
        "new_id": True,
    }
    assert events[1].details["position"] == "A2"
    assert events[1].details["source"] == "inventory import"
    assert {e.site_id for e in events} == {technician.site_id}
    assert verify_chain().intact


def test_headers_in_any_case_and_order_semicolons_bom_and_ignored_columns(
    technician, boxes, site_codes
):
    text = (
        "\ufeffPosition;Freezer;BOX;Tube Type;Collection-Site;Legacy ID;Barcode\n"
        "a01;freezer 1;box 1;1ed04;ucsd-01;OLD-123;\n"
        "\n"  # blank lines are skipped; line numbers stay those of the file
        "A2;Freezer 1;Box 1;1ED04;UCSD-01;OLD-124;\n"
    )
    report = importer.import_inventory(technician, text.encode(), apply=False)
    assert report.ok, [row.message for row in report.rows]
    assert report.ignored_columns == ["legacy_id"]
    assert [(row.line, row.position, row.freezer, row.box) for row in report.rows] == [
        (2, "A1", "Freezer 1", "Shelf 1 › Box 1"),
        (4, "A2", "Freezer 1", "Shelf 1 › Box 1"),
    ]


# --- every kind of row error, and nothing written ---------------------------------------------


def test_every_row_error_names_its_column_and_applying_writes_nothing(
    technician, collector, boxes, received_tubes, site_codes
):
    stored = received_tubes(collector)
    with unit_of_work():
        placing.store_sample(technician, boxes[0], stored[0].barcode, "I9")
    twice, stranger = ids.new_sample_id(), ids.new_sample_id()
    header = (*HEADER, "notes")
    rows = {
        2: tube("A1"),  # fine
        3: tube("A2", tube_type="XYZ9"),
        4: tube("A3", collection_site="NOWHERE-01"),
        5: tube("A4", collected_at="2024-03-01 09:30"),  # no offset
        6: tube("A5", collected_at="first of March"),
        7: tube("A6", collected_at=(utcnow() + timedelta(days=2)).isoformat()),
        8: tube("K1"),  # a 9 x 9 box has no row K
        9: tube("I9"),  # holds a stored tube
        10: tube("B1"),
        11: tube("B01"),  # the same position as line 10
        12: tube("C1", barcode=twice),
        13: tube("C2", barcode=twice),
        14: tube("C3", barcode=stored[1].barcode),  # already in the system
        15: tube("C4", barcode="FX0012345"),
        16: {"barcode": "", "tube_type": "", "collection_site": "UCSD-01"},
        17: tube("C5", notes="call 555-123-4567 if thawed"),
        18: tube("C6", participant_id="12345"),
        19: tube("C7", volume_ml="lots"),
        20: tube("C8", freezer="Freezer 99"),
        21: tube("C9", parent_barcode=stranger),
        22: tube("D1", box="Shelf 9 › Box 1"),
    }
    data = csv_file([rows[line] for line in sorted(rows)], header=header)
    report = importer.import_inventory(technician, data, apply=False)
    lines = by_line(report)
    assert lines[2].outcome == RowOutcome.OK
    expected = {
        3: {"tube_type"},
        4: {"collection_site"},
        5: {"collected_at"},
        6: {"collected_at"},
        7: {"collected_at"},
        8: {"position"},
        9: {"position"},
        10: {"position"},
        11: {"position"},
        12: {"barcode"},
        13: {"barcode"},
        14: {"barcode"},
        15: {"barcode"},
        16: {"tube_type", "freezer", "box", "position"},
        17: {"notes"},
        18: {"participant_id"},
        19: {"volume_ml"},
        20: {"freezer"},
        21: {"parent_barcode"},
        22: {"box"},
    }
    assert {line: columns(lines[line]) for line in expected} == expected
    for line in expected:  # every message names its column
        assert all(p.message.startswith(p.column) for p in lines[line].problems), line
    assert report.counts["error"] == len(expected) and report.counts["ok"] == 1
    assert "XYZ9" in lines[3].message and "not a tube type" in lines[3].message
    assert "no UTC offset" in lines[5].message
    assert "in the future" in lines[7].message
    assert "K1 is outside box Freezer 1 › Shelf 1 › Box 1 (9 x 9, A1–I9)" in lines[8].message
    assert f"holds tube {stored[0].display_barcode} already" in lines[9].message
    assert "also given on line 11" in lines[10].message
    assert "also on line 13" in lines[12].message
    assert "already a tube in this system" in lines[14].message
    assert lines[15].message == (
        "barcode: 'FX0012345' is not a sample ID of this system: leave it blank to assign a "
        "new one."
    )
    assert "a phone number" in lines[17].message
    assert "no freezer named 'Freezer 99'" in lines[20].message
    assert "neither the barcode of another line" in lines[21].message
    assert "there is no Freezer 1 › Shelf 9" in lines[22].message

    before = table_sizes()
    with pytest.raises(InventoryRefused) as refused:
        apply(technician, data)
    assert refused.value.status == 409
    assert "Nothing was imported: 20 lines of the file have errors" in refused.value.detail
    assert refused.value.extra["report"]["counts"]["error"] == 20
    assert refused.value.extra["report"]["rows"][1]["errors"] == [
        {"column": "tube_type", "message": lines[3].message}
    ]
    db.session.expire_all()
    assert table_sizes() == before


def test_a_surplus_value_on_a_line_is_an_error(technician, boxes, site_codes):
    data = (
        b"tube_type,collection_site,freezer,box,position\n"
        b"1ED04,UCSD-01,Freezer 1,Box 1,A1,left over\n"
    )
    [row] = importer.import_inventory(technician, data, apply=False).rows
    assert columns(row) == {None}
    assert "1 value more than the header has columns" in row.message


# --- new IDs, aliquots, boxes -------------------------------------------------------------------


def test_blank_barcodes_get_new_valid_ids_that_are_reported(technician, boxes, site_codes):
    data = csv_file([tube(f"A{i}") for i in range(1, 6)])
    applied = apply(technician, data)
    assigned = [row.barcode for row in applied.rows]
    assert all(row.new_id for row in applied.rows)
    assert all(ids.parse_sample_id(code) == code for code in assigned)
    assert len(set(assigned)) == 5
    assert applied.counts["new_ids"] == 5
    found = db.session.scalars(sa.select(Sample.barcode).where(Sample.barcode.in_(assigned)))
    assert set(found) == set(assigned)


def test_aliquots_of_a_row_and_of_a_tube_already_stored(
    technician, collector, boxes, received_tubes, site_codes
):
    stored = received_tubes(collector)[0]  # collected by UCSD-01 for P123456789
    with unit_of_work():
        placing.store_sample(technician, boxes[1], stored.barcode, "A1")
    parent = ids.new_sample_id()
    data = csv_file(
        [
            # the aliquot comes before its parent in the file: parents are written first
            tube("A2", parent_barcode=parent, volume_ml="1"),
            tube(
                "A1",
                barcode=parent,
                participant_id="P000000007",
                collected_at="2024-01-05T08:00:00+00:00",
            ),
            tube("A3", parent_barcode=parent, volume_ml="1"),
            tube("A4", tube_type="1ED04", parent_barcode=stored.barcode),
        ]
    )
    applied = apply(technician, data)
    assert applied.ok, [row.message for row in applied.rows]
    assert "Aliquot of" in applied.rows[0].message
    db.session.expire_all()
    made = {
        row.position: db.session.scalar(sa.select(Sample).where(Sample.barcode == row.barcode))
        for row in applied.rows
    }
    assert made["A2"].parent.barcode == parent and made["A3"].parent.barcode == parent
    assert made["A2"].collection_id == made["A1"].collection_id is not None
    assert made["A1"].collection.participant_id == "P000000007"
    assert made["A4"].parent_id == stored.id
    assert made["A4"].volume_ml is None  # an aliquot's volume is not guessed
    assert made["A4"].collection_id == stored.collection_id
    assert [c.barcode for c in made["A1"].children] == [made["A2"].barcode, made["A3"].barcode]
    created = db.session.scalar(
        sa.select(Event).where(Event.sample_id == made["A2"].id, Event.type == "created")
    )
    assert created.details["aliquot_of"] == parent
    assert verify_chain().intact


def test_parent_loops_and_mismatched_aliquots_are_errors(technician, boxes, site_codes):
    first, second = ids.new_sample_id(), ids.new_sample_id()
    data = csv_file(
        [
            tube("A1", barcode=first, parent_barcode=second),
            tube("A2", barcode=second, parent_barcode=first),
            tube("A3", barcode=ids.new_sample_id(), participant_id="P000000001"),
        ]
    )
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    assert columns(lines[2]) == columns(lines[3]) == {"parent_barcode"}
    assert "a loop" in lines[2].message
    own, selfish = ids.new_sample_id(), ids.new_sample_id()
    data = csv_file(
        [
            tube("A1", barcode=own, participant_id="P000000001"),
            tube("A2", parent_barcode=own, participant_id="P000000002"),
            tube("A3", parent_barcode=own, collection_site="BWH-01"),
            tube("A4", barcode=selfish, parent_barcode=selfish),
        ]
    )
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    assert lines[2].outcome == RowOutcome.OK
    assert columns(lines[3]) == {"participant_id"}
    assert "not the participant of its parent (P000000001, line 2)" in lines[3].message
    assert columns(lines[4]) == {"collection_site"}
    assert "its parent's site (UCSD-01, line 2), not BWH-01" in lines[4].message
    assert columns(lines[5]) == {"parent_barcode"} and "its own parent" in lines[5].message


def test_a_missing_box_is_created_in_the_freezer_with_the_size_given(
    technician, freezer, boxes, site_codes
):
    header = (*HEADER, "box_rows", "box_cols")
    data = csv_file(
        [
            tube("A1", box="Box 7", box_rows="10", box_cols="10"),
            tube("J10", box="Box 7"),
            tube("A1", box="Shelf 1 › Box 8"),  # default 9 x 9, inside the shelf
        ],
        header=header,
    )
    preview = importer.import_inventory(technician, data, apply=False)
    assert preview.ok, [row.message for row in preview.rows]
    assert [box.as_dict() for box in preview.new_boxes] == [
        {"freezer": "Freezer 1", "box": "Box 7", "rows": 10, "cols": 10},
        {"freezer": "Freezer 1", "box": "Shelf 1 › Box 8", "rows": 9, "cols": 9},
    ]
    assert "(a new box)" in preview.rows[0].message
    assert db.session.scalar(sa.select(Container).where(Container.name == "Box 7")) is None
    apply(technician, data)
    box7 = db.session.scalar(sa.select(Container).where(Container.name == "Box 7"))
    box8 = db.session.scalar(sa.select(Container).where(Container.name == "Box 8"))
    assert (box7.kind, box7.parent_id, box7.rows, box7.cols) == (
        ContainerKind.BOX,
        freezer.id,
        10,
        10,
    )
    assert ids.parse_prefixed_code(box7.barcode, ids.BOX_PREFIX) == box7.barcode
    assert box8.parent.name == "Shelf 1" and (box8.rows, box8.cols) == (9, 9)
    assert {c.position for row in box_positions.box_grid(box7) for c in row if c.barcode} == {
        "A1",
        "J10",
    }
    assert verify_chain().intact


def test_box_sizes_must_agree(technician, boxes, site_codes):
    header = (*HEADER, "box_rows", "box_cols")
    data = csv_file(
        [
            tube("A1", box_rows="10"),  # Box 1 exists with 9 rows
            tube("A1", box="Box 7", box_rows="8", box_cols="8"),
            tube("A2", box="Box 7", box_rows="9"),
            tube("I1", box="Box 7"),  # outside an 8 x 8 box
            tube("A1", box="Box 9", box_rows="30"),
        ],
        header=header,
    )
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    assert columns(lines[2]) == {"box_rows"} and "exists with 9 rows, not 10" in lines[2].message
    assert lines[3].outcome == RowOutcome.OK
    assert columns(lines[4]) == {"box_rows"} and "line 3 makes box" in lines[4].message
    assert columns(lines[5]) == {"position"} and "(8 x 8, A1–H8)" in lines[5].message
    assert columns(lines[6]) == {"box_rows"}


def test_a_box_name_used_twice_in_a_freezer_needs_its_path(technician, freezer, boxes, site_codes):
    with unit_of_work():
        shelf = freezer_tree.create_container(
            technician, parent_id=freezer.id, kind="shelf", name="S2"
        )
        freezer_tree.create_container(
            technician, parent_id=shelf.id, kind="box", name="Box 1", rows=9, cols=9
        )
    data = csv_file([tube("A1"), tube("A2", box="S2 › Box 1"), tube("A3", box="S2 > box 1")])
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    assert columns(lines[2]) == {"box"}
    assert "holds 2 boxes named 'Box 1' (Shelf 1 › Box 1; S2 › Box 1)" in lines[2].message
    assert lines[3].outcome == lines[4].outcome == RowOutcome.OK
    assert lines[3].box == lines[4].box == "S2 › Box 1"


def test_specimen_restricted_boxes_and_deactivated_ones(technician, freezer, boxes, site_codes):
    with unit_of_work():
        freezer_tree.create_container(
            technician,
            parent_id=freezer.id,
            kind="box",
            name="Urine box",
            rows=9,
            cols=9,
            allowed_specimens=["urine"],
        )
        freezer_tree.deactivate_container(technician, boxes[1])
    data = csv_file([tube("A1", box="Urine box"), tube("A1", box="Box 2")])
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    assert columns(lines[2]) == {"box"} and "takes urine only" in lines[2].message
    assert columns(lines[3]) == {"box"} and "deactivated" in lines[3].message


def test_a_withdrawn_participant_s_tubes_are_imported_flagged_for_disposal(
    technician, coordinator, boxes, site_codes
):
    with unit_of_work():
        participants.upsert_participant(
            coordinator,
            "P000000042",
            biospecimen_consent=True,
            withdrawn_at=utcnow() - timedelta(days=3),
        )
    data = csv_file([tube("A1", participant_id="P000000042")])
    preview = importer.import_inventory(technician, data, apply=False)
    assert preview.ok and "flagged for disposal" in preview.rows[0].message
    applied = apply(technician, data)
    sample = db.session.scalar(sa.select(Sample).where(Sample.barcode == applied.rows[0].barcode))
    assert FlagKind.DISPOSAL_REQUIRED in {flag.kind for flag in sample.flags}


def test_a_position_taken_while_the_file_is_applied_refuses_the_whole_file(
    technician, boxes, site_codes, monkeypatch
):
    """Between the checks and the writes a colleague stores a tube at a position the file
    uses: the database's unique position says no, and nothing of the file is written."""
    checked = importer._plan

    def plan_then_a_colleague_stores(actor, lines):
        planned = checked(actor, lines)
        db.session.add(StoragePosition(box_id=boxes[0].id, row=1, col=2))
        db.session.flush()
        return planned

    monkeypatch.setattr(importer, "_plan", plan_then_a_colleague_stores)
    before = table_sizes()
    with pytest.raises(InventoryRefused, match="The freezer changed while the file was"):
        apply(technician, csv_file([tube("A1"), tube("A2"), tube("A3", box="Box 9")]))
    db.session.expire_all()
    assert table_sizes() == before
    assert verify_chain().intact


# --- who may import, and files that are not inventories ----------------------------------------


def test_only_biobank_staff_who_manage_storage_may_import(
    collector, coordinator, make_user, make_site, boxes, site_codes
):
    data = csv_file([tube("A1")])
    for actor in (collector, coordinator):
        with pytest.raises(Forbidden):
            importer.import_inventory(actor, data, apply=False)
    other_bank = make_site("OTHER-BB", SiteKind.BIOBANK)
    stranger = make_user("technician.other", Role.TECHNICIAN, other_bank)
    [row] = importer.import_inventory(stranger, data, apply=False).rows
    assert columns(row) == {"freezer"}  # another biobank's freezer is not theirs to fill
    assert "OTHER-BB has no freezer named 'Freezer 1'" in row.message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "The file is empty"),
        (b"   \n\n", "The file is empty"),
        (b"\xef\xbb\xbf", "The file is empty"),  # a spreadsheet's empty "CSV UTF-8"
        (b"\xa0\r\n", "The file is empty"),  # a lone non-breaking space (cp1252)
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a text file"),
        (b"A1,7KQ2M9XD3E\nA2,ABCDEFGHJT\n", "is not a header this import reads"),
        (
            b"barcode|tube_type|collection_site|freezer|box|position\n|1ED04|UCSD-01|F|B|A1\n",
            "is not a header this import reads",
        ),
        (b"barcode,tube_type,freezer\n,1ED04,Freezer 1\n", "required columns collection_site"),
        (b"tube_type,collection_site,freezer,box,position\n", "a header but no tubes"),
        (b"tube_type,Tube Type,collection_site,freezer,box,position\n1,2,3,4,5,6\n", "once"),
    ],
)
def test_a_file_that_is_not_an_inventory_is_a_file_error(technician, content, words):
    with pytest.raises(ValidationFailed) as refused:
        importer.import_inventory(technician, content, apply=False)
    assert list(refused.value.errors) == ["file"]
    assert words in refused.value.detail


def test_huge_files_are_refused_before_reading_them(technician, monkeypatch):
    monkeypatch.setattr(inventory_file, "MAX_BYTES", 1000)
    with pytest.raises(ValidationFailed, match=r"1,100 bytes; an inventory file may have up to"):
        importer.import_inventory(technician, b"x" * 1100, apply=False)
    monkeypatch.setattr(inventory_file, "MAX_ROWS", 3)
    data = csv_file([tube(f"A{i}") for i in range(1, 5)])
    with pytest.raises(ValidationFailed, match="more than 3 tubes"):
        importer.import_inventory(technician, data, apply=False)


def test_a_new_box_for_tubes_that_keep_their_ids_stays_on_the_chain(
    technician, freezer, boxes, site_codes
):
    # No row asks for a new ID, so nothing reads the database between the box's event and
    # the tubes' bulk events: the bulk append must still link to the box's event.
    [kept] = ids.new_sample_ids(1)
    apply(technician, csv_file([tube("A1", barcode=kept, box="Box 7")]))
    assert db.session.scalar(sa.select(Container).where(Container.name == "Box 7")) is not None
    assert verify_chain().intact


def test_a_line_over_the_csv_field_limit_is_a_file_error_naming_it(technician, boxes, site_codes):
    header = "barcode,tube_type,collection_site,freezer,box,position\n"
    long_line = ",1ED04,UCSD-01,Freezer 1,Box 1,A1" + "x" * 131_072
    for data in (
        (header + ",1ED04,UCSD-01,Freezer 1,Box 1,A2\n" + long_line + "\n").encode(),
        ("tube_type," * 20_000 + "\n").encode(),  # the header line itself
    ):
        with pytest.raises(ValidationFailed) as refused:
            importer.import_inventory(technician, data, apply=False)
        assert list(refused.value.errors) == ["file"]
        line = 3 if data.startswith(b"barcode") else 1
        assert refused.value.detail.startswith(f"Line {line} is too long")
        assert "at most 131,072" in refused.value.detail


def test_a_collected_time_before_2000_is_a_row_error_with_the_range(technician, boxes, site_codes):
    data = csv_file(
        [
            tube("A1", collected_at="0001-01-01T00:00:00+14:00"),
            tube("A2", collected_at="1900-03-01T09:30:00-06:00"),
            tube("A3", collected_at="2024-03-01T09:30:00-06:00"),
        ]
    )
    lines = by_line(importer.import_inventory(technician, data, apply=False))
    for line in (2, 3):
        assert columns(lines[line]) == {"collected_at"}
        [problem] = lines[line].problems
        assert problem.message.startswith("collected_at: ")
        assert "is before 2000-01-01T00:00:00Z" in problem.message
    assert not lines[4].problems

"""POST /api/v1/storage/inventory-import, and a CSV round trip through the sample export."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, Role, Sample, SiteKind, StoragePosition
from biobank.services.core import ids
from biobank.services.storage import freezer_tree, lifecycle, placing
from biobank.unit_of_work import unit_of_work

PATH = "/api/v1/storage/inventory-import"
HEADER = "barcode,tube_type,collection_site,collected_at,volume_ml,freezer,box,position\n"


def upload(content: bytes, name: str = "inventory.csv") -> dict:
    return {"file": (io.BytesIO(content), name)}


def good_file(count: int = 3) -> bytes:
    lines = [
        f",1ED04,UCSD-01,2024-03-01T09:30:00-08:00,,Freezer 1,Box 1,A{i}"
        for i in range(1, count + 1)
    ]
    return (HEADER + "\n".join(lines) + "\n").encode()


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Sample, StoragePosition, Event)
    )


def test_preview_then_apply(client, auth_headers, technician, clinic, boxes):
    headers = auth_headers(technician)
    before = counts()
    preview = client.post(PATH, headers=headers, data=upload(good_file()))
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["ok"] is True and body["applied"] is False
    assert body["counts"] == {
        "rows": 3,
        "ok": 3,
        "error": 0,
        "new_ids": 3,
        "new_boxes": 0,
        "collections": 0,
    }
    assert body["rows"][0] == {
        "line": 2,
        "barcode": None,
        "new_id": True,
        "tube_type": "1ED04",
        "freezer": "Freezer 1",
        "box": "Shelf 1 › Box 1",
        "position": "A1",
        "outcome": "ok",
        "message": "Goes into Freezer 1 › Shelf 1 › Box 1 › A1. A new ID is assigned: the tube "
        "will need a new label.",
        "errors": [],
    }
    assert body["ignored_columns"] == [] and body["new_boxes"] == []
    db.session.expire_all()
    assert counts() == before

    applied = client.post(f"{PATH}?apply=true", headers=headers, data=upload(good_file()))
    assert applied.status_code == 200, applied.get_json()
    body = applied.get_json()
    assert body["applied"] is True
    barcode = body["rows"][2]["barcode"]
    assert ids.is_valid(barcode) and body["rows"][2]["new_id"] is True
    sample = client.get(f"/api/v1/samples/{barcode}", headers=headers).get_json()
    assert sample["status"] == "stored" and sample["site"] == "UCSD-01"
    assert sample["location"]["box"] == "Box 1" and sample["location"]["position"] == "A3"
    events = client.get(f"/api/v1/samples/{barcode}/events", headers=headers).get_json()
    assert [e["type"] for e in events["items"]] == ["created", "stored"]
    assert events["items"][0]["details"]["source"] == "inventory import"


def test_applying_a_file_with_errors_is_a_409_with_the_report(
    client, auth_headers, technician, clinic, boxes
):
    content = good_file(2) + b",NOPE9,UCSD-01,,,Freezer 1,Box 1,A9\n"
    before = counts()
    refused = client.post(
        f"{PATH}?apply=true", headers=auth_headers(technician), data=upload(content)
    )
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"] == "urn:biobank:problem:inventory-refused"
    assert problem["detail"].startswith("Nothing was imported: 1 line of the file has errors.")
    report = problem["report"]
    assert report["counts"]["error"] == 1 and report["applied"] is False
    assert report["rows"][2]["errors"] == [
        {
            "column": "tube_type",
            "message": "tube_type: 'NOPE9' is not a tube type in the catalogue.",
        }
    ]
    db.session.expire_all()
    assert counts() == before


def test_an_unreadable_file_is_a_422_on_file(client, auth_headers, technician, boxes):
    headers = auth_headers(technician)
    binary = client.post(PATH, headers=headers, data=upload(b"PK\x03\x04\x00\x00", "inv.xlsx"))
    assert binary.status_code == 422
    assert "This is not a text file" in binary.get_json()["errors"]["file"][0]
    no_header = client.post(PATH, headers=headers, data=upload(b"A1;7KQ2M9XD3E\n"))
    assert no_header.status_code == 422 and "file" in no_header.get_json()["errors"]
    no_file = client.post(PATH, headers=headers, data={})
    assert no_file.status_code == 422 and "file" in no_file.get_json()["errors"]


def test_who_may_import(
    client, auth_headers, collector, coordinator, admin, make_site, make_user, clinic, boxes
):
    assert client.post(PATH, data=upload(good_file())).status_code == 401
    for refused in (collector, coordinator):
        answer = client.post(PATH, headers=auth_headers(refused), data=upload(good_file()))
        assert answer.status_code == 403, refused.role
    # an admin manages storage: their own site's freezers
    assert (
        client.post(PATH, headers=auth_headers(admin), data=upload(good_file())).status_code == 200
    )
    # Nothing here is looked up by id, so there is no 404: another biobank's technician names
    # freezers of their own site only, and ours is simply not one of them.
    elsewhere = make_user(
        "technician.obb", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK)
    )
    answer = client.post(PATH, headers=auth_headers(elsewhere), data=upload(good_file(1)))
    assert answer.status_code == 200
    assert answer.get_json()["rows"][0]["errors"][0]["column"] == "freezer"


# --- a CSV round trip: the sample export, reshaped, imported at another biobank -----------------


def exported(client, headers) -> list[dict]:
    response = client.get("/api/v1/exports/samples.csv?status=stored", headers=headers)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


# Inventory column ← export column. The export names the collecting site "site"; it carries no
# participant ID (nothing leaves the system with one), so the imported tubes join no collection.
FROM_EXPORT = {
    "barcode": "barcode",
    "tube_type": "tube_type",
    "collection_site": "site",
    "collected_at": "collected_at",
    "volume_ml": "volume_ml",
    "freezer": "freezer",
    "box": "box",
    "position": "position",
}


def as_import_file(rows: list[dict], *, keep_barcodes: bool) -> bytes:
    """The export's columns reshaped into an inventory file."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FROM_EXPORT), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        reshaped = {column: row[source] for column, source in FROM_EXPORT.items()}
        if not keep_barcodes:
            reshaped["barcode"] = ""
        writer.writerow(reshaped)
    return buffer.getvalue().encode()


COMPARED = (
    "tube_type",
    "site",
    "collected_at",
    "volume_ml",
    "freezer",
    "box",
    "position",
    "status",
)


def test_csv_round_trip_through_the_export(
    client, auth_headers, technician, collector, boxes, received_tubes, make_site, make_user
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, boxes[0], [t.barcode for t in tubes])
        aliquots = lifecycle.aliquot(technician, tubes[0].barcode, count=2, volume_ml="1.5")
    with unit_of_work():
        placing.store_many(technician, boxes[1], [c.barcode for c in aliquots.children])
    original = exported(client, auth_headers(technician))
    assert len(original) == len(tubes) + 2
    assert {row["box"] for row in original} == {"Box 1", "Box 2"}

    other_bank = make_site("OTHER-BB", SiteKind.BIOBANK)
    newcomer = make_user("technician.obb", Role.TECHNICIAN, other_bank)
    with unit_of_work():
        freezer_tree.create_freezer(newcomer, name="Freezer 1", temperature_c=-80)
    headers = auth_headers(newcomer)

    # The tubes' IDs are unique system-wide: kept, every line is refused and nothing is written.
    refused = client.post(
        f"{PATH}?apply=true",
        headers=headers,
        data=upload(as_import_file(original, keep_barcodes=True)),
    )
    assert refused.status_code == 409
    report = refused.get_json()["report"]
    assert report["counts"]["error"] == len(original)
    assert all(
        row["errors"][0]["column"] == "barcode"
        and "already a tube in this system" in row["message"]
        for row in report["rows"]
    )
    assert exported(client, headers) == []

    # With the barcode column blank, the other biobank imports the same tubes with new IDs,
    # and creates the two boxes the export names.
    applied = client.post(
        f"{PATH}?apply=true",
        headers=headers,
        data=upload(as_import_file(original, keep_barcodes=False)),
    )
    assert applied.status_code == 200, applied.get_json()
    imported = applied.get_json()
    assert [box["box"] for box in imported["new_boxes"]] == ["Box 1", "Box 2"]
    assert imported["counts"]["new_ids"] == len(original)
    again = exported(client, headers)
    assert len(again) == len(original)
    key = lambda row: (row["box"], row["position"])  # noqa: E731
    for before, after in zip(sorted(original, key=key), sorted(again, key=key), strict=True):
        assert {c: after[c] for c in COMPARED} == {c: before[c] for c in COMPARED}
        assert after["custody_site"] == "OTHER-BB" and before["custody_site"] == "MAYO-BB"
        assert after["barcode"] != before["barcode"] and ids.is_valid(after["barcode"])

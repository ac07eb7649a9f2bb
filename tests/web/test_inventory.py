"""The inventory-import page: upload → the report of every line → Apply (all or nothing)."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Collection, Sample, SampleStatus, StoragePosition
from biobank.services.core import ids
from biobank.services.inventory import importer
from biobank.unit_of_work import unit_of_work
from tests.conftest import csrf_token_from
from tests.web.test_collections import form_posting_to, forms_on
from tests.web.test_storage import error_beside, text_of

PAGE = "/storage/inventory"
HEADER = "barcode,tube_type,collection_site,freezer,box,position\n"


def inventory_file(*positions: str, tube_type: str = "1ED04") -> bytes:
    lines = [f",{tube_type},UCSD-01,Freezer 1,Box 1,{p}" for p in positions]
    return (HEADER + "\n".join(lines) + "\n").encode()


def stored_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(StoragePosition.id)))


@pytest.fixture
def tech_client(technician, login):
    return login(technician)


def token(client) -> str:
    return csrf_token_from(client.get(PAGE).get_data(as_text=True))


def check(client, content: bytes, name: str = "inventory.csv"):
    return client.post(
        PAGE,
        data={"csrf_token": token(client), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_the_storage_page_links_to_the_import(tech_client):
    html = tech_client.get("/storage/").get_data(as_text=True)
    assert f'href="{PAGE}"' in html
    page = tech_client.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Import an inventory</h1>" in html
    assert "parent_barcode" in html  # the columns are documented on the page
    assert form_posting_to(html, PAGE)["csrf_token"]


def test_preview_then_apply_imports_every_tube(tech_client, clinic, boxes):
    content = inventory_file("A1", "A02", "B3")
    preview = check(tech_client, content)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    words = text_of(html)
    assert "Ready to import" in words and "3 lines" in words and "3 new IDs to label" in words
    assert html.count('class="outcome-ok"') == 3
    assert "Goes into Freezer 1 › Shelf 1 › Box 1 › A2." in html
    assert stored_count() == 0

    apply = form_posting_to(html, f"{PAGE}/apply")
    assert base64.b64decode(apply["kept"]) == content
    assert apply["filename"] == "inventory.csv"
    assert apply["checked"] == hashlib.sha256(content).hexdigest()
    applied = tech_client.post(f"{PAGE}/apply", data=apply)
    html = applied.get_data(as_text=True)
    assert applied.status_code == 200
    words = text_of(html)
    assert "Imported 3 tubes from inventory.csv. 3 got a new ID: label them" in words
    assert f"{PAGE}/apply" not in html  # nothing left to apply
    db.session.expire_all()
    samples = db.session.scalars(sa.select(Sample).order_by(Sample.id)).all()
    assert [s.position.label for s in samples] == ["A1", "A2", "B3"]
    assert {s.status for s in samples} == {SampleStatus.STORED}
    for sample in samples:  # every new ID is on the page, to label the tubes
        assert sample.barcode in html and ids.is_valid(sample.barcode)

    page = tech_client.get(f"/samples/{samples[0].barcode}")  # an imported tube's own page
    assert page.status_code == 200 and "Box 1" in page.get_data(as_text=True)

    again = tech_client.post(f"{PAGE}/apply", data=apply)  # sent twice: refused, nothing written
    assert again.status_code == 409
    assert "holds tube" in again.get_data(as_text=True)
    assert stored_count() == 3


def test_a_file_with_errors_lists_them_and_offers_no_apply(tech_client, clinic, boxes):
    content = inventory_file("A1", "A2") + b",NOPE9,UCSD-01,Freezer 1,Box 1,Z99\n"
    preview = check(tech_client, content)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "The file has errors" in html and "Nothing is imported until every line" in html
    assert html.count('class="outcome-error"') == 1 and 'class="outcome-ok"' not in html
    assert "tube_type: &#39;NOPE9&#39; is not a tube type in the catalogue." in html
    assert "position: Z99 is outside box" in html
    assert f"{PAGE}/apply" not in html

    refused = tech_client.post(
        f"{PAGE}/apply",
        data={
            "csrf_token": token(tech_client),
            "kept": base64.b64encode(content).decode(),
            "filename": "inventory.csv",
        },
    )
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "Nothing was imported: 1 line of the file has errors." in html
    assert 'class="outcome-error"' in html
    assert stored_count() == 0


def test_an_unreadable_file_is_refused_beside_the_file_field(tech_client, boxes):
    binary = check(tech_client, b"\x00\x01\x02", "inventory.xlsx")
    assert binary.status_code == 422
    html = binary.get_data(as_text=True)
    assert "This is not a text file" in error_beside(html, "inventory-file")
    no_file = tech_client.post(PAGE, data={"csrf_token": token(tech_client)})
    assert no_file.status_code == 422
    assert "Choose the inventory file" in error_beside(
        no_file.get_data(as_text=True), "inventory-file"
    )
    nothing_kept = tech_client.post(f"{PAGE}/apply", data={"csrf_token": token(tech_client)})
    assert nothing_kept.status_code == 422
    assert "Upload the inventory file again: nothing was imported." in text_of(
        nothing_kept.get_data(as_text=True)
    )


def test_a_file_chosen_again_must_be_the_one_checked(tech_client, clinic, boxes):
    checked, other = inventory_file("A1"), inventory_file("A2")
    response = tech_client.post(
        f"{PAGE}/apply",
        data={
            "csrf_token": token(tech_client),
            "kept": "",
            "filename": "inventory.csv",
            "checked": hashlib.sha256(checked).hexdigest(),
            "file": (io.BytesIO(other), "inventory.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "not the file that was checked" in error_beside(
        response.get_data(as_text=True), "inventory-file"
    )
    assert stored_count() == 0


def test_every_form_needs_its_csrf_token(tech_client, clinic, boxes):
    html = check(tech_client, inventory_file("A1")).get_data(as_text=True)
    posting = [form for form in forms_on(html) if form["method"] == "post"]
    assert {form["action"] for form in posting} >= {PAGE, f"{PAGE}/apply"}
    assert all(form["fields"].get("csrf_token") for form in posting)
    apply = form_posting_to(html, f"{PAGE}/apply")
    del apply["csrf_token"]
    assert tech_client.post(f"{PAGE}/apply", data=apply).status_code == 400
    no_token = tech_client.post(
        PAGE,
        data={"file": (io.BytesIO(inventory_file("A1")), "inventory.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400
    assert stored_count() == 0


def test_a_collector_may_not_import(collector, login, boxes):
    client = login(collector)
    assert client.get(PAGE).status_code == 403
    assert 'href="/storage/inventory"' not in client.get("/storage/").get_data(as_text=True)
    csrf = csrf_token_from(client.get("/scan").get_data(as_text=True))
    response = client.post(
        PAGE,
        data={"csrf_token": csrf, "file": (io.BytesIO(inventory_file("A1")), "inventory.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert stored_count() == 0


def test_an_imported_collection_has_its_page(technician, coordinator, login, clinic, boxes):
    content = (
        b"tube_type,participant_id,collection_site,collected_at,freezer,box,position\n"
        b"1SST8,P000000123,UCSD-01,2024-02-01T08:00:00-08:00,Freezer 1,Box 1,A1\n"
    )
    with unit_of_work():
        importer.import_inventory(technician, content, apply=True)
    collection = db.session.scalar(sa.select(Collection))
    page = login(coordinator).get(f"/collections/{collection.id}")
    assert page.status_code == 200
    assert "P000000123" in page.get_data(as_text=True)

"""The freezer-storage pages over HTTP: building the tree through the forms, a box drawn as its
grid, storing, rack-scanner import, occupancy and warnings, and who may do what."""

from __future__ import annotations

import base64
import io
import re

import pytest

from biobank.extensions import db
from biobank.models import Container, ContainerKind, SampleStatus, StoragePosition
from biobank.services.storage import box_positions, freezer_tree, placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import csrf_token_from
from tests.web.test_collections import form_posting_to, forms_on


def text_of(html: str) -> str:
    """The page's words as a person reads them: tags gone, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def error_beside(html: str, field_id: str) -> str:
    return html.split(f'id="{field_id}-error">', 1)[1].split("</p>", 1)[0]


def fill(box: Container, count: int) -> None:
    """Reserve the first ``count`` positions of a box, row by row (no tubes needed)."""
    with unit_of_work():
        for index in range(count):
            db.session.add(
                StoragePosition(box_id=box.id, row=index // box.cols + 1, col=index % box.cols + 1)
            )


def store(technician, box, sample, position=None):
    with unit_of_work():
        return placing.store_sample(technician, box, sample.barcode, position)


@pytest.fixture
def tech_client(technician, login):
    return login(technician)


def token(client, path="/storage/") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


# --- building the tree --------------------------------------------------------------------------


def test_a_technician_adds_a_freezer_a_shelf_and_a_box_through_the_forms(tech_client):
    page = tech_client.get("/storage/")
    assert page.status_code == 200
    assert "No freezers here yet." in page.get_data(as_text=True)
    csrf = csrf_token_from(page.get_data(as_text=True))

    added = tech_client.post(
        "/storage/freezers", data={"csrf_token": csrf, "name": "Freezer 9", "temperature_c": "-80"}
    )
    assert added.status_code == 302
    freezer = db.session.scalar(db.select(Container).where(Container.name == "Freezer 9"))
    assert added.headers["Location"] == f"/storage/freezers/{freezer.id}"
    html = tech_client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Freezer Freezer 9 added at MAYO-BB" in html

    shelf = tech_client.post(
        f"/storage/freezers/{freezer.id}/containers",
        data={"csrf_token": csrf, "parent": freezer.id, "kind": "shelf", "name": "Shelf A"},
    )
    assert shelf.status_code == 302
    shelf_row = db.session.scalar(db.select(Container).where(Container.name == "Shelf A"))
    assert shelf.headers["Location"].endswith(f"#container-{shelf_row.id}")

    html = tech_client.get(f"/storage/freezers/{freezer.id}").get_data(as_text=True)
    assert form_posting_to(html, f"/storage/freezers/{freezer.id}/containers")["size"] == "9x9"
    box = tech_client.post(
        f"/storage/freezers/{freezer.id}/containers",
        data={
            "csrf_token": csrf,
            "parent": shelf_row.id,
            "kind": "box",
            "name": "Serum 1",
            "size": "8x12",
            "allowed_specimens": ["serum", "plasma"],
        },
    )
    assert box.status_code == 302
    made = db.session.scalar(db.select(Container).where(Container.name == "Serum 1"))
    assert box.headers["Location"] == f"/storage/boxes/{made.id}"
    assert (made.rows, made.cols, made.allowed_specimens) == (8, 12, "plasma serum")
    assert made.barcode.startswith("BX")


def test_bad_input_is_shown_beside_its_field_and_kept(tech_client, freezer):
    csrf = token(tech_client)
    nameless = tech_client.post(
        "/storage/freezers", data={"csrf_token": csrf, "name": " ", "temperature_c": "-80"}
    )
    html = nameless.get_data(as_text=True)
    assert nameless.status_code == 422
    assert "Give a name of 1 to 100 characters." in error_beside(html, "freezer-name")

    warm = tech_client.post(
        "/storage/freezers", data={"csrf_token": csrf, "name": "Freezer 2", "temperature_c": "40"}
    )
    html = warm.get_data(as_text=True)
    assert warm.status_code == 422
    assert "A set temperature is -200 to 25 °C." in error_beside(html, "freezer-temperature")
    assert 'value="Freezer 2"' in html and 'value="40"' in html

    too_tall = tech_client.post(
        f"/storage/freezers/{freezer.id}/containers",
        data={
            "csrf_token": csrf,
            "parent": freezer.id,
            "kind": "box",
            "name": "Odd box",
            "size": "custom",
            "rows": "30",
            "cols": "5",
        },
    )
    html = too_tall.get_data(as_text=True)
    assert too_tall.status_code == 422
    assert "A box has 1 to 26 rows (A to Z)." in error_beside(html, "add-rows")
    assert 'value="Odd box"' in html and 'value="30"' in html


def test_a_name_taken_at_that_level_is_a_conflict_shown_on_top(tech_client, freezer):
    response = tech_client.post(
        "/storage/freezers",
        data={"csrf_token": token(tech_client), "name": "Freezer 1", "temperature_c": "-80"},
    )
    assert response.status_code == 409
    assert 'class="flash flash-error" role="alert">MAYO-BB has a freezer named' in (
        response.get_data(as_text=True)
    )


def test_rename_and_deactivate_only_when_empty(
    tech_client, technician, collector, boxes, received_tubes
):
    csrf = token(tech_client)
    shelf = boxes[0].parent
    renamed = tech_client.post(
        f"/storage/containers/{shelf.id}/rename", data={"csrf_token": csrf, "name": "Top shelf"}
    )
    assert renamed.status_code == 302
    assert renamed.headers["Location"].endswith(f"#container-{shelf.id}")

    store(technician, boxes[0], received_tubes(collector)[0])
    refused = tech_client.post(
        f"/storage/containers/{boxes[0].id}/deactivate", data={"csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert "still holds 1 tube(s): move them out before deactivating it." in (
        refused.get_data(as_text=True)
    )
    done = tech_client.post(
        f"/storage/containers/{boxes[1].id}/deactivate", data={"csrf_token": csrf}
    )
    assert done.status_code == 302
    html = tech_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "deactivated" in html
    assert 'id="store-form"' not in html  # nothing more goes into it


# --- a box drawn as its grid --------------------------------------------------------------------


def test_the_box_page_draws_every_position_with_an_accessible_name(
    tech_client, technician, collector, boxes, received_tubes
):
    sst = next(t for t in received_tubes(collector) if t.tube_type.code == "1SST8")
    store(technician, boxes[0], sst, "B3")
    fill_reserved = StoragePosition(box_id=boxes[0].id, row=3, col=2)
    with unit_of_work():
        db.session.add(fill_reserved)

    response = tech_client.get(f"/storage/boxes/{boxes[0].id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    labels = re.findall(r'aria-label="([A-I]\d), ([^"]+)"', html)
    assert len(labels) == 81
    assert labels[0] == ("A1", "empty") and labels[-1] == ("I9", "empty")
    assert ("B3", f"1SST8 {sst.display_barcode}") in labels
    assert ("C2", "reserved") in labels
    assert f'href="/samples/{sst.barcode}"' in html
    # the first free position is where the next scan goes, in the grid and in the form
    assert re.search(
        r'class="cell empty target"[^>]*aria-label="A1, empty" aria-pressed="true"', html
    )
    assert form_posting_to(html, f"/storage/boxes/{boxes[0].id}/store")["position"] == "A1"
    assert "Freezer 1 › Shelf 1 › Box 1" in html
    assert "2 / 81" in text_of(html)  # a reservation takes room too


def test_each_cell_shows_its_tubes_flags_and_thaws(
    tech_client, technician, collector, boxes, received_tubes
):
    from biobank.models import FlagKind
    from biobank.services.core import samples
    from biobank.services.storage import lifecycle

    flagged, thawed, plain = received_tubes(collector)[:3]
    for tube, where in ((flagged, "A1"), (thawed, "A2"), (plain, "A3")):
        store(technician, boxes[0], tube, where)
    with unit_of_work():
        for kind in (FlagKind.DAMAGED, FlagKind.UNEXPECTED):
            samples.add_flag(flagged, kind, actor=technician, note="seen at receipt")
        lifecycle.thaw(technician, thawed.barcode)
        lifecycle.thaw(technician, thawed.barcode)
    grid = box_positions.box_grid(boxes[0])
    assert (grid[0][0].flags, grid[0][0].thaws) == (("damaged", "unexpected"), 0)
    assert (grid[0][1].flags, grid[0][1].thaws) == ((), 2)
    assert (grid[0][2].flags, grid[0][2].thaws) == ((), 0)

    html = tech_client.get(f"/storage/boxes/{boxes[0].id}").get_data(as_text=True)
    labels = dict(re.findall(r'aria-label="([A-I]\d), ([^"]+)"', html))
    assert (
        labels["A1"] == f"{flagged.tube_type.code} {flagged.display_barcode}, damaged, unexpected"
    )
    assert labels["A2"] == f"{thawed.tube_type.code} {thawed.display_barcode}, thawed 2 times"
    assert labels["A3"] == f"{plain.tube_type.code} {plain.display_barcode}"
    cell = html.split('aria-label="A1, ', 1)[1].split("</a>", 1)[0]
    assert "<abbr>DMG</abbr><abbr>UNX</abbr>" in cell
    assert "<abbr>❄2</abbr>" in html.split('aria-label="A2, ', 1)[1].split("</a>", 1)[0]
    legend = text_of(html.split('class="muted small box-legend"', 1)[1].split("</p>", 1)[0])
    assert "DMG damaged" in legend and "UNX unexpected" in legend and "thawed n times" in legend


def test_the_grid_alone_is_served_for_redrawing_after_a_scan(tech_client, boxes):
    response = tech_client.get(f"/storage/boxes/{boxes[0].id}/contents")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.count('class="cell empty') == 81
    assert 'data-target="A1"' in html


def test_a_restricted_box_says_which_specimens_it_takes(tech_client, technician, freezer):
    with unit_of_work():
        box = freezer_tree.create_container(
            technician,
            parent_id=freezer.id,
            kind="box",
            name="Urine box",
            rows=10,
            cols=10,
            allowed_specimens=["urine"],
        )
    html = tech_client.get(f"/storage/boxes/{box.id}").get_data(as_text=True)
    assert "takes urine only" in html
    assert "urine only" in text_of(html.split("<dt>Takes</dt>", 1)[1])
    freezer_page = tech_client.get(f"/storage/freezers/{freezer.id}").get_data(as_text=True)
    assert "takes urine only" in freezer_page


def test_storing_through_the_form_and_its_refusals(
    tech_client, technician, collector, boxes, received_tubes, dispatched_shipment
):
    tubes = received_tubes(collector)
    path = f"/storage/boxes/{boxes[0].id}/store"
    csrf = token(tech_client, f"/storage/boxes/{boxes[0].id}")
    stored = tech_client.post(path, data={"csrf_token": csrf, "barcode": tubes[0].barcode.lower()})
    assert stored.status_code == 302
    html = tech_client.get(stored.headers["Location"]).get_data(as_text=True)
    assert f"Stored {tubes[0].tube_type.code} {tubes[0].display_barcode} in A1." in html
    assert form_posting_to(html, path)["position"] == "A2"

    taken = tech_client.post(
        path, data={"csrf_token": csrf, "barcode": tubes[1].barcode, "position": "A1"}
    )
    html = taken.get_data(as_text=True)
    assert taken.status_code == 409
    assert "A1 in box Box 1 is taken; the next free position is A2." in html
    assert form_posting_to(html, path)["barcode"] == tubes[1].barcode

    outside = tech_client.post(
        path, data={"csrf_token": csrf, "barcode": tubes[1].barcode, "position": "K1"}
    )
    assert outside.status_code == 422
    assert "is outside box Box 1" in error_beside(outside.get_data(as_text=True), "store-position")

    in_transit = dispatched_shipment(collector, participant_id="P222222222").items[0].sample
    refused = tech_client.post(path, data={"csrf_token": csrf, "barcode": in_transit.barcode})
    assert refused.status_code == 409
    assert "is in transit: only received tubes are stored." in refused.get_data(as_text=True)


# --- a freezer: occupancy and warnings ----------------------------------------------------------


def test_the_freezer_page_shows_occupancy_and_warns_of_full_boxes(tech_client, freezer, boxes):
    fill(boxes[0], 81)
    fill(boxes[1], 73)  # 90 %
    html = tech_client.get(f"/storage/freezers/{freezer.id}").get_data(as_text=True)
    words = text_of(html)
    assert "Full: Box 1 (81 / 81)" in words
    assert "Nearly full: Box 2 (8 free of 81)" in words
    assert 'max="81" value="81"' in html and 'max="81" value="73"' in html
    assert 'max="162" value="154"' in html  # the shelf and the freezer add their boxes up
    assert f'href="/storage/boxes/{boxes[0].id}"' in html

    listing = text_of(tech_client.get("/storage/").get_data(as_text=True))
    assert "Freezer 1" in listing and "154 / 162 (95 %)" in listing


def test_a_box_barcode_scanned_on_the_start_page_opens_the_box(tech_client, boxes):
    found = tech_client.get(f"/storage/find?barcode={boxes[1].barcode.lower()}")
    assert found.status_code == 302
    assert found.headers["Location"] == f"/storage/boxes/{boxes[1].id}"
    wrong = tech_client.get("/storage/find?barcode=7KQ2M9XD3E")
    assert wrong.status_code == 422
    assert "is not a box barcode (BX…)" in error_beside(wrong.get_data(as_text=True), "box-barcode")


# --- rack-scanner import ----------------------------------------------------------------------


def rack_file(tubes, start_col: int = 1) -> bytes:
    lines = ["Tube Position,Tube Barcode"]
    lines += [f"A{start_col + i:02d},{t.barcode}" for i, t in enumerate(tubes)]
    return "\n".join(lines).encode()


def test_rack_scan_preview_then_apply_stores_every_tube(
    tech_client, technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    page = f"/storage/boxes/{boxes[0].id}"
    csrf = token(tech_client, page)
    preview = tech_client.post(
        f"{page}/rack-scan",
        data={"csrf_token": csrf, "file": (io.BytesIO(rack_file(tubes)), "rack.csv")},
        content_type="multipart/form-data",
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "8 to place" in text_of(html)
    assert html.count('class="outcome-placed"') == 8
    assert f"{tubes[0].display_barcode} goes into A1." in html
    assert db.session.scalar(db.select(db.func.count(StoragePosition.id))) == 0

    apply = form_posting_to(html, f"{page}/rack-scan/apply")
    assert base64.b64decode(apply["kept"]) == rack_file(tubes)
    assert apply["filename"] == "rack.csv"
    applied = tech_client.post(f"{page}/rack-scan/apply", data=apply)
    assert applied.status_code == 302
    assert "Stored 8 tubes from rack.csv." in tech_client.get(page).get_data(as_text=True)
    db.session.expire_all()
    assert {t.status for t in tubes} == {SampleStatus.STORED}
    assert tubes[7].position.label == "A8"


def test_a_refused_apply_shows_the_report_again_and_stores_nothing(
    tech_client, technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    store(technician, boxes[0], tubes[0], "A1")  # the file says another tube is in A1
    page = f"/storage/boxes/{boxes[0].id}"
    content = rack_file(tubes[1:3])
    response = tech_client.post(
        f"{page}/rack-scan/apply",
        data={
            "csrf_token": token(tech_client, page),
            "kept": base64.b64encode(content).decode(),
            "filename": "rack.csv",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was stored: the rack does not match" in html
    assert f"A1 should hold {tubes[0].display_barcode}, not {tubes[1].display_barcode}." in html
    assert 'class="outcome-differs"' in html
    assert f"{page}/rack-scan/apply" not in html  # no "Apply" for a rack that does not match
    db.session.expire_all()
    assert tubes[1].status == SampleStatus.RECEIVED


def test_a_file_that_is_not_a_rack_scan_is_refused_beside_the_file_field(tech_client, boxes):
    page = f"/storage/boxes/{boxes[0].id}"
    response = tech_client.post(
        f"{page}/rack-scan",
        data={"csrf_token": token(tech_client, page), "file": (io.BytesIO(b"\x00\x01"), "x.bin")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "This is not a text file" in error_beside(response.get_data(as_text=True), "rack-file")
    no_file = tech_client.post(f"{page}/rack-scan", data={"csrf_token": token(tech_client, page)})
    assert no_file.status_code == 422
    assert "Choose the rack-scanner file" in error_beside(
        no_file.get_data(as_text=True), "rack-file"
    )


def test_the_preview_says_two_tubes_were_read_in_one_well(
    tech_client, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    page = f"/storage/boxes/{boxes[0].id}"
    content = rack_file(tubes[:2]) + f"\nA01,{tubes[2].barcode}".encode()
    response = tech_client.post(
        f"{page}/rack-scan",
        data={"csrf_token": token(tech_client, page), "file": (io.BytesIO(content), "rack.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    shown = error_beside(response.get_data(as_text=True), "rack-file")
    assert (
        f"Line 4: two tubes read in A1 ({tubes[0].barcode} on line 2, {tubes[2].barcode} on "
        "line 4)" in shown
    )
    assert f"{page}/rack-scan/apply" not in response.get_data(as_text=True)


# --- who may do what ------------------------------------------------------------------------------


def test_a_collector_may_not_change_storage(collector, login, boxes, freezer):
    client = login(collector)
    csrf = token(client, "/")
    assert (
        client.post(
            "/storage/freezers", data={"csrf_token": csrf, "name": "Mine", "temperature_c": "-20"}
        ).status_code
        == 403
    )
    # another site's box is not there at all for a clinic
    assert client.get(f"/storage/boxes/{boxes[0].id}").status_code == 404
    assert (
        client.post(
            f"/storage/boxes/{boxes[0].id}/store", data={"csrf_token": csrf, "barcode": "x"}
        ).status_code
        == 404
    )


def test_a_coordinator_reads_every_sites_storage_without_the_controls(coordinator, login, boxes):
    client = login(coordinator)
    html = client.get(f"/storage/boxes/{boxes[0].id}").get_data(as_text=True)
    assert 'aria-label="A1, empty"' in html
    assert 'id="store-form"' not in html and "rack-scan" not in html and "Deactivate" not in html
    listing = client.get("/storage/").get_data(as_text=True)
    assert "MAYO-BB" in listing and "Add a freezer" not in listing


def test_an_admin_manages_but_does_not_store(admin, login, boxes, make_site):
    from biobank.models import SiteKind

    make_site("BROAD-BB", SiteKind.BIOBANK, "America/New_York")
    client = login(admin)
    html = client.get(f"/storage/boxes/{boxes[0].id}").get_data(as_text=True)
    assert 'id="store-form"' not in html
    assert "Deactivate box" in html

    # an admin adds freezers at any biobank, their own chosen by default
    listing = client.get("/storage/").get_data(as_text=True)
    assert form_posting_to(listing, "/storage/freezers")["site"] == "MAYO-BB"
    added = client.post(
        "/storage/freezers",
        data={
            "csrf_token": csrf_token_from(listing),
            "name": "Freezer A",
            "temperature_c": "-150",
            "site": "BROAD-BB",
        },
    )
    assert added.status_code == 302
    assert "added at BROAD-BB" in client.get(added.headers["Location"]).get_data(as_text=True)


def test_the_navigation_offers_storage_and_finding_a_tube_by_role(
    technician, collector, coordinator, admin, login, client
):
    expected = {
        technician: (True, True),
        admin: (True, False),
        coordinator: (True, True),
        collector: (False, True),
    }
    for user, (storage_link, find_link) in expected.items():
        html = login(user).get("/").get_data(as_text=True)
        assert ('href="/storage/"' in html) is storage_link, user.role
        assert ('href="/samples/"' in html) is find_link, user.role
        client.post("/logout", data={"csrf_token": csrf_token_from(html)})


def test_every_post_form_on_every_storage_page_carries_a_csrf_token(
    tech_client, technician, collector, freezer, boxes, received_tubes
):
    tubes = received_tubes(collector)
    store(technician, boxes[0], tubes[0])
    page = f"/storage/boxes/{boxes[0].id}"
    preview = tech_client.post(
        f"{page}/rack-scan",
        data={
            "csrf_token": token(tech_client, page),
            "file": (io.BytesIO(rack_file(tubes[1:])), "r.csv"),
        },
        content_type="multipart/form-data",
    )
    pages = [tech_client.get(p) for p in ("/storage/", f"/storage/freezers/{freezer.id}", page)]
    checked = 0
    for response in [*pages, preview]:
        for form in forms_on(response.get_data(as_text=True)):
            if form["method"] == "post":
                assert form["fields"].get("csrf_token"), (response.request.path, form["action"])
                checked += 1
    assert checked >= 10


def test_storage_needs_a_login(client, boxes):
    for path in ("/storage/", f"/storage/boxes/{boxes[0].id}", "/samples/"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_shelf_is_not_a_freezer_page(tech_client, boxes):
    assert tech_client.get(f"/storage/freezers/{boxes[0].parent_id}").status_code == 404
    assert tech_client.get(f"/storage/boxes/{boxes[0].parent_id}").status_code == 404
    assert boxes[0].parent.kind == ContainerKind.SHELF


def test_a_box_label_prints_from_the_box_page_and_scans_back_to_the_box(tech_client, boxes):
    import zxingcpp

    from tests import decoding

    page = tech_client.get(f"/storage/boxes/{boxes[0].id}").get_data(as_text=True)
    assert f'href="/storage/boxes/{boxes[0].id}/label.pdf"' in page
    response = tech_client.get(f"/storage/boxes/{boxes[0].id}/label.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    [label] = decoding.rasterize(response.data, dpi=300)
    assert decoding.decode(label) == [(zxingcpp.BarcodeFormat.Code128, boxes[0].barcode)]
    assert "Freezer 1 › Shelf 1 › Box 1" in decoding.pdf_text(response.data)


def test_a_box_label_with_a_place_longer_than_the_label_is_shortened_not_refused(
    tech_client, technician, boxes
):
    import zxingcpp

    from tests import decoding

    freezer_name = "Upright freezer in the basement corridor next to the loading dock, " * 2
    box_name = "Aliquots of the longitudinal cohort, pilot study, second visit (2026)"
    with unit_of_work():
        freezer_tree.rename_container(technician, boxes[0].parent.parent, freezer_name[:100])
        freezer_tree.rename_container(technician, boxes[0].parent, "S" * 100)
        freezer_tree.rename_container(technician, boxes[0], box_name)
    assert len(freezer_tree.path_text(boxes[0])) > 250  # far more than a label's line
    response = tech_client.get(f"/storage/boxes/{boxes[0].id}/label.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    [label] = decoding.rasterize(response.data, dpi=300)
    assert decoding.decode(label) == [(zxingcpp.BarcodeFormat.Code128, boxes[0].barcode)]
    shown = decoding.pdf_text(response.data)
    assert "".join(box_name.split()) in "".join(shown.split())
    assert "…" in shown and boxes[0].barcode in shown

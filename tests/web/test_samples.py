"""A tube's page over HTTP: where it is, where it came from, its chain of custody, and each
thing a technician does to it (with the services' refusals beside the fields)."""

from __future__ import annotations

import pytest

from biobank.extensions import db
from biobank.models import FlagKind, Sample, SampleStatus
from biobank.services.core import samples
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from
from tests.web.test_collections import form_posting_to, forms_on
from tests.web.test_storage import error_beside, text_of


@pytest.fixture
def tech_client(technician, login):
    return login(technician)


@pytest.fixture
def stored_sst(technician, collector, boxes, received_tubes) -> Sample:
    """The SST of a received collection, stored in Box 1 at A1."""
    sst = next(t for t in received_tubes(collector) if t.tube_type.code == "1SST8")
    with unit_of_work():
        placing.store_sample(technician, boxes[0], sst.barcode, "A1")
    return sst


def page_of(client, sample) -> tuple[str, str]:
    html = client.get(f"/samples/{sample.barcode}").get_data(as_text=True)
    return html, csrf_token_from(html)


def post_on_page(client, sample, action: str, **data):
    _, token = page_of(client, sample)
    signed = {"signature_password": PASSWORD} if action == "dispose" else {}  # signed form
    return client.post(
        f"/samples/{sample.barcode}/{action}", data={"csrf_token": token, **signed, **data}
    )


def fresh(sample: Sample) -> Sample:
    db.session.expire_all()
    return db.session.get(Sample, sample.id)


# --- finding a tube -----------------------------------------------------------------------------


def test_a_scanned_id_opens_the_tube_however_it_was_typed(tech_client, stored_sst):
    typed = stored_sst.display_barcode.lower()
    found = tech_client.get(f"/samples/?barcode={typed}")
    assert found.status_code == 302
    assert found.headers["Location"] == f"/samples/{stored_sst.barcode}"
    # a hyphenated address goes to the one address of the tube
    again = tech_client.get(f"/samples/{stored_sst.display_barcode}")
    assert (
        again.status_code == 302 and again.headers["Location"] == f"/samples/{stored_sst.barcode}"
    )


def test_a_mistyped_id_is_explained_beside_the_scan_field(tech_client):
    start = tech_client.get("/samples/")
    assert start.status_code == 200 and "data-scan" in start.get_data(as_text=True)
    response = tech_client.get("/samples/?barcode=7KQ2M-9XD3F")
    assert response.status_code == 422
    assert "its check character is F but should be E" in error_beside(
        response.get_data(as_text=True), "tube-barcode"
    )


# --- what the page shows ------------------------------------------------------------------------


def test_the_page_shows_the_tube_its_path_and_its_flags(tech_client, technician, stored_sst, boxes):
    with unit_of_work():
        samples.add_flag(stored_sst, FlagKind.HAEMOLYSED, actor=technician, note="pink serum")
    html, _ = page_of(tech_client, stored_sst)
    words = text_of(html)
    assert f"1SST8 {stored_sst.display_barcode}" in words
    assert "Freezer 1 › Shelf 1 › Box 1 › A1" in words
    assert f'<a href="/storage/boxes/{boxes[0].id}">Box 1</a>' in html
    assert "serum" in words and "UCSD-01" in words and "now with MAYO-BB" in words
    assert "8 mL" in words
    assert '<li class="badge warn" title="pink serum">haemolysed</li>' in html
    assert "stored" in html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_the_chain_of_custody_is_shown_oldest_first_in_site_time(tech_client, stored_sst):
    html, _ = page_of(tech_client, stored_sst)
    timeline = text_of(html.split('class="timeline"', 1)[1].split("</ol>", 1)[0])
    order = [
        "Created",
        "Collected",
        "Processed",
        "Finalized",
        "Packed",
        "Dispatched",
        "Received",
        "Stored",
    ]
    positions = [timeline.index(what) for what in order]
    assert positions == sorted(positions)
    assert "where Freezer 1 › Shelf 1 › Box 1 › A1" in timeline
    assert "Technician · MAYO-BB" in timeline
    assert "CST" in timeline or "CDT" in timeline  # the biobank's zone (Chicago)
    assert "PST" in timeline or "PDT" in timeline  # the clinic's zone (Los Angeles)


def test_the_collection_is_linked_only_for_those_who_may_see_it(
    tech_client, coordinator, login, stored_sst, client
):
    collection_id = stored_sst.collection_id
    html, _ = page_of(tech_client, stored_sst)
    assert f'href="/collections/{collection_id}"' not in html
    assert f"#{collection_id} (UCSD-01)" in text_of(html)
    client.post("/logout", data={"csrf_token": csrf_token_from(html)})
    html = login(coordinator).get(f"/samples/{stored_sst.barcode}").get_data(as_text=True)
    assert f'href="/collections/{collection_id}"' in html
    assert "Check out" not in html  # coordinators read; technicians handle


# --- what a technician does to it ------------------------------------------------------------


def test_aliquoting_through_the_page_shows_the_tree_and_offers_their_labels(
    tech_client, stored_sst
):
    refused = post_on_page(tech_client, stored_sst, "aliquot", count="2", volume_ml="5")
    assert refused.status_code == 422
    assert "holds only 8 mL" in error_beside(refused.get_data(as_text=True), "aliquot-volume")
    assert 'value="5"' in refused.get_data(as_text=True)

    made = post_on_page(tech_client, stored_sst, "aliquot", count="3", volume_ml="1.5")
    assert made.status_code == 302
    children = fresh(stored_sst).children
    assert len(children) == 3
    assert made.headers["Location"].endswith("#aliquots")
    html = tech_client.get(made.headers["Location"]).get_data(as_text=True)
    assert "3 aliquots of 1SST8" in html
    tree = html.split('class="aliquot-tree"', 1)[1].split("</ul>\n", 1)[0]
    for child in children:
        assert f'href="/samples/{child.barcode}"' in tree
    assert "3.5 mL" in text_of(html)  # 8 - 3 x 1.5 left in the parent

    labels = form_posting_to(html, f"/samples/{stored_sst.barcode}/aliquot-labels.pdf")
    assert labels["barcodes"]  # the new aliquots are ticked
    printed = tech_client.post(
        f"/samples/{stored_sst.barcode}/aliquot-labels.pdf",
        data={**labels, "barcodes": [c.barcode for c in children]},
    )
    assert printed.status_code == 200
    assert printed.mimetype == "application/pdf" and printed.data.startswith(b"%PDF")
    assert "attachment" in printed.headers["Content-Disposition"]
    assert printed.headers["X-Label-Count"] == "3"

    # a child's page names its parent and shows the same tree
    child_page = tech_client.get(f"/samples/{children[0].barcode}").get_data(as_text=True)
    assert f'href="/samples/{stored_sst.barcode}"' in child_page
    assert "(this tube)" in child_page


def test_move_needs_a_box_then_moves(tech_client, stored_sst, boxes):
    html, _ = page_of(tech_client, stored_sst)
    move = form_posting_to(html, f"/samples/{stored_sst.barcode}/move")
    assert move["box_id"] == str(boxes[0].id)  # the box it is in, preselected

    nowhere = post_on_page(tech_client, stored_sst, "move", box_id="", position="B2")
    assert nowhere.status_code == 422
    assert "Choose a box, or scan its barcode." in error_beside(
        nowhere.get_data(as_text=True), "move-box-id"
    )
    bad_scan = post_on_page(tech_client, stored_sst, "move", box="BXNOPE", position="B2")
    assert bad_scan.status_code == 422
    assert "is not a box barcode" in error_beside(bad_scan.get_data(as_text=True), "move-box")

    moved = post_on_page(
        tech_client, stored_sst, "move", box=boxes[1].barcode.lower(), position="c4"
    )
    assert moved.status_code == 302
    html = tech_client.get(moved.headers["Location"]).get_data(as_text=True)
    assert "Freezer 1 › Shelf 1 › Box 2 › C4" in text_of(html)
    assert "Moved" in text_of(html.split('class="timeline"', 1)[1])


def test_check_out_thaw_and_check_in(tech_client, stored_sst):
    out = post_on_page(tech_client, stored_sst, "check-out", reason="assay run 42")
    assert out.status_code == 302
    assert fresh(stored_sst).status == SampleStatus.CHECKED_OUT
    html, _ = page_of(tech_client, stored_sst)
    assert "its position is held for its return" in html
    assert f'action="/samples/{stored_sst.barcode}/check-in"' in html

    assert post_on_page(tech_client, stored_sst, "thaw").status_code == 302
    assert fresh(stored_sst).freeze_thaw_count == 1

    back = post_on_page(tech_client, stored_sst, "check-in")
    assert back.status_code == 302
    assert fresh(stored_sst).status == SampleStatus.STORED
    twice = post_on_page(tech_client, stored_sst, "check-in")
    assert twice.status_code == 409
    assert "is not checked out." in twice.get_data(as_text=True)


@pytest.mark.parametrize(
    ("action", "refusal", "status"),
    [
        ("withdraw", "Give a reason to withdraw a tube.", SampleStatus.WITHDRAWN),
        ("dispose", "Give a reason to dispose of a tube.", SampleStatus.DISPOSED),
    ],
)
def test_withdraw_and_dispose_need_a_reason(tech_client, stored_sst, action, refusal, status):
    refused = post_on_page(tech_client, stored_sst, action, reason=" ")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert refusal in error_beside(html, f"{action}-reason")
    assert '<details class="card danger-zone" open>' in html

    done = post_on_page(tech_client, stored_sst, action, reason="consent withdrawn")
    assert done.status_code == 302
    assert fresh(stored_sst).status == status
    html, _ = page_of(tech_client, stored_sst)
    assert "“consent withdrawn”" in html


def test_a_received_aliquot_is_stored_from_its_page(tech_client, technician, stored_sst, boxes):
    post_on_page(tech_client, stored_sst, "aliquot", count="1", volume_ml="1")
    child = fresh(stored_sst).children[0]
    response = post_on_page(tech_client, child, "store", box_id=str(boxes[1].id), position="")
    assert response.status_code == 302
    assert fresh(child).position.label == "A1"


# --- who sees and does what ---------------------------------------------------------------------


def test_another_sites_tube_is_not_found(collector, login, other_collector, start_collection):
    theirs = start_collection(other_collector).samples[0]
    client = login(collector)
    assert client.get(f"/samples/{theirs.barcode}").status_code == 404
    token = csrf_token_from(client.get("/samples/").get_data(as_text=True))
    response = client.post(f"/samples/{theirs.barcode}/thaw", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_collector_may_not_handle_tubes_at_the_biobank(collector, login, stored_sst):
    client = login(collector)
    html = client.get(f"/samples/{stored_sst.barcode}").get_data(as_text=True)
    assert "Freezer 1 › Shelf 1 › Box 1 › A1" in text_of(html)  # their own tube: readable
    assert 'href="/storage/' not in html  # but the biobank's storage pages are not theirs
    assert "Check out" not in html and "Withdraw" not in html
    token = csrf_token_from(html)
    for action, data in (("thaw", {}), ("withdraw", {"reason": "x"}), ("move", {"box": "x"})):
        response = client.post(
            f"/samples/{stored_sst.barcode}/{action}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 403, action


def test_every_post_form_on_a_tube_page_carries_a_csrf_token(tech_client, stored_sst):
    post_on_page(tech_client, stored_sst, "aliquot", count="2", volume_ml="1")
    refused = post_on_page(tech_client, stored_sst, "withdraw", reason="")
    pages = [tech_client.get(f"/samples/{stored_sst.barcode}"), refused]
    checked = 0
    for page in pages:
        for form in forms_on(page.get_data(as_text=True)):
            if form["method"] == "post":
                assert form["fields"].get("csrf_token"), form["action"]
                checked += 1
    assert checked >= 14


def test_quarantine_from_the_page_hides_the_actions_it_blocks_until_released(
    tech_client, stored_sst
):
    refused = post_on_page(tech_client, stored_sst, "quarantine", reason=" ")
    assert refused.status_code == 422
    assert "Give a reason to quarantine a tube." in error_beside(
        refused.get_data(as_text=True), "quarantine-reason"
    )
    held = post_on_page(tech_client, stored_sst, "quarantine", reason="freezer alarm overnight")
    assert held.status_code == 302
    assert FlagKind.QUARANTINED in {f.kind for f in fresh(stored_sst).flags}
    html, _ = page_of(tech_client, stored_sst)
    assert "Set aside: “freezer alarm overnight”" in html
    assert f'action="/samples/{stored_sst.barcode}/release"' in html
    for blocked in ("check-out", "aliquot", "quarantine"):
        assert f'action="/samples/{stored_sst.barcode}/{blocked}"' not in html
    # A page opened before the quarantine still posts: the service refuses, beside the form.
    stale = post_on_page(tech_client, stored_sst, "check-out", reason="assay")
    assert stale.status_code == 409
    assert "release it from quarantine on its page before checking it out" in stale.get_data(
        as_text=True
    )
    released = post_on_page(tech_client, stored_sst, "release", reason="probe was at -78 °C")
    assert released.status_code == 302
    html, _ = page_of(tech_client, stored_sst)
    assert f'action="/samples/{stored_sst.barcode}/check-out"' in html
    assert "“probe was at -78 °C”" in html

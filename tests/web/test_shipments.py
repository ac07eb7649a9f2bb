"""The shipment pages over HTTP: opening a shipment, packing through the page (the route a
browser without scripts uses; packing.js calls the API the page names), dispatch and cancel
with their errors beside the fields, the manifest, who may see and do what."""

from __future__ import annotations

import pytest

from biobank.extensions import db
from biobank.models import SampleStatus, Shipment, ShipmentStatus
from biobank.services.core import ids
from biobank.services.shipping import sending
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from
from tests.decoding import pdf_text
from tests.web.test_collections import form_posting_to, forms_on


def fresh(shipment_id: int) -> Shipment:
    """The shipment as stored now (the test shares the app's session)."""
    db.session.expire_all()
    return db.session.get(Shipment, shipment_id)


def open_shipment(actor, temperature: str = "refrigerated") -> Shipment:
    with unit_of_work():
        return sending.open_shipment(actor, destination="MAYO-BB", temperature=temperature)


def post_on_page(client, shipment: Shipment, path: str, **data):
    """POST a form of the shipment page with the page's CSRF token."""
    token = csrf_token_from(client.get(f"/shipments/{shipment.id}").get_data(as_text=True))
    # The dispatch form is signed with the user's password; a test may leave it out.
    signed = {"signature_password": PASSWORD} if path == "/dispatch" else {}
    return client.post(
        f"/shipments/{shipment.id}{path}", data={"csrf_token": token, **signed, **data}
    )


def error_beside(html: str, field_id: str) -> str:
    return html.split(f'id="{field_id}-error">', 1)[1].split("</p>", 1)[0]


@pytest.fixture
def collector_client(collector, login):
    return login(collector)


@pytest.fixture
def tubes(collector, finalized_collection):
    """Eight finalized tubes of the collector's clinic, ready to pack."""
    return [sample.barcode for sample in finalized_collection(collector).samples]


@pytest.fixture
def packing(collector, biobank_site) -> Shipment:
    return open_shipment(collector)


# --- opening a shipment -----------------------------------------------------------------------


def test_the_pages_need_a_login(client, packing):
    for path in ("/shipments", "/shipments/new", f"/shipments/{packing.id}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_a_collector_opens_a_shipment_and_lands_on_its_packing_page(collector_client, biobank_site):
    html = collector_client.get("/shipments/new").get_data(as_text=True)
    # One biobank: chosen already. Refrigerated is how the catalogue's tubes ship.
    assert form_posting_to(html, "/shipments/new") == {
        "csrf_token": csrf_token_from(html),
        "destination": "MAYO-BB",
        "temperature": "refrigerated",
    }
    response = collector_client.post(
        "/shipments/new",
        data={
            "csrf_token": csrf_token_from(html),
            "destination": "mayo-bb",
            "temperature": "frozen",
        },
    )
    assert response.status_code == 302
    shipment = db.session.scalar(db.select(Shipment))
    assert response.headers["Location"] == f"/shipments/{shipment.id}"
    assert (shipment.status, shipment.temperature, shipment.destination.code) == (
        ShipmentStatus.OPEN,
        "frozen",
        "MAYO-BB",
    )
    page = collector_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Shipment {shipment.manifest_number} to MAYO-BB is open" in page


def test_a_destination_that_is_not_a_biobank_is_shown_beside_the_picker(
    collector_client, biobank_site, other_clinic
):
    token = csrf_token_from(collector_client.get("/shipments/new").get_data(as_text=True))
    response = collector_client.post(
        "/shipments/new",
        data={"csrf_token": token, "destination": "BWH-01", "temperature": "ambient"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "BWH-01 is not a biobank" in error_beside(html, "destination")
    assert form_posting_to(html, "/shipments/new")["temperature"] == "ambient"
    assert db.session.scalar(db.select(db.func.count(Shipment.id))) == 0


@pytest.mark.parametrize("role", ["technician", "coordinator"])
def test_only_collectors_open_shipments(request, login, role, biobank_site):
    client = login(request.getfixturevalue(role))
    assert client.get("/shipments/new").status_code == 403
    token = csrf_token_from(client.get("/shipments").get_data(as_text=True))
    response = client.post(
        "/shipments/new",
        data={"csrf_token": token, "destination": "MAYO-BB", "temperature": "ambient"},
    )
    assert response.status_code == 403


# --- the packing page -------------------------------------------------------------------------


def test_the_packing_page_is_a_scan_field_wired_to_the_api(collector_client, packing):
    html = collector_client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    # scan.js: Enter in a data-scan-submit field submits the scan; packing.js sends it to the
    # API paths the page names, with the page's CSRF token from the meta tag.
    assert 'id="pack-barcode"' in html and "data-scan data-scan-submit" in html
    assert "autofocus" in html
    assert f'data-pack-url="/api/v1/shipments/{packing.id}/items"' in html
    assert f'data-unpack-url="/api/v1/shipments/{packing.id}/items/BARCODE"' in html
    assert '<meta name="csrf-token"' in html
    for script in ("scan.js", "scan-station.js", "packing.js"):
        assert f"/static/js/{script}" in html
    assert "/static/css/shipping.css" in html
    assert 'role="status"' in html and 'role="alert"' in html
    assert "<script>" not in html and " onclick=" not in html


def test_the_api_the_page_calls_accepts_its_session_and_csrf_token(
    collector_client, packing, tubes
):
    html = collector_client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    url = f"/api/v1/shipments/{packing.id}/items"
    refused = collector_client.post(url, json={"barcode": tubes[0]})
    assert refused.status_code == 401  # a session alone is not enough to write
    headers = {"X-CSRFToken": csrf_token_from(html)}
    added = collector_client.post(url, json={"barcode": tubes[0]}, headers=headers)
    assert added.status_code == 201 and added.get_json()["items"] == 1
    again = collector_client.post(url, json={"barcode": tubes[0]}, headers=headers)
    assert again.status_code == 200 and again.get_json()["added"] is False


def test_packing_through_the_page_adds_a_tube_once(collector_client, packing, tubes):
    response = post_on_page(collector_client, packing, "/items", barcode=tubes[0].lower())
    assert response.status_code == 302
    assert response.headers["Location"] == f"/shipments/{packing.id}"
    html = collector_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Added 1SST8" in html and "1 tube packed" in html
    assert f'data-barcode="{tubes[0]}"' in html

    post_on_page(collector_client, packing, "/items", barcode=tubes[0])
    html = collector_client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    assert "is in this shipment already" in html
    assert len(fresh(packing.id).items) == 1


def test_a_tube_of_another_clinic_is_refused_beside_the_scan_field(
    collector_client, packing, other_collector, finalized_collection
):
    theirs = finalized_collection(other_collector).samples[0]
    response = post_on_page(collector_client, packing, "/items", barcode=theirs.display_barcode)
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "is not a tube of UCSD-01" in error_beside(html, "pack-barcode")
    assert f'value="{theirs.display_barcode}"' in html  # the scan is kept to check it

    response = post_on_page(collector_client, packing, "/items", barcode="7KQ2M9XD3X")
    assert response.status_code == 422
    assert "check character" in error_beside(response.get_data(as_text=True), "pack-barcode")
    assert fresh(packing.id).items == []


def test_a_tube_not_yet_finalized_is_a_conflict_shown_on_top(
    collector, collector_client, packing, start_collection
):
    draft = start_collection(collector, "P987654321")
    response = post_on_page(collector_client, packing, "/items", barcode=draft.samples[0].barcode)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'class="flash flash-error" role="alert"' in html
    assert "finalize its collection first" in html


def test_removing_a_tube_takes_it_out(collector, collector_client, packing, tubes):
    with unit_of_work():
        sending.pack_sample(collector, packing, tubes[0])
        sending.pack_sample(collector, packing, tubes[1])
    response = post_on_page(collector_client, packing, f"/items/{tubes[0]}/remove")
    assert response.status_code == 302
    assert [item.sample.barcode for item in fresh(packing.id).items] == [tubes[1]]
    html = collector_client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    assert "Removed" in html and f'data-barcode="{tubes[0]}"' not in html


# --- dispatch and cancel ----------------------------------------------------------------------


def test_dispatch_errors_are_beside_each_field_with_the_input_kept(
    collector, collector_client, packing, tubes
):
    with unit_of_work():
        sending.pack_sample(collector, packing, tubes[0])
    response = post_on_page(
        collector_client, packing, "/dispatch", carrier="ups", tracking_number="1Z123"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "A UPS tracking number is 1Z" in error_beside(html, "dispatch-tracking")
    kept = form_posting_to(html, f"/shipments/{packing.id}/dispatch")
    assert (kept["carrier"], kept["tracking_number"]) == ("ups", "1Z123")
    # the other forms of the page come back blank
    assert form_posting_to(html, f"/shipments/{packing.id}/items")["barcode"] == ""

    response = post_on_page(collector_client, packing, "/dispatch", tracking_number="1")
    assert "Choose one of: fedex, ups, courier" in error_beside(
        response.get_data(as_text=True), "dispatch-carrier"
    )
    assert fresh(packing.id).status == ShipmentStatus.OPEN


def test_an_empty_shipment_cannot_be_dispatched(collector_client, packing):
    response = post_on_page(
        collector_client, packing, "/dispatch", carrier="fedex", tracking_number="123456789012"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="dispatch-errors"' in html and "The shipment is empty" in html


def test_dry_ice_is_asked_for_frozen_shipments_only(collector, collector_client, biobank_site):
    frozen, chilled = open_shipment(collector, "frozen"), open_shipment(collector)
    assert 'id="dispatch-dry-ice"' not in collector_client.get(f"/shipments/{chilled.id}").get_data(
        as_text=True
    )
    response = post_on_page(
        collector_client, frozen, "/dispatch", carrier="courier", tracking_number="RUN-1"
    )
    html = response.get_data(as_text=True)
    assert 'id="dispatch-dry-ice"' in html
    assert "travels on dry ice" in error_beside(html, "dispatch-dry-ice")


def test_dispatch_sends_every_tube_and_the_page_becomes_read_only(
    collector, collector_client, packing, tubes
):
    with unit_of_work():
        for barcode in tubes:
            sending.pack_sample(collector, packing, barcode)
    response = post_on_page(
        collector_client, packing, "/dispatch", carrier="FedEx", tracking_number="1234 5678 9012"
    )
    assert response.status_code == 302
    html = collector_client.get(response.headers["Location"]).get_data(as_text=True)
    shipment = fresh(packing.id)
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert {item.sample.status for item in shipment.items} == {SampleStatus.IN_TRANSIT}
    assert "on its way to MAYO-BB: 8 tubes in transit" in html
    assert "data-packing" not in html and "/dispatch" not in html
    assert "123456789012" in html and "FedEx" in html
    assert html.count("not scanned") == 8  # each tube with its (pending) receipt outcome
    assert f"/shipments/{packing.id}/manifest.pdf" in html


def test_a_shipment_past_packing_lists_its_tubes_a_page_at_a_time(
    monkeypatch, collector, collector_client, packing, tubes
):
    from biobank.web import shipments as shipment_pages

    with unit_of_work():
        for barcode in tubes:
            sending.pack_sample(collector, packing, barcode)
        sending.dispatch_shipment(
            collector,
            packing,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )
    monkeypatch.setattr(shipment_pages, "TUBES_PER_PAGE", 3)
    seen = []
    for page in (1, 2, 3):
        html = collector_client.get(f"/shipments/{packing.id}?page={page}").get_data(as_text=True)
        seen.append([barcode for barcode in tubes if ids.display(barcode) in html])
        assert f"Page {page} of 3 (8 tubes)" in html
        assert (f'href="/shipments/{packing.id}?page={page + 1}"' in html) == (page < 3)
        assert (f'href="/shipments/{packing.id}?page={page - 1}"' in html) == (page > 1)
    # In the order they were packed, each tube on exactly one page.
    assert seen == [tubes[:3], tubes[3:6], tubes[6:]]
    assert "Tubes (8 on the manifest)" in html


def test_cancel_needs_a_reason_then_cancels(collector_client, packing):
    response = post_on_page(collector_client, packing, "/cancel", reason="  ")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give a reason" in error_beside(html, "cancel-reason")
    assert '<details class="danger-zone" data-keeps-focus open>' in html

    response = post_on_page(collector_client, packing, "/cancel", reason="courier did not come")
    assert response.status_code == 302
    assert fresh(packing.id).status == ShipmentStatus.CANCELLED
    html = collector_client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    assert "courier did not come" in html and "data-packing" not in html


def test_a_dispatched_shipment_cannot_be_cancelled(
    collector, collector_client, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    response = post_on_page(collector_client, shipment, "/cancel", reason="too late")
    assert response.status_code == 409
    assert "only possible while it is open" in response.get_data(as_text=True)


def test_the_manifest_opens_in_the_browser_as_a_pdf(
    collector, collector_client, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    response = collector_client.get(f"/shipments/{shipment.id}/manifest.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert shipment.manifest_number in response.headers["Content-Disposition"]
    assert response.data.startswith(b"%PDF-")
    # The carrier as people write it, on the page and on the printed manifest.
    assert "FedEx" in pdf_text(response.data) and "fedex" not in pdf_text(response.data)
    page = collector_client.get(f"/shipments/{shipment.id}").get_data(as_text=True)
    assert "<dt>Carrier</dt><dd>FedEx <code>" in page


# --- who sees what ----------------------------------------------------------------------------


def test_another_clinics_shipment_is_not_found(collector_client, other_collector, biobank_site):
    theirs = open_shipment(other_collector)
    token = csrf_token_from(collector_client.get("/shipments").get_data(as_text=True))
    assert collector_client.get(f"/shipments/{theirs.id}").status_code == 404
    assert collector_client.get(f"/shipments/{theirs.id}/manifest.pdf").status_code == 404
    for path in ("/items", "/dispatch", "/cancel"):
        response = collector_client.post(
            f"/shipments/{theirs.id}{path}", data={"csrf_token": token, "reason": "x"}
        )
        assert response.status_code == 404
    listed = collector_client.get("/shipments?status=all").get_data(as_text=True)
    assert theirs.manifest_number not in listed


def test_a_coordinator_reads_every_clinics_shipments_but_packs_none(
    coordinator, other_collector, login, packing, tubes
):
    theirs = open_shipment(other_collector)
    client = login(coordinator)
    listed = client.get("/shipments").get_data(as_text=True)
    assert packing.manifest_number in listed and theirs.manifest_number in listed
    assert "New shipment" not in listed
    page = client.get(f"/shipments/{packing.id}").get_data(as_text=True)
    assert "data-packing" not in page and "Print manifest" in page
    response = post_on_page(client, packing, "/items", barcode=tubes[0])
    assert response.status_code == 403


def test_the_list_starts_with_open_shipments_and_filters_by_status(
    collector, collector_client, packing, dispatched_shipment
):
    sent = dispatched_shipment(collector)
    first = collector_client.get("/shipments").get_data(as_text=True)
    assert packing.manifest_number in first and sent.manifest_number not in first
    assert 'href="/shipments/new"' in first
    in_transit = collector_client.get("/shipments?status=in_transit").get_data(as_text=True)
    assert sent.manifest_number in in_transit and packing.manifest_number not in in_transit
    assert 'href="/shipments?status=in_transit" aria-current="page">In transit</a>' in in_transit
    assert collector_client.get("/shipments?status=lost").status_code == 404


def test_every_post_form_carries_a_csrf_token(collector, collector_client, packing, tubes):
    with unit_of_work():
        sending.pack_sample(collector, packing, tubes[0])
    for path in ("/shipments/new", f"/shipments/{packing.id}"):
        posts = [f for f in forms_on(collector_client.get(path).get_data(as_text=True))]
        posts = [f for f in posts if f["method"] == "post"]
        assert posts, path
        for form in posts:
            assert form["fields"].get("csrf_token"), (path, form["action"])


def test_a_post_without_the_csrf_token_is_refused(collector_client, packing, tubes):
    response = collector_client.post(f"/shipments/{packing.id}/items", data={"barcode": tubes[0]})
    assert response.status_code == 400
    assert fresh(packing.id).items == []


def test_each_role_sees_its_own_links(login, collector, technician, coordinator, biobank_site):
    def nav(user) -> str:
        html = login(user).get("/").get_data(as_text=True)
        login(user).post("/logout", data={"csrf_token": csrf_token_from(html)})
        return html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]

    collector_nav = nav(collector)
    assert 'href="/shipments"' in collector_nav and 'href="/receiving"' not in collector_nav
    technician_nav = nav(technician)
    assert 'href="/receiving"' in technician_nav and 'href="/reports"' not in technician_nav
    coordinator_nav = nav(coordinator)
    assert 'href="/reports"' in coordinator_nav and 'href="/shipments"' in coordinator_nav
    assert 'href="/receiving"' not in coordinator_nav


def test_a_page_number_past_any_list_is_an_empty_page_not_an_error(collector_client):
    response = collector_client.get("/shipments?page=99999999999999999999")
    assert response.status_code == 200


def test_a_forms_address_opened_as_a_page_goes_back_to_the_page_the_form_is_on(
    collector_client, packing, tubes
):
    """A refused form leaves its address in the address bar; opening it again (from history,
    a bookmark) is a GET, which shows the form's page instead of 'Method Not Allowed'."""
    response = post_on_page(collector_client, packing, "/dispatch", carrier="", tracking_number="")
    assert response.status_code == 422
    for path in ("/dispatch", "/cancel", f"/items/{tubes[0]}/remove"):
        again = collector_client.get(f"/shipments/{packing.id}{path}")
        assert again.status_code == 303, path
        assert again.headers["Location"] == f"/shipments/{packing.id}"
    assert fresh(packing.id).status == ShipmentStatus.OPEN  # nothing was posted


def test_the_api_still_says_which_method_to_use(collector_client, packing):
    response = collector_client.get(f"/api/v1/shipments/{packing.id}/dispatch")
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert response.get_json()["detail"] == "GET is not allowed here; use OPTIONS, POST."

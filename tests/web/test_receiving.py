"""The receiving pages over HTTP: the manifest scan that opens a receipt, the receiving page
and the API paths its script uses, the close form with its errors and its result, who may
receive what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from biobank.extensions import db
from biobank.models import ItemOutcome, Role, Shipment, ShipmentStatus, SiteKind
from biobank.services.core import ids
from biobank.services.shipping import receiving, sending
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from
from tests.web.test_collections import form_posting_to, forms_on


def fresh(shipment_id: int) -> Shipment:
    db.session.expire_all()
    return db.session.get(Shipment, shipment_id)


def error_beside(html: str, field_id: str) -> str:
    return html.split(f'id="{field_id}-error">', 1)[1].split("</p>", 1)[0]


@pytest.fixture
def technician_client(technician, login):
    return login(technician)


@pytest.fixture
def on_the_way(collector, dispatched_shipment) -> Shipment:
    """Eight tubes dispatched from the clinic to the technician's biobank."""
    return dispatched_shipment(collector)


def scan_manifest(client, text: str):
    token = csrf_token_from(client.get("/receiving").get_data(as_text=True))
    return client.post("/receiving", data={"csrf_token": token, "manifest_number": text})


def close(client, shipment: Shipment, **data):
    token = csrf_token_from(client.get(f"/receiving/{shipment.id}").get_data(as_text=True))
    signed = {"signature_password": PASSWORD}  # the close form is signed; a test may blank it
    return client.post(
        f"/receiving/{shipment.id}/close", data={"csrf_token": token, **signed, **data}
    )


# --- the start page ---------------------------------------------------------------------------


def test_the_start_page_is_one_scan_field_and_the_shipments_on_the_way(
    technician_client, on_the_way
):
    html = technician_client.get("/receiving").get_data(as_text=True)
    assert 'id="manifest_number"' in html and "data-scan data-scan-submit" in html
    assert "autofocus" in html and "/static/js/scan.js" in html
    assert on_the_way.manifest_number in html
    assert f'href="/receiving/{on_the_way.id}"' in html
    assert form_posting_to(html, "/receiving")["csrf_token"]


def test_scanning_the_manifest_opens_the_receipt(technician, technician_client, on_the_way):
    response = scan_manifest(technician_client, on_the_way.manifest_number.lower())
    assert response.status_code == 302
    assert response.headers["Location"] == f"/receiving/{on_the_way.id}"
    assert fresh(on_the_way.id).receipt_opened_by_id == technician.id


def test_a_scan_that_is_not_a_manifest_is_shown_beside_the_field(technician_client, on_the_way):
    response = scan_manifest(technician_client, "7KQ2M9XD3E")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not a manifest number" in error_beside(html, "manifest_number")
    assert 'value="7KQ2M9XD3E"' in html

    unknown = "MN" + ids.new_prefixed_code("")  # well formed, never issued
    response = scan_manifest(technician_client, unknown)
    assert response.status_code == 404
    assert "No shipment with manifest" in error_beside(
        response.get_data(as_text=True), "manifest_number"
    )
    assert fresh(on_the_way.id).receipt_opened_at is None


def test_a_shipment_not_yet_dispatched_cannot_be_received(
    collector, technician_client, biobank_site
):
    with unit_of_work():
        packing = sending.open_shipment(collector, destination="MAYO-BB", temperature="ambient")
    response = scan_manifest(technician_client, packing.manifest_number)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'role="alert"' in html and "only a dispatched shipment can be received" in html
    page = technician_client.get(f"/receiving/{packing.id}").get_data(as_text=True)
    assert "only a dispatched shipment can be received" in page
    assert "data-receiving" not in page


# --- the receiving page -----------------------------------------------------------------------


def test_the_receiving_page_sends_each_scan_to_the_api_never_as_a_page_submit(
    technician_client, on_the_way
):
    html = technician_client.get(f"/receiving/{on_the_way.id}").get_data(as_text=True)
    assert 'id="receipt-barcode"' in html and "data-scan data-scan-submit" in html
    assert f'data-scan-url="/api/v1/shipments/{on_the_way.id}/receipt/scans"' in html
    assert f'data-receipt-url="/api/v1/shipments/{on_the_way.id}/receipt"' in html
    for script in ("scan.js", "scan-station.js", "receiving.js"):
        assert f"/static/js/{script}" in html
    scan_form = next(f for f in forms_on(html) if "barcode" in f["fields"])
    assert scan_form["method"] == "get" and scan_form["action"] is None  # scripts send it
    assert 'name="damaged"' in html and 'role="status"' in html and 'role="alert"' in html
    assert html.count('data-count="missing"') == 2  # the tile and the list's heading
    for item in on_the_way.items:
        assert f'<li data-barcode="{item.sample.barcode}">' in html
    assert "<script>" not in html and " onclick=" not in html


def test_the_api_the_page_calls_takes_the_session_with_the_pages_csrf_token(
    technician_client, on_the_way
):
    html = technician_client.get(f"/receiving/{on_the_way.id}").get_data(as_text=True)
    url = f"/api/v1/shipments/{on_the_way.id}/receipt/scans"
    first = on_the_way.items[0].sample.barcode
    assert technician_client.post(url, json={"barcode": first}).status_code == 401
    headers = {"X-CSRFToken": csrf_token_from(html)}
    answer = technician_client.post(url, json={"barcode": first, "damaged": True}, headers=headers)
    assert answer.status_code == 200
    assert answer.get_json()["outcome"] == "expected"
    assert answer.get_json()["counts"] == {
        "expected": 8,
        "received": 1,
        "missing": 7,
        "unexpected": 0,
        "damaged": 1,
        "elsewhere": 0,
    }
    receipt = technician_client.get(f"/api/v1/shipments/{on_the_way.id}/receipt").get_json()
    assert first not in [sample["barcode"] for sample in receipt["missing"]]


def test_close_form_errors_are_beside_each_field_with_the_input_kept(technician_client, on_the_way):
    response = close(technician_client, on_the_way, temperature_c="cold", notes="box dented")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Say how the package arrived" in error_beside(html, "condition")
    kept = form_posting_to(html, f"/receiving/{on_the_way.id}/close")
    assert (kept["temperature_c"], kept["notes"].strip()) == ("cold", "box dented")

    response = close(technician_client, on_the_way, condition="good", temperature_c="cold")
    assert "as a number of °C" in error_beside(response.get_data(as_text=True), "close-temperature")
    assert fresh(on_the_way.id).status == ShipmentStatus.IN_TRANSIT


def test_closing_with_a_tube_missing_shows_the_result(technician, technician_client, on_the_way):
    *arrived, lost = [item.sample for item in on_the_way.items]
    with unit_of_work():
        for sample in arrived:
            receiving.receive_scan(technician, on_the_way, sample.barcode)
    response = close(technician_client, on_the_way, condition="good", temperature_c="4.5")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/receiving/{on_the_way.id}#receipt-result"
    html = technician_client.get(f"/receiving/{on_the_way.id}").get_data(as_text=True)
    shipment = fresh(on_the_way.id)
    assert shipment.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES
    assert shipment.arrival_temperature_c == 4.5
    assert 'data-status="received_with_discrepancies"' in html
    assert "1 missing, 0 unexpected, 0 damaged" in html  # the flash
    assert "7 of 8 tubes received" in html
    assert f'<li data-barcode="{lost.barcode}">' in html
    assert f"/receiving/{on_the_way.id}/close" not in html  # closed: no close form
    assert "Scan a tube found later" in html  # a late tube can still be scanned in

    again = close(technician_client, on_the_way, condition="good")
    assert again.status_code == 409
    assert "its receipt cannot be closed" in again.get_data(as_text=True)


def tile(html: str, name: str) -> str:
    """A receipt count tile's label, e.g. 'Still to scan'."""
    after = html.split(f'data-count="{name}">', 1)[1]
    return after.split('<span class="tile-label">', 1)[1].split("</span>", 1)[0]


def test_tubes_not_scanned_are_still_to_scan_until_the_receipt_closes(
    technician, technician_client, on_the_way
):
    """Nothing is missing while the receipt is open: the tiles say so on the shipment page and
    the receiving page, and only a closed receipt counts (and colours) tubes missing."""
    for path in (f"/shipments/{on_the_way.id}", f"/receiving/{on_the_way.id}"):
        html = technician_client.get(path).get_data(as_text=True)
        assert tile(html, "missing") == "Still to scan"
        assert "count-missing" not in html and "count-to-scan" in html
    *arrived, _lost = [item.sample for item in on_the_way.items]
    with unit_of_work():
        for sample in arrived:
            receiving.receive_scan(technician, on_the_way, sample.barcode)
    close(technician_client, on_the_way, condition="good")
    for path in (f"/shipments/{on_the_way.id}", f"/receiving/{on_the_way.id}"):
        html = technician_client.get(path).get_data(as_text=True)
        assert tile(html, "missing") == "Missing" and "count-missing" in html


def test_a_shipment_on_its_way_past_the_missing_threshold_counts_its_tubes_missing(
    app, coordinator, login, on_the_way
):
    with unit_of_work():
        on_the_way.dispatched_at -= timedelta(days=app.config["BIOBANK_MISSING_DAYS"])
    html = login(coordinator).get(f"/shipments/{on_the_way.id}").get_data(as_text=True)
    assert tile(html, "missing") == "Missing" and "count-missing" in html


def test_a_full_receipt_closes_as_received(technician, technician_client, on_the_way):
    with unit_of_work():
        for item in on_the_way.items:
            receiving.receive_scan(technician, on_the_way, item.sample.barcode)
    close(technician_client, on_the_way, condition="good")
    html = technician_client.get(f"/receiving/{on_the_way.id}").get_data(as_text=True)
    assert fresh(on_the_way.id).status == ShipmentStatus.RECEIVED
    assert "every tube arrived" in html
    assert {item.outcome for item in fresh(on_the_way.id).items} == {ItemOutcome.RECEIVED}


def test_every_post_form_carries_a_csrf_token(technician_client, on_the_way):
    for path in ("/receiving", f"/receiving/{on_the_way.id}"):
        forms = forms_on(technician_client.get(path).get_data(as_text=True))
        posts = [form for form in forms if form["method"] == "post"]
        assert posts, path
        for form in posts:
            assert form["fields"].get("csrf_token"), (path, form["action"])


# --- who may receive --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["collector", "coordinator"])
def test_only_technicians_receive(request, login, role, on_the_way):
    client = login(request.getfixturevalue(role))
    assert client.get("/receiving").status_code == 403
    assert client.get(f"/receiving/{on_the_way.id}").status_code == 403
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post(
        f"/receiving/{on_the_way.id}/close", data={"csrf_token": token, "condition": "good"}
    )
    assert response.status_code == 403
    assert fresh(on_the_way.id).status == ShipmentStatus.IN_TRANSIT


def test_another_biobanks_shipment_is_not_found(make_site, make_user, login, on_the_way):
    elsewhere = make_user("tech.elsewhere", Role.TECHNICIAN, make_site("UCLA-BB", SiteKind.BIOBANK))
    client = login(elsewhere)
    assert client.get(f"/receiving/{on_the_way.id}").status_code == 404
    assert on_the_way.manifest_number not in client.get("/receiving").get_data(as_text=True)
    assert scan_manifest(client, on_the_way.manifest_number).status_code == 404


def test_wrong_signature_passwords_lock_the_close_form_with_a_message_beside_the_field(
    technician_client, on_the_way
):
    for _ in range(4):
        wrong = close(technician_client, on_the_way, signature_password="wrong-password-42")
        assert wrong.status_code == 422
    fifth = close(technician_client, on_the_way, signature_password="wrong-password-42")
    message = error_beside(fifth.get_data(as_text=True), "close-signature")
    assert "That makes 5 wrong passwords: signing is locked for 15 minutes" in message
    locked = close(technician_client, on_the_way)  # the right password, now refused
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    html = locked.get_data(as_text=True)
    message = error_beside(html, "close-signature")
    assert "Too many wrong passwords: signing is locked for your account until" in message
    assert "ask an administrator to unlock it" in message
    assert 'name="condition"' in html  # the same page, the form still there
    assert PASSWORD not in html
    assert fresh(on_the_way.id).status == ShipmentStatus.IN_TRANSIT


def test_a_tube_received_in_another_shipment_is_named_on_its_own_receipt_and_the_report(
    technician, technician_client, coordinator, login, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, other, stray.barcode)
    html = technician_client.get(f"/receiving/{own.id}").get_data(as_text=True)
    section = html.split('id="elsewhere-title"', 1)[1].split("</section>", 1)[0]
    assert "Received in another shipment (1)" in section
    assert ids.display(stray.barcode) in section and other.manifest_number in section
    missing_list = html.split("data-missing-list", 1)[1].split("</ol>", 1)[0]
    assert stray.barcode not in missing_list
    assert tile(html, "elsewhere") == "In another shipment"
    with unit_of_work():
        for item in own.items[1:]:
            receiving.receive_scan(technician, own, item.sample.barcode)
    response = close(technician_client, own, condition="good")
    flashed = technician_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 missing, 0 unexpected, 0 damaged, 1 received in another shipment" in flashed
    report = login(coordinator).get("/reports/discrepancies").get_data(as_text=True)
    row = report.split(own.manifest_number, 1)[1].split("</tr>", 1)[0]
    assert ids.display(stray.barcode) in row and other.manifest_number in row


def correct(client, shipment: Shipment, action: str, **data):
    token = csrf_token_from(client.get(f"/receiving/{shipment.id}").get_data(as_text=True))
    return client.post(f"/receiving/{shipment.id}/{action}", data={"csrf_token": token, **data})


def test_a_scan_made_in_error_is_undone_from_the_receiving_page(
    technician, technician_client, on_the_way
):
    tube = on_the_way.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, on_the_way, tube.barcode)
    html = technician_client.get(f"/receiving/{on_the_way.id}").get_data(as_text=True)
    assert set(form_posting_to(html, f"/receiving/{on_the_way.id}/undo")) == {
        "csrf_token",
        "barcode",
        "reason",
    }
    assert f'formaction="/receiving/{on_the_way.id}/quarantine"' in html
    # Typing a reason must not be pulled back to the scan field.
    assert "data-keeps-focus" in html.split('id="correction"', 1)[1].split(">", 1)[0]
    refused = correct(technician_client, on_the_way, "undo", barcode=tube.barcode, reason="")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Say why the scan is undone" in error_beside(page, "correction-reason")
    assert f'value="{tube.barcode}"' in page  # what was typed is kept
    done = correct(technician_client, on_the_way, "undo", barcode=tube.barcode, reason="wrong box")
    assert done.status_code == 302 and done.headers["Location"].endswith("#correction")
    flashed = technician_client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"Scan of {ids.display(tube.barcode)} (1SST8) undone" in flashed
    db.session.expire_all()
    assert receiving.receipt_counts(on_the_way).received == 0
    missing_list = flashed.split("data-missing-list", 1)[1].split("</ol>", 1)[0]
    assert tube.barcode in missing_list


def test_a_tube_is_quarantined_from_the_receiving_page(technician, technician_client, on_the_way):
    tube = on_the_way.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, on_the_way, tube.barcode, damaged=True)
    done = correct(
        technician_client, on_the_way, "quarantine", barcode=tube.barcode, reason="cracked cap"
    )
    assert done.status_code == 302
    flashed = technician_client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"{ids.display(tube.barcode)} is quarantined: set it aside" in flashed
    db.session.expire_all()
    assert "quarantined" in db.session.get(type(tube), tube.id).flag_kinds
    # An unscanned tube cannot be quarantined: it is not at the biobank yet.
    other = on_the_way.items[1].sample
    refused = correct(
        technician_client, on_the_way, "quarantine", barcode=other.barcode, reason="x"
    )
    assert refused.status_code == 409
    assert "only tubes at the biobank are quarantined" in refused.get_data(as_text=True)

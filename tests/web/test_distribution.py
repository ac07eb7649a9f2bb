"""The distribution pages over HTTP: protocols (list by state, record one, close it), a
request recorded through its form, its proposal (tubes by participant with their freezer
location, the shortfall in words), approval (what was reserved, and what another request
took), release and cancel with a reason; the service's refusals beside their fields with a 422;
who may see and do what (clinic staff 403, another biobank's records 404)."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import (
    DistributionProtocol,
    DistributionRequest,
    Role,
    Sample,
    SiteKind,
)
from biobank.services.core import ids
from biobank.services.distribution import picking, protocols, requests
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from
from tests.services.distribution import conftest as distribution
from tests.services.distribution.conftest import protocol_fields, request_fields, today
from tests.web.test_collections import form_posting_to
from tests.web.test_storage import error_beside, text_of

# The service tests' world: stored tubes of consenting participants, a protocol, requests.
store_participant = distribution.store_participant
make_protocol = distribution.make_protocol
protocol = distribution.protocol
make_request = distribution.make_request


def fresh(model, record_id: int):
    """The record as stored now (the test shares the app's session)."""
    db.session.expire_all()
    return db.session.get(model, record_id)


def beside(html: str, field_id: str) -> str:
    """The message beside a field, as a person reads it."""
    return unescape(error_beside(html, field_id))


def post_form(client, page: str, action: str, **data):
    """POST the form of ``page`` that posts to ``action``, with the page's CSRF token."""
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **data})


def refused_without_a_reason(client, page: str, action: str, field_id: str, message: str):
    """A form of ``page`` posted to ``action`` with a blank reason: 422, ``message`` beside
    the reason field."""
    response = post_form(client, page, action, reason=" ")
    assert response.status_code == 422
    assert message in beside(response.get_data(as_text=True), field_id)


@pytest.fixture
def coordinator_client(coordinator, login):
    return login(coordinator)


@pytest.fixture
def stored(store_participant) -> dict[str, list[Sample]]:
    """Three consenting participants with two serum tubes and one plasma tube each."""
    return {pid: store_participant(pid) for pid in ("P100000001", "P100000002", "P100000003")}


def serum(tubes: list[Sample]) -> list[Sample]:
    return [tube for tube in tubes if tube.tube_type.specimen == "serum"]


# --- protocols --------------------------------------------------------------------------------


def test_the_pages_need_a_login(client, protocol):
    for path in ("/distribution", f"/distribution/protocols/{protocol.id}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_the_list_shows_open_expired_and_closed_protocols_under_their_tabs(
    coordinator_client, coordinator, make_protocol
):
    open_one = make_protocol(approval_number="IRB-OPEN")
    expired = make_protocol(approval_number="IRB-EXPIRED")
    closed = make_protocol(approval_number="IRB-CLOSED")
    with unit_of_work():
        fresh(DistributionProtocol, expired.id).approval_expires_on = today() - timedelta(days=3)
        protocols.close_protocol(coordinator, fresh(DistributionProtocol, closed.id), "ended")
    shown = {
        tab: text_of(coordinator_client.get(f"/distribution?status={tab}").get_data(as_text=True))
        for tab in ("open", "expired", "closed", "all")
    }
    assert "IRB-OPEN" in shown["open"] and "IRB-EXPIRED" not in shown["open"]
    assert "IRB-EXPIRED" in shown["expired"] and "IRB-OPEN" not in shown["expired"]
    assert "IRB-CLOSED" in shown["closed"] and "IRB-OPEN" not in shown["closed"]
    assert all(number in shown["all"] for number in ("IRB-OPEN", "IRB-EXPIRED", "IRB-CLOSED"))
    assert coordinator_client.get("/distribution?status=nonsense").status_code == 404
    assert open_one.id
    expired_tab = coordinator_client.get("/distribution?status=expired").get_data(as_text=True)
    assert 'href="/distribution?status=expired" aria-current="page"' in expired_tab
    assert 'href="/distribution?status=open">Open</a>' in expired_tab


def test_a_coordinator_records_a_protocol_and_lands_on_its_page(coordinator_client):
    html = coordinator_client.get("/distribution/protocols/new").get_data(as_text=True)
    # The coordinator's own biobank is chosen already.
    assert form_posting_to(html, "/distribution/protocols/new")["site"] == "MAYO-BB"
    fields = protocol_fields(approval_expires_on=(today() + timedelta(days=90)).isoformat())
    response = coordinator_client.post(
        "/distribution/protocols/new",
        data={"csrf_token": csrf_token_from(html), **fields, "site": "MAYO-BB"},
    )
    assert response.status_code == 302
    made = db.session.scalar(sa.select(DistributionProtocol))
    assert response.headers["Location"] == f"/distribution/protocols/{made.id}"
    assert made.specimens == ["plasma", "serum"]
    page = coordinator_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Protocol IRB-2026-0142 (Serum proteomics of early-onset diabetes) is recorded" in page
    assert "Record a request" in page


def test_a_protocol_refused_shows_each_message_beside_its_field(coordinator_client):
    response = post_form(
        coordinator_client,
        "/distribution/protocols/new",
        "/distribution/protocols/new",
        title="Serum study",
        approval_number="",
        approval_expires_on=(today() - timedelta(days=1)).isoformat(),
        institution="University of Somewhere",
        institution_address="1 Science Way",
        responsible_person="Dr Ada Researcher",
        site="MAYO-BB",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give the approval (IRB) number." in error_beside(html, "protocol-approval-number")
    assert "The approval expired on" in error_beside(html, "protocol-expires")
    assert "Choose at least one specimen kind" in html
    assert 'value="Serum study"' in html  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count(DistributionProtocol.id))) == 0


def test_closing_a_protocol_needs_a_reason_then_it_takes_no_request(coordinator_client, protocol):
    page = f"/distribution/protocols/{protocol.id}"
    refused_without_a_reason(
        coordinator_client,
        page,
        f"{page}/close",
        "close-reason",
        "Give a reason to close the protocol.",
    )
    response = post_form(coordinator_client, page, f"{page}/close", reason="study ended")
    assert response.status_code == 302
    assert fresh(DistributionProtocol, protocol.id).status == "closed"
    html = coordinator_client.get(page).get_data(as_text=True)
    assert "is closed: it takes no new requests" in html
    assert "Record a request" not in html
    response = post_form(
        coordinator_client,
        f"{page}/requests/new",
        f"{page}/requests/new",
        **{**request_fields(), "specimen": "serum"},
    )
    assert response.status_code == 409
    assert "was closed on" in response.get_data(as_text=True)


# --- recording a request ----------------------------------------------------------------------


def request_form(**changes) -> dict[str, str]:
    fields = {key: str(value) for key, value in request_fields().items()}
    fields.update(changes)
    return fields


def test_the_request_form_offers_only_the_protocols_specimens(coordinator_client, make_protocol):
    one_kind = make_protocol(specimens=["urine"])
    html = coordinator_client.get(f"/distribution/protocols/{one_kind.id}/requests/new").get_data(
        as_text=True
    )
    fields = form_posting_to(html, f"/distribution/protocols/{one_kind.id}/requests/new")
    assert fields["specimen"] == "urine"  # the only kind: chosen already
    assert 'value="serum"' not in html
    for label in (
        "Number of participants",
        "Tubes per participant",
        "Minimum volume per tube (mL)",
        "At most this many freeze–thaw cycles",
        "Collected from",
        "Collected to (included)",
        "Sample IDs the study named (optional)",
    ):
        assert label in html


def test_a_request_is_recorded_with_its_named_sample_ids(coordinator_client, protocol, stored):
    named = serum(stored["P100000001"])
    page = f"/distribution/protocols/{protocol.id}/requests/new"
    response = post_form(
        coordinator_client,
        page,
        page,
        **request_form(
            participants_wanted="1",
            sample_ids="\n".join(ids.display(t.barcode).lower() for t in named) + "\n\n",
            notes="study ref 42",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    made = db.session.scalar(sa.select(DistributionRequest))
    assert response.headers["Location"] == f"/distribution/requests/{made.id}"
    assert made.sample_barcodes == [t.barcode for t in named]
    assert made.notes == "study ref 42"


def test_a_request_refused_shows_each_message_beside_its_field(coordinator_client, protocol):
    page = f"/distribution/protocols/{protocol.id}/requests/new"
    response = post_form(
        coordinator_client,
        page,
        page,
        **request_form(
            specimen="urine",
            participants_wanted="two",
            min_volume_ml="-1",
            collected_from=today().isoformat(),
            collected_to=(today() - timedelta(days=3)).isoformat(),
            sample_ids="7KQ2M9XD3F",
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "may receive plasma, serum; 'urine' is not one of them" in beside(
        html, "request-specimen"
    )
    assert "as a whole number from 1 to" in error_beside(html, "request-participants")
    assert "minimum volume per tube in mL" in error_beside(html, "request-volume")
    assert "The last collection day is before the first" in error_beside(html, "request-to")
    assert "check character" in beside(html, "request-sample-ids")
    assert 'value="two"' in html
    assert db.session.scalar(sa.select(sa.func.count(DistributionRequest.id))) == 0


# --- the proposal and approval ----------------------------------------------------------------


def test_the_request_page_shows_the_proposal_by_participant_and_the_shortfall(
    coordinator_client, make_request, stored
):
    asked = make_request(participants_wanted=5, tubes_per_participant=2)
    html = coordinator_client.get(f"/distribution/requests/{asked.id}").get_data(as_text=True)
    words = text_of(html)
    assert "3 of 5 participants; 4 tubes short (6 of 10 tubes found)." in words
    for pid, tubes in stored.items():
        assert pid in html
        for tube in serum(tubes):
            assert tube.display_barcode in html
    assert "Freezer 1 › Shelf 1 › Box 1 ›" in words
    assert "Approve and reserve 6 tubes" in words
    # The form reserves exactly the tubes shown.
    chosen = form_posting_to(html, f"/distribution/requests/{asked.id}/approve")["sample_ids"]
    assert sorted(chosen.split()) == sorted(
        t.barcode for tubes in stored.values() for t in serum(tubes)
    )


def test_a_complete_proposal_says_so(coordinator_client, make_request, stored):
    asked = make_request(participants_wanted=2, tubes_per_participant=2)
    html = coordinator_client.get(f"/distribution/requests/{asked.id}").get_data(as_text=True)
    assert "All 2 participants with 2 tubes each: 4 tubes." in text_of(html)


def test_approving_reserves_the_tubes_shown(coordinator_client, make_request, stored):
    asked = make_request(participants_wanted=3, tubes_per_participant=2)
    page = f"/distribution/requests/{asked.id}"
    html = coordinator_client.get(page).get_data(as_text=True)
    chosen = form_posting_to(html, f"{page}/approve")
    response = coordinator_client.post(f"{page}/approve", data=chosen)
    assert response.status_code == 302
    assert fresh(DistributionRequest, asked.id).status == "approved"
    held = requests.reserved_tubes(asked)
    assert len(held) == 6
    html = coordinator_client.get(page).get_data(as_text=True)
    words = text_of(html)
    assert f"Request {asked.id} is approved. Reserved 6 of the 6 tubes chosen." in words
    assert "Reserved tubes (6)" in words
    assert "Proposed tubes" not in words


def test_approving_says_which_tubes_another_request_took_and_which(
    coordinator_client, coordinator, make_request, stored
):
    first = make_request(participants_wanted=3, tubes_per_participant=2)
    second = make_request(participants_wanted=1, tubes_per_participant=2)
    page = f"/distribution/requests/{first.id}"
    chosen = form_posting_to(coordinator_client.get(page).get_data(as_text=True), f"{page}/approve")
    with unit_of_work():  # meanwhile, the other request is approved
        got = requests.approve(coordinator, fresh(DistributionRequest, second.id))
    response = coordinator_client.post(f"{page}/approve", data=chosen)
    assert response.status_code == 302
    words = text_of(coordinator_client.get(page).get_data(as_text=True))
    assert "Reserved 4 of the 6 tubes chosen; 2 were reserved for another request meanwhile." in (
        words
    )
    taken = ", ".join(ids.display(b) for b in sorted(got.reserved))
    assert f"Request {second.id} took {taken}." in words


def test_an_approval_that_gets_nothing_is_a_409_naming_who_took_them(
    coordinator_client, coordinator, make_request, stored
):
    first = make_request(participants_wanted=1, tubes_per_participant=2)
    second = make_request(participants_wanted=1, tubes_per_participant=2)
    page = f"/distribution/requests/{first.id}"
    chosen = form_posting_to(coordinator_client.get(page).get_data(as_text=True), f"{page}/approve")
    with unit_of_work():
        requests.approve(coordinator, fresh(DistributionRequest, second.id))
    response = coordinator_client.post(f"{page}/approve", data=chosen)
    assert response.status_code == 409
    words = text_of(response.get_data(as_text=True))
    assert "stays a draft" in words and f"Request {second.id} took" in words
    assert fresh(DistributionRequest, first.id).status == "draft"


def test_release_and_cancel_need_a_reason(coordinator_client, coordinator, make_request, stored):
    asked = make_request(participants_wanted=2, tubes_per_participant=2)
    with unit_of_work():
        requests.approve(coordinator, asked)
    page = f"/distribution/requests/{asked.id}"
    for action, field, message in (
        ("release", "release-reason", "Give a reason to release the tubes."),
        ("cancel", "cancel-reason", "Give a reason to cancel the request."),
    ):
        refused_without_a_reason(coordinator_client, page, f"{page}/{action}", field, message)
    response = post_form(coordinator_client, page, f"{page}/release", reason="study postponed")
    assert response.status_code == 302
    assert requests.reserved_tubes(fresh(DistributionRequest, asked.id)) == []
    assert "Released 4 tubes of request" in coordinator_client.get(page).get_data(as_text=True)
    response = post_form(coordinator_client, page, f"{page}/cancel", reason="study withdrew")
    assert response.status_code == 302
    cancelled = fresh(DistributionRequest, asked.id)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "study withdrew")
    html = coordinator_client.get(page).get_data(as_text=True)
    assert f"Request {asked.id} is cancelled." in html
    assert "Cancel this request" not in html


def test_cancelling_an_approved_request_releases_its_tubes(
    coordinator_client, coordinator, make_request, stored
):
    asked = make_request(participants_wanted=1, tubes_per_participant=2)
    with unit_of_work():
        requests.approve(coordinator, asked)
    page = f"/distribution/requests/{asked.id}"
    response = post_form(coordinator_client, page, f"{page}/cancel", reason="study withdrew")
    assert response.status_code == 302
    assert "cancelled; 2 reserved tubes released." in coordinator_client.get(page).get_data(
        as_text=True
    )


# --- who may see and do what ------------------------------------------------------------------


def test_clinic_staff_and_admins_have_nothing_here(client, login, collector, admin, make_request):
    asked = make_request()
    for user in (collector, admin):
        login(user)
        for path in (
            "/distribution",
            f"/distribution/protocols/{asked.protocol_id}",
            f"/distribution/requests/{asked.id}",
            "/distribution/protocols/new",
        ):
            assert client.get(path).status_code == 403, (user.role, path)
        assert ">Distribution</a>" not in client.get("/").get_data(as_text=True)


def test_a_technician_reads_the_reserved_tubes_but_decides_nothing(
    client, login, technician, coordinator, make_request, stored
):
    asked = make_request(participants_wanted=1, tubes_per_participant=2)
    login(technician)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/distribution"' in home
    draft = client.get(f"/distribution/requests/{asked.id}").get_data(as_text=True)
    assert "Proposed tubes" not in draft and "Approve" not in draft
    with unit_of_work():
        requests.approve(coordinator, asked)
    html = client.get(f"/distribution/requests/{asked.id}").get_data(as_text=True)
    assert "Reserved tubes (2)" in text_of(html)
    assert "Release its tubes" not in html and "Cancel this request" not in html
    assert client.get("/distribution/protocols/new").status_code == 403
    token = csrf_token_from(html)
    for action in ("approve", "release", "cancel"):
        response = client.post(
            f"/distribution/requests/{asked.id}/{action}",
            data={"csrf_token": token, "reason": "no"},
        )
        assert response.status_code == 403, action


def test_another_biobanks_protocol_and_request_are_404(
    client, login, make_site, make_user, coordinator, make_request
):
    other = make_site("OTHER-BB", SiteKind.BIOBANK)
    outsider = make_user("technician.obb", Role.TECHNICIAN, other)
    asked = make_request()
    login(outsider)
    assert client.get(f"/distribution/protocols/{asked.protocol_id}").status_code == 404
    assert client.get(f"/distribution/requests/{asked.id}").status_code == 404
    assert "IRB-2026-0142" not in client.get("/distribution?status=all").get_data(as_text=True)


# --- picking ----------------------------------------------------------------------------------


@pytest.fixture
def approved(coordinator, make_request, stored) -> DistributionRequest:
    """Two participants' two serum tubes each, reserved."""
    asked = make_request(participants_wanted=2, tubes_per_participant=2)
    with unit_of_work():
        requests.approve(coordinator, asked)
    return asked


def test_the_pick_list_is_in_walking_order_with_its_pdf_and_csv(
    client, login, technician, approved
):
    login(technician)
    request_page = client.get(f"/distribution/requests/{approved.id}").get_data(as_text=True)
    page = f"/distribution/requests/{approved.id}/pick"
    assert f'href="{page}"' in request_page
    html = client.get(page).get_data(as_text=True)
    words = text_of(html)
    held = sorted(requests.reserved_tubes(approved), key=lambda t: (t.position.row, t.position.col))
    shown = [words.index(tube.display_barcode) for tube in held]
    assert shown == sorted(shown)  # box 1, row by row
    assert "0 of 4 tubes picked" in words
    assert f"Next: {held[0].display_barcode} at Freezer 1 › Shelf 1 › Box 1 ›" in words
    pdf = client.get(f"/distribution/requests/{approved.id}/pick-list.pdf")
    assert (pdf.status_code, pdf.mimetype) == (200, "application/pdf")
    csv = client.get(f"/distribution/requests/{approved.id}/pick-list.csv")
    assert (csv.status_code, csv.mimetype) == (200, "text/csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("sample_id,tube_type")
    assert [line.split(",")[0] for line in lines[1:]] == [tube.barcode for tube in held]
    assert "P1000000" not in csv.get_data(as_text=True)  # no participant on the pick list


def test_picking_by_scan_counts_and_a_wrong_tube_says_where_the_right_one_is(
    client, login, technician, approved, stored
):
    login(technician)
    page = f"/distribution/requests/{approved.id}/pick"
    held = sorted(requests.reserved_tubes(approved), key=lambda t: (t.position.row, t.position.col))
    plasma = next(t for t in stored["P100000001"] if t.tube_type.specimen == "plasma")
    response = post_form(client, page, page, barcode=plasma.barcode)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    message = beside(html, "pick-barcode")
    assert f"Tube {plasma.display_barcode} (stored at Freezer 1" in message
    assert f"put it back. The next tube to pick is {held[0].display_barcode} at" in message
    response = post_form(client, page, page, barcode=ids.display(held[0].barcode).lower())
    assert response.status_code == 302 and response.headers["Location"] == page
    words = text_of(client.get(page).get_data(as_text=True))
    assert f"Picked {held[0].display_barcode} for request {approved.id}." in words
    assert "1 of 4 tubes picked" in words
    assert fresh(DistributionRequest, approved.id).status == "picking"
    post_form(client, page, page, barcode=held[0].barcode)
    words = text_of(client.get(page).get_data(as_text=True))
    assert "is already picked" in words and "1 of 4 tubes picked" in words


def test_a_bad_scan_is_refused_beside_the_field(client, login, technician, approved):
    login(technician)
    page = f"/distribution/requests/{approved.id}/pick"
    response = post_form(client, page, page, barcode="P123456789")
    assert response.status_code == 422
    assert "is a participant ID, not a tube label" in beside(
        response.get_data(as_text=True), "pick-barcode"
    )


def test_a_draft_has_no_pick_list(client, login, technician, make_request):
    asked = make_request()
    login(technician)
    assert "/pick" not in client.get(f"/distribution/requests/{asked.id}").get_data(as_text=True)
    response = client.get(f"/distribution/requests/{asked.id}/pick")
    assert response.status_code == 409
    assert "approve it first" in response.get_data(as_text=True)


# --- the outbound shipment --------------------------------------------------------------------


@pytest.fixture
def picked(technician, approved) -> list[Sample]:
    """Every tube of the approved request picked, by the technician."""
    held = requests.reserved_tubes(approved)
    with unit_of_work():
        for tube in held:
            picking.pick(technician, fresh(DistributionRequest, approved.id), tube.barcode)
    return held


def dispatch_on(client, page: str, password: str = PASSWORD):
    """The outbound shipment page's dispatch form posted by FedEx, signed with ``password``."""
    return post_form(
        client,
        page,
        f"{page}/dispatch",
        carrier="fedex",
        tracking_number="123456789012",
        signature_password=password,
    )


def test_packing_and_a_signed_dispatch_then_the_manifest_under_pseudonyms(
    client, login, technician, approved, picked, stored
):
    login(technician)
    page = f"/distribution/requests/{approved.id}/shipment"
    assert f'href="{page}"' in client.get(f"/distribution/requests/{approved.id}").get_data(
        as_text=True
    )
    assert "Open outbound shipment" in client.get(page).get_data(as_text=True)
    response = post_form(client, page, page)
    assert response.status_code == 302
    assert "is open: scan the picked tubes" in client.get(page).get_data(as_text=True)

    plasma = next(t for t in stored["P100000001"] if t.tube_type.specimen == "plasma")
    response = post_form(client, page, f"{page}/items", barcode=plasma.barcode)
    assert response.status_code == 409
    assert "not reserved for any request" in beside(response.get_data(as_text=True), "pack-barcode")
    for tube in picked:
        response = post_form(client, page, f"{page}/items", barcode=tube.barcode)
        assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "4 of 4 picked" in text_of(html)
    assert "P1000000" not in html  # pseudonyms only

    response = dispatch_on(client, page, password="wrong")
    assert response.status_code == 422
    assert "password" in beside(response.get_data(as_text=True), "dispatch-signature")
    response = dispatch_on(client, page)
    assert response.status_code == 302
    words = text_of(client.get(page).get_data(as_text=True))
    assert "4 tubes distributed, their positions freed" in words
    assert fresh(DistributionRequest, approved.id).status == "shipped"
    shipped = client.get(f"/distribution/requests/{approved.id}").get_data(as_text=True)
    assert "Its tubes have left for University of Somewhere" in shipped
    assert f'href="/distribution/requests/{approved.id}/pick"' not in shipped
    assert all(fresh(Sample, t.id).status == "distributed" for t in picked)
    pdf = client.get(f"{page}/manifest.pdf")
    assert (pdf.status_code, pdf.mimetype) == (200, "application/pdf")
    csv = client.get(f"{page}/manifest.csv").get_data(as_text=True)
    assert csv.splitlines()[0].startswith("study_pseudonym,sample_id")
    assert "P1000000" not in csv and all(t.barcode in csv for t in picked)

    response = post_form(client, page, f"{page}/returns", barcode=picked[0].barcode, reason="")
    assert response.status_code == 422
    assert "Give a reason for the return" in beside(
        response.get_data(as_text=True), "return-reason"
    )
    response = post_form(
        client, page, f"{page}/returns", barcode=picked[0].barcode, reason="unused"
    )
    assert response.status_code == 302
    words = text_of(client.get(page).get_data(as_text=True))
    assert f"Received {picked[0].display_barcode} back from University of Somewhere" in words
    assert fresh(Sample, picked[0].id).status == "received"


def test_a_tube_taken_out_of_the_box_stays_picked(client, login, technician, approved, picked):
    login(technician)
    page = f"/distribution/requests/{approved.id}/shipment"
    post_form(client, page, page)
    post_form(client, page, f"{page}/items", barcode=picked[0].barcode)
    response = post_form(client, page, f"{page}/items/{picked[0].barcode}/remove")
    assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "it stays picked" in html and "0 of 4 picked" in text_of(html)


def test_cancelling_the_shipment_takes_its_tubes_out_still_picked_and_a_new_one_opens(
    client, login, technician, approved, picked
):
    login(technician)
    page = f"/distribution/requests/{approved.id}/shipment"
    post_form(client, page, page)
    for tube in picked[:2]:
        post_form(client, page, f"{page}/items", barcode=tube.barcode)
    html = client.get(page).get_data(as_text=True)
    assert "Cancel this shipment" in html and form_posting_to(html, f"{page}/cancel")
    refused_without_a_reason(
        client, page, f"{page}/cancel", "cancel-shipment-reason", "Give a reason to cancel the"
    )
    response = post_form(client, page, f"{page}/cancel", reason="courier booking cancelled")
    assert response.status_code == 302
    words = text_of(client.get(page).get_data(as_text=True))
    assert "is cancelled; 2 tubes taken out, still picked for request" in words
    assert "was cancelled" in words and "courier booking cancelled" in words
    assert "Open outbound shipment" in words and "4 tubes picked so far" in words
    assert all(fresh(Sample, t.id).reserved_for_request_id == approved.id for t in picked)
    assert fresh(DistributionRequest, approved.id).status == "picking"
    # Nothing open now: a second cancel finds no shipment; a new one opens.
    assert post_form(client, page, f"{page}/cancel", reason="again").status_code == 404
    assert post_form(client, page, page).status_code == 302
    assert post_form(client, page, f"{page}/items", barcode=picked[0].barcode).status_code == 302


def test_a_dispatched_shipment_offers_no_cancel(client, login, technician, approved, picked):
    login(technician)
    page = f"/distribution/requests/{approved.id}/shipment"
    post_form(client, page, page)
    for tube in picked:
        post_form(client, page, f"{page}/items", barcode=tube.barcode)
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    assert dispatch_on(client, page).status_code == 302
    assert "Cancel this shipment" not in client.get(page).get_data(as_text=True)
    refused = client.post(f"{page}/cancel", data={"csrf_token": token, "reason": "too late"})
    assert refused.status_code == 409
    assert "cancelling is only possible while it is open" in text_of(refused.get_data(as_text=True))


def test_no_shipment_before_picking(client, login, technician, approved):
    login(technician)
    page = f"/distribution/requests/{approved.id}/shipment"
    html = client.get(page).get_data(as_text=True)
    assert "pick its tubes first" in html and "Open outbound shipment" not in html
    assert client.get(f"{page}/manifest.pdf").status_code == 404
    response = post_form(client, page, page)
    assert response.status_code == 409

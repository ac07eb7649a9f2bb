"""After distribution, over HTTP: the per-protocol report (page, CSV, PDF) linked from the
protocol's page, and the studies to notify on the disposal list and the participant's page,
under study pseudonyms; who may see what."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest

from biobank.db import utcnow
from biobank.models import Role, SiteKind
from biobank.services.distribution import requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.unit_of_work import unit_of_work
from tests.conftest import csrf_token_from
from tests.decoding import pdf_text
from tests.services.distribution import conftest as distribution
from tests.services.distribution.shipping_to_studies import shipped_request, take_back, withdraw

store_participant = distribution.store_participant
make_protocol = distribution.make_protocol
protocol = distribution.protocol
make_request = distribution.make_request

FIRST, SECOND = "P100000001", "P100000002"


@pytest.fixture
def shipped(coordinator, technician, store_participant, make_request):
    """A request of two participants' serum tubes, picked and shipped; one tube back; and a
    request cancelled with a note a spreadsheet would run as a formula."""
    request, sent = shipped_request(
        coordinator, technician, store_participant, make_request, (FIRST, SECOND)
    )
    take_back(technician, request, sent[0])
    dropped = make_request(notes='=HYPERLINK("http://evil.example")')
    with unit_of_work():
        requests.cancel_request(coordinator, dropped, "the study changed its plan")
    return request, dropped


def _report(protocol, tail=""):
    return f"/distribution/protocols/{protocol.id}/report{tail}"


def test_the_protocol_page_links_its_report(login, coordinator, protocol):
    html = login(coordinator).get(f"/distribution/protocols/{protocol.id}").get_data(as_text=True)
    assert f'href="{_report(protocol)}"' in html


def test_the_report_page_shows_each_request_and_the_total(login, coordinator, protocol, shipped):
    request, dropped = shipped
    response = login(coordinator).get(_report(protocol))
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert f"Request {request.id}" in html and f"Request {dropped.id}" in html
    assert "Tubes requested" in html and "Returned" in html
    assert "Total (2 requests)" in html
    assert protocol.approval_number in html and "University of Somewhere" in html


def test_the_report_downloads_as_formula_safe_csv(login, coordinator, protocol, shipped):
    request, dropped = shipped
    response = login(coordinator).get(_report(protocol, ".csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_request = {row["request"]: row for row in rows}
    shipped_row = by_request[str(request.id)]
    assert (shipped_row["requested"], shipped_row["shipped"], shipped_row["returned"]) == (
        "4",
        "4",
        "1",
    )
    assert by_request[str(dropped.id)]["notes"].startswith("'=HYPERLINK")
    assert rows[-1]["request"] == "Total (2 requests)" and rows[-1]["requested"] == "8"


def test_the_report_prints_as_pdf(login, coordinator, protocol, shipped):
    response = login(coordinator).get(_report(protocol, ".pdf"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(pdf_text(response.data).split())
    assert protocol.approval_number in text and "Tubes requested" in text
    assert FIRST not in text and SECOND not in text


def test_technicians_read_the_report_clinic_staff_and_admins_may_not(
    login, technician, collector, admin, protocol
):
    assert login(technician).get(_report(protocol)).status_code == 200
    for user in (collector, admin):
        assert login(user).get(_report(protocol)).status_code == 403
        assert login(user).get(_report(protocol, ".csv")).status_code == 403


def test_another_biobanks_protocol_report_is_a_404(login, make_site, make_user, protocol):
    stranger = make_user("tech.other", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK))
    assert login(stranger).get(_report(protocol)).status_code == 404
    assert login(stranger).get(_report(protocol, ".pdf")).status_code == 404


def test_the_disposal_list_names_the_studies_to_notify_under_pseudonyms(
    login, coordinator, protocol, shipped
):
    withdraw(coordinator, FIRST, "moved away")
    html = unescape(login(coordinator).get("/reports/disposals").get_data(as_text=True))
    assert "Studies to notify" in html
    assert protocol.title in html and protocol.approval_number in html
    assert "Dr Ada Researcher" in html and "University of Somewhere" in html
    # The coordinator sees both: the participant ID and the pseudonym the study knows.
    assert FIRST in html and study_pseudonym(FIRST, protocol) in html
    assert SECOND not in html


def test_no_section_without_a_withdrawal_after_distribution(login, coordinator, shipped):
    html = login(coordinator).get("/reports/disposals").get_data(as_text=True)
    assert "Studies to notify" not in html


def test_the_participants_page_names_the_studies_to_notify(login, coordinator, protocol, shipped):
    withdraw(coordinator, FIRST, "moved away")
    page = login(coordinator).get("/participants", query_string={"participant_id": FIRST})
    html = unescape(page.get_data(as_text=True))
    assert "Studies to notify" in html and study_pseudonym(FIRST, protocol) in html
    other = login(coordinator).get("/participants", query_string={"participant_id": SECOND})
    assert "Studies to notify" not in other.get_data(as_text=True)


def test_withdrawing_on_the_participants_page_says_how_many_studies_to_notify(
    login, coordinator, protocol, shipped
):
    client = login(coordinator)
    page = client.get("/participants", query_string={"participant_id": FIRST})
    token = csrf_token_from(page.get_data(as_text=True))
    saved = client.post(
        f"/participants/{FIRST}",
        data={
            "csrf_token": token,
            "biospecimen_consent": "y",
            "withdrawn_at": (utcnow().date() - timedelta(days=1)).isoformat(),
            "withdrawal_reason": "moved away",
        },
    )
    assert saved.status_code == 302
    shown = unescape(client.get(saved.headers["Location"]).get_data(as_text=True))
    # Its plasma tube is at the biobank (and its tube the study sent back, if it was theirs).
    said = rf"{FIRST} updated: withdrawn, [12] tubes? to dispose of; 1 study to notify \(below\)\."
    assert re.search(said, shown)
    assert "Studies to notify" in shown and study_pseudonym(FIRST, protocol) in shown

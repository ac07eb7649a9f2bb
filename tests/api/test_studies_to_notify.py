"""The studies to notify when a participant withdraws after distribution, for the enrollment
system that reported the withdrawal: each study under the pseudonym it knows the participant by,
for those who read reports (coordinators and admins), as on the participant's page."""

# The fixtures of the distribution services' tests, imported, are test arguments here.
# ruff: noqa: F811

from __future__ import annotations

from datetime import datetime

import pytest

from biobank.db import utcnow
from biobank.services.distribution import requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.conftest import (  # noqa: F401
    make_protocol,
    make_request,
    protocol,
    store_participant,
)
from tests.services.distribution.shipping_to_studies import (
    pick_all,
    ship,
    shipped_request,
    take_back,
    withdraw,
)

FIRST, SECOND = "P100000001", "P100000002"
PROBLEM = "application/problem+json"


def _path(participant_id: str) -> str:
    return f"/api/v1/participants/{participant_id}/studies-to-notify"


@pytest.fixture
def shipped(coordinator, technician, store_participant, make_request):
    """Two participants' serum tubes (two each), picked and shipped to the protocol's study."""
    return shipped_request(
        coordinator, technician, store_participant, make_request, (FIRST, SECOND)
    )


def test_a_withdrawal_after_distribution_names_each_study_under_its_pseudonym(
    api, coordinator, shipped, protocol
):
    _, sent = shipped
    withdraw(coordinator, FIRST)
    response = api(coordinator).get(_path(FIRST))
    assert response.status_code == 200
    body = response.get_json()
    assert body["participant_id"] == FIRST
    assert body["withdrawal_reason"] == "changed their mind"
    assert datetime.fromisoformat(body["withdrawn_at"]).utcoffset() is not None
    [study] = body["studies"]
    assert study["protocol"] == {
        "id": protocol.id,
        "title": "Serum proteomics of early-onset diabetes",
        "approval_number": "IRB-2026-0142",
        "institution": "University of Somewhere",
        "institution_address": "1 Science Way, Somewhere, MN 55905",
        "responsible_person": "Dr Ada Researcher",
    }
    assert study["pseudonym"] == study_pseudonym(FIRST, protocol)
    assert FIRST not in study["pseudonym"]
    assert len(study["sent"]) == 2 and set(study["sent"]) <= set(sent)
    assert study["held"] == study["sent"] and study["returned"] == []
    assert study["sent_after_withdrawal"] is False
    assert study["first_sent_at"] and study["last_sent_at"]


def test_tubes_sent_back_are_told_apart_from_those_the_study_holds(
    api, coordinator, technician, shipped
):
    request, _ = shipped
    withdraw(coordinator, FIRST)
    [study] = api(coordinator).get(_path(FIRST)).get_json()["studies"]
    back = study["sent"][0]
    take_back(technician, request, back)
    [study] = api(coordinator).get(_path(FIRST)).get_json()["studies"]
    assert study["returned"] == [back]
    assert study["held"] == [barcode for barcode in study["sent"] if barcode != back]


def test_tubes_sent_after_the_withdrawal_are_marked(
    api, coordinator, technician, store_participant, make_request
):
    store_participant(FIRST)
    request = make_request(participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, request)
    pick_all(technician, request)
    withdrew_at = utcnow()  # reported by the enrollment system only after the dispatch
    ship(technician, request)
    withdraw(coordinator, FIRST, at=withdrew_at)
    [study] = api(coordinator).get(_path(FIRST)).get_json()["studies"]
    assert study["sent_after_withdrawal"] is True


def test_a_participant_not_withdrawn_has_no_study_to_notify(api, coordinator, shipped):
    body = api(coordinator).get(_path(SECOND)).get_json()
    assert body == {
        "participant_id": SECOND,
        "withdrawn_at": None,
        "withdrawal_reason": None,
        "studies": [],
    }


def test_a_withdrawn_participant_whose_tubes_never_left_has_no_study_to_notify(
    api, coordinator, store_participant
):
    store_participant(FIRST)
    withdraw(coordinator, FIRST)
    body = api(coordinator).get(_path(FIRST)).get_json()
    assert body["withdrawn_at"] is not None and body["studies"] == []


def test_only_the_participant_asked_for_is_answered(api, coordinator, shipped):
    withdraw(coordinator, FIRST)
    withdraw(coordinator, SECOND)
    first = api(coordinator).get(_path(FIRST)).get_json()["studies"][0]
    second = api(coordinator).get(_path(SECOND)).get_json()["studies"][0]
    assert not set(first["sent"]) & set(second["sent"])
    assert first["pseudonym"] != second["pseudonym"]


def test_the_participant_id_is_read_the_forgiving_way(api, coordinator, shipped):
    withdraw(coordinator, FIRST)
    body = api(coordinator).get(_path(FIRST.lower())).get_json()
    assert body["participant_id"] == FIRST and len(body["studies"]) == 1


def test_a_malformed_participant_id_is_a_422_naming_the_field(api, coordinator):
    response = api(coordinator).get(_path("NOT-AN-ID"))
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "is not a participant ID" in response.get_json()["errors"]["participant_id"][0]


def test_a_participant_never_recorded_is_a_404(api, coordinator):
    response = api(coordinator).get(_path("P999999999"))
    assert response.status_code == 404 and response.mimetype == PROBLEM
    assert "P999999999" in response.get_json()["detail"]


def test_admins_read_it_as_on_the_participants_page(api, coordinator, admin, shipped):
    withdraw(coordinator, FIRST)
    assert len(api(admin).get(_path(FIRST)).get_json()["studies"]) == 1


def test_clinic_staff_and_technicians_get_a_403_without_the_studies(
    api, coordinator, collector, technician, shipped, protocol
):
    withdraw(coordinator, FIRST)
    for user in (collector, technician):
        response = api(user).get(_path(FIRST))
        assert response.status_code == 403 and response.mimetype == PROBLEM
        assert study_pseudonym(FIRST, protocol) not in response.get_data(as_text=True)


def test_without_a_token_it_is_a_401(client, coordinator, shipped):
    withdraw(coordinator, FIRST)
    assert client.get(_path(FIRST)).status_code == 401


def test_the_route_is_documented_with_its_answers(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/participants/{participant_id}/studies-to-notify"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("StudiesToNotify")

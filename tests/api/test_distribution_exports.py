"""A distribution as FHIR R4: the Specimens a study received under its pseudonyms, valid FHIR,
scoped like every distribution record."""

# The fixtures of the distribution services' tests, imported, are test arguments here.
# ruff: noqa: F811

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.specimen import Specimen

from biobank.models import Role, SiteKind
from biobank.services.distribution import outbound, requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.conftest import (  # noqa: F401
    make_protocol,
    make_request,
    protocol,
    store_participant,
)
from tests.services.distribution.shipping_to_studies import pick_all, ship, take_back

PARTICIPANTS = ("P100000001", "P100000002")


@pytest.fixture
def approved(coordinator, store_participant, make_request):
    for participant_id in PARTICIPANTS:
        store_participant(participant_id)
    request = make_request()
    with unit_of_work():
        requests.approve(coordinator, request)
    return request


@pytest.fixture
def shipped(technician, approved):
    pick_all(technician, approved)
    return approved, ship(technician, approved)


def _path(request) -> str:
    return f"/api/v1/distribution/protocols/{request.protocol_id}/requests/{request.id}/fhir"


def test_a_shipped_distribution_is_a_valid_fhir_bundle_of_specimens_under_pseudonyms(
    api, coordinator, shipped, protocol
):
    request, sent = shipped
    response = api(coordinator).get(_path(request))
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    body = response.get_json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    assert bundle.identifier.value == str(request.id)
    organization, *specimens = [entry.resource for entry in bundle.entry]
    assert isinstance(organization, Organization)
    assert organization.name == "University of Somewhere"
    assert organization.contact[0].name.text == "Dr Ada Researcher"
    assert all(isinstance(specimen, Specimen) for specimen in specimens)
    assert sorted(specimen.id for specimen in specimens) == sorted(sent)
    pseudonyms = {study_pseudonym(pid, protocol) for pid in PARTICIPANTS}
    assert {specimen.subject.identifier.value for specimen in specimens} == pseudonyms
    assert {specimen.subject.identifier.system for specimen in specimens} == {
        f"urn:biobank:study-pseudonym:protocol-{protocol.id}"
    }
    assert {specimen.status for specimen in specimens} == {"available"}


def test_the_export_never_names_the_participant_staff_or_freezer(api, coordinator, shipped):
    request, _ = shipped
    text = json.dumps(api(coordinator).get(_path(request)).get_json())
    for participant_id in PARTICIPANTS:
        assert participant_id not in text
    assert "urn:biobank:participant-id" not in text
    assert "collector" not in text
    assert "Freezer" not in text and "›" not in text


def test_a_tube_sent_back_is_shown_as_returned(api, coordinator, technician, shipped):
    request, sent = shipped
    take_back(technician, request, sent[0])
    bundle = Bundle.model_validate(api(coordinator).get(_path(request)).get_json())
    back = next(e.resource for e in bundle.entry if e.resource.id == sent[0])
    assert back.status == "unavailable"
    assert "returned" in back.note[0].text


def test_a_distribution_not_yet_shipped_is_a_409(api, coordinator, approved):
    response = api(coordinator).get(_path(approved))
    assert response.status_code == 409
    assert "nothing to export" in response.get_json()["detail"]


def test_the_biobanks_technician_may_export_it(api, technician, shipped):
    request, _ = shipped
    assert api(technician).get(_path(request)).status_code == 200


def test_clinic_staff_and_admins_get_a_403(api, collector, admin, shipped):
    request, _ = shipped
    for user in (collector, admin):
        assert api(user).get(_path(request)).status_code == 403


def test_another_biobank_gets_a_404(api, make_site, make_user, shipped):
    request, _ = shipped
    stranger = make_user("tech.other", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK))
    assert api(stranger).get(_path(request)).status_code == 404


def test_a_request_under_another_protocol_path_is_a_404(api, coordinator, shipped, make_protocol):
    request, _ = shipped
    other = make_protocol(approval_number="IRB-2026-0999")
    path = f"/api/v1/distribution/protocols/{other.id}/requests/{request.id}/fhir"
    assert api(coordinator).get(path).status_code == 404


def test_without_a_token_it_is_a_401(client, shipped):
    request, _ = shipped
    assert client.get(_path(request)).status_code == 401


def test_the_same_bundle_is_found_by_the_outbound_shipment(api, coordinator, technician, shipped):
    request, _ = shipped
    shipment = outbound.shipment_of(request)
    path = f"/api/v1/distribution/shipments/{shipment.id}/fhir"
    by_shipment = api(coordinator).get(path)
    assert by_shipment.status_code == 200
    assert by_shipment.get_json() == api(coordinator).get(_path(request)).get_json()
    stranger = api(coordinator).get("/api/v1/distribution/shipments/999999/fhir")
    assert stranger.status_code == 404


def test_an_open_outbound_shipment_is_a_409(api, coordinator, technician, approved):
    pick_all(technician, approved)
    with unit_of_work():
        shipment = outbound.open_shipment(technician, approved)
    answer = api(coordinator).get(f"/api/v1/distribution/shipments/{shipment.id}/fhir")
    assert answer.status_code == 409


def test_a_cancelled_outbound_shipment_sent_nothing_and_is_a_409(
    api, coordinator, technician, approved
):
    pick_all(technician, approved)
    with unit_of_work():
        shipment = outbound.open_shipment(technician, approved)
    with unit_of_work():
        outbound.cancel_shipment(technician, shipment, "courier booking cancelled")
    answer = api(coordinator).get(f"/api/v1/distribution/shipments/{shipment.id}/fhir")
    assert answer.status_code == 409
    assert "was cancelled before dispatch: it sent nothing" in answer.get_json()["detail"]
    assert answer.get_json()["distribution_shipment"] == shipment.id

"""The distribution API: a coordinator records a study protocol and a request under it, reviews
the proposed tubes and approves, reserving them race-safely; technicians read and pick; clinic
staff get a 403 on every route, another biobank a 404 for each record."""

# The fixtures of the distribution services' tests, imported, are test arguments here.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import DistributionRequest, Event, Role, Sample, SiteKind
from biobank.services.distribution import requests
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD
from tests.services.distribution.conftest import (  # noqa: F401
    make_protocol,
    make_request,
    protocol,
    protocol_fields,
    request_fields,
    store_participant,
    today,
)

PROBLEM = "application/problem+json"
BASE = "/api/v1/distribution/protocols"
DISPATCH = {"carrier": "fedex", "tracking_number": "123456789012", "signature_password": PASSWORD}


def _json_fields(fields: dict) -> dict:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items()}


def _request_path(request, tail: str = "") -> str:
    return f"{BASE}/{request.protocol_id}/requests/{request.id}{tail}"


def _serum(tubes):
    return [t for t in tubes if t.tube_type.specimen == "serum"]


def _events(kind: str) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(Event.id)).where(Event.type == kind))


@pytest.fixture
def stranger(make_site, make_user):
    """A technician at another biobank."""
    return make_user("tech.other", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK))


# --- protocols -----------------------------------------------------------------------------------


def test_a_coordinator_records_a_protocol_the_biobank_reads_and_clinics_do_not_see(
    api, coordinator, technician, collector, stranger
):
    made = api(coordinator).post(BASE, json=_json_fields(protocol_fields()))
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["site"] == "MAYO-BB"
    assert body["status"] == "open" and body["accepting_requests"] is True
    assert body["specimens"] == ["plasma", "serum"]
    assert body["created_by"] == coordinator.username
    path = f"{BASE}/{body['id']}"

    assert api(technician).get(path).get_json() == body
    listed = api(technician).get(BASE, query_string={"status": "open"}).get_json()
    assert [p["id"] for p in listed["items"]] == [body["id"]] and listed["total"] == 1
    assert api(technician).get(BASE, query_string={"status": "closed"}).get_json()["total"] == 0
    found = api(coordinator).get(BASE, query_string={"approval_number": "IRB-2026-0142"})
    assert found.get_json()["total"] == 1

    assert api(stranger).get(BASE).get_json()["items"] == []
    hidden = api(stranger).get(path)
    assert hidden.status_code == 404 and hidden.mimetype == PROBLEM
    for refused in (api(collector).get(BASE), api(collector).get(path)):
        assert refused.status_code == 403 and refused.mimetype == PROBLEM
    refused = api(technician).post(BASE, json=_json_fields(protocol_fields()))
    assert refused.status_code == 403 and refused.mimetype == PROBLEM


def test_bad_protocol_fields_are_named(api, coordinator, clinic):
    answer = api(coordinator).post(
        BASE,
        json={
            **_json_fields(protocol_fields()),
            "title": "",
            "approval_expires_on": "next spring",
            "specimens": ["serum", "blood"],
        },
    )
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
    assert set(answer.get_json()["errors"]) == {"title", "approval_expires_on", "specimens.1"}
    expired = api(coordinator).post(
        BASE,
        json=_json_fields(protocol_fields(approval_expires_on=today() - timedelta(days=1))),
    )
    assert expired.status_code == 422
    assert "expired" in expired.get_json()["errors"]["approval_expires_on"][0]
    clinic = api(coordinator).post(
        BASE, json={**_json_fields(protocol_fields()), "site": "UCSD-01"}
    )
    assert clinic.status_code == 422 and "collection site" in clinic.get_json()["errors"]["site"][0]


def test_a_closed_protocol_takes_no_request(api, coordinator, protocol):
    closed = api(coordinator).post(f"{BASE}/{protocol.id}/close", json={"reason": "study ended"})
    assert closed.status_code == 200
    assert closed.get_json()["status"] == "closed"
    assert closed.get_json()["close_reason"] == "study ended"
    assert closed.get_json()["accepting_requests"] is False
    again = api(coordinator).post(f"{BASE}/{protocol.id}/close", json={"reason": "twice"})
    assert again.status_code == 409 and again.mimetype == PROBLEM
    refused = api(coordinator).post(
        f"{BASE}/{protocol.id}/requests", json=_json_fields(request_fields())
    )
    assert refused.status_code == 409
    assert "takes no new requests" in refused.get_json()["detail"]


# --- requests ------------------------------------------------------------------------------------


def test_a_coordinator_records_a_request_reviews_the_proposal_and_approves(
    api, coordinator, technician, protocol, store_participant
):
    tubes = [
        t for pid in ("P100000001", "P100000002", "P100000003") for t in store_participant(pid)
    ]
    recorded = api(coordinator).post(
        f"{BASE}/{protocol.id}/requests",
        json=_json_fields(request_fields(notes="first batch")),
    )
    assert recorded.status_code == 201, recorded.get_json()
    request = recorded.get_json()
    assert request["status"] == "draft" and request["tubes_wanted"] == 4
    assert request["reserved"] == [] and request["sample_ids"] is None
    path = f"{BASE}/{protocol.id}/requests/{request['id']}"

    proposal = api(coordinator).get(f"{path}/proposal")
    assert proposal.status_code == 200
    offered = proposal.get_json()
    assert len(offered["tubes"]) == 4
    assert offered["participants"] == 2 and offered["participants_short"] == 0
    assert offered["tubes_short"] == 0
    assert {t["barcode"] for t in offered["tubes"]} <= {t.barcode for t in _serum(tubes)}
    assert all(t["collected_at"].endswith("+00:00") for t in offered["tubes"])
    assert api(technician).get(f"{path}/proposal").status_code == 403

    approved = api(coordinator).post(f"{path}/approval", json={})
    assert approved.status_code == 201, approved.get_json()
    answer = approved.get_json()
    assert sorted(answer["reserved"]) == sorted(t["barcode"] for t in offered["tubes"])
    assert answer["taken"] == {} and answer["unavailable"] == []
    assert answer["request"]["status"] == "approved"
    assert answer["request"]["approved_by"] == coordinator.username
    assert _events("reserved") == 4

    read = api(technician).get(path).get_json()
    assert sorted(read["reserved"]) == sorted(answer["reserved"])
    listed = api(technician).get(
        f"{BASE}/{protocol.id}/requests", query_string={"status": "approved"}
    )
    assert [r["id"] for r in listed.get_json()["items"]] == [request["id"]]

    twice = api(coordinator).post(f"{path}/approval", json={})
    assert twice.status_code == 409 and twice.mimetype == PROBLEM


def test_an_approval_is_told_what_another_request_took(
    api, coordinator, protocol, make_request, store_participant
):
    for pid in ("P100000001", "P100000002"):
        store_participant(pid)
    first, second, third = (make_request() for _ in range(3))
    proposed = [
        t["barcode"]
        for t in api(coordinator).get(_request_path(second, "/proposal")).get_json()["tubes"]
    ]
    assert len(proposed) == 4
    # The first request takes two of them.
    took = api(coordinator).post(
        _request_path(first, "/approval"), json={"sample_ids": proposed[:2]}
    )
    assert took.status_code == 201

    partly = api(coordinator).post(
        _request_path(second, "/approval"), json={"sample_ids": proposed}
    )
    assert partly.status_code == 200, partly.get_json()
    answer = partly.get_json()
    assert sorted(answer["reserved"]) == sorted(proposed[2:])
    assert answer["taken"] == {barcode: first.id for barcode in proposed[:2]}
    assert "2 were reserved for another request meanwhile" in answer["message"]

    none = api(coordinator).post(_request_path(third, "/approval"), json={"sample_ids": proposed})
    assert none.status_code == 409 and none.mimetype == PROBLEM
    problem = none.get_json()
    assert set(problem["taken"]) == set(proposed)
    assert "stays a draft" in problem["detail"]
    # The request's id is named apart from the problem's own request_id (the HTTP request's).
    assert problem["distribution_request"] == third.id
    assert problem["request_id"] == none.headers["X-Request-ID"]
    assert api(coordinator).get(_request_path(third)).get_json()["status"] == "draft"


def test_an_approval_retried_with_its_key_reserves_once(
    api, client, coordinator, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    headers = {**api(coordinator).headers, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(_request_path(request, "/approval"), json={}, headers=headers)
    assert first.status_code == 201
    again = client.post(_request_path(request, "/approval"), json={}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert _events("reserved") == 2


def test_release_and_cancel_put_tubes_back_with_a_reason(
    api, coordinator, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    reserved = (
        api(coordinator).post(_request_path(request, "/approval"), json={}).get_json()["reserved"]
    )
    assert len(reserved) == 2

    unexplained = api(coordinator).post(_request_path(request, "/release"), json={"reason": ""})
    assert unexplained.status_code == 422 and "reason" in unexplained.get_json()["errors"]
    one = api(coordinator).post(
        _request_path(request, "/release"),
        json={"reason": "the study needs one only", "sample_ids": [reserved[0].lower()]},
    )
    assert one.status_code == 200, one.get_json()
    assert one.get_json()["released"] == [reserved[0]]
    not_held = api(coordinator).post(
        _request_path(request, "/release"),
        json={"reason": "again", "sample_ids": [reserved[0]]},
    )
    assert not_held.status_code == 409

    cancelled = api(coordinator).post(
        _request_path(request, "/cancel"), json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200
    assert cancelled.get_json()["released"] == [reserved[1]]
    assert cancelled.get_json()["request"]["status"] == "cancelled"
    assert cancelled.get_json()["request"]["cancel_reason"] == "withdrawn"
    assert _events("released") == 2
    db.session.rollback()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(Sample.reserved_for_request_id.is_not(None))
        )
        == 0
    )
    again = api(coordinator).post(_request_path(request, "/cancel"), json={"reason": "twice"})
    assert again.status_code == 409


def test_bad_request_fields_are_named(api, coordinator, protocol):
    answer = api(coordinator).post(
        f"{BASE}/{protocol.id}/requests",
        json={
            **_json_fields(request_fields()),
            "participants_wanted": 0,
            "collected_to": "9999-12-31",
            "sample_ids": "7KQ2M9XD3E",
            "min_volume_ml": "NaN",
        },
    )
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
    assert set(answer.get_json()["errors"]) == {
        "participants_wanted",
        "collected_to",
        "sample_ids",
        "min_volume_ml",
    }
    urine = api(coordinator).post(
        f"{BASE}/{protocol.id}/requests", json=_json_fields(request_fields(specimen="urine"))
    )
    assert urine.status_code == 422
    assert "may receive plasma, serum" in urine.get_json()["errors"]["specimen"][0]


def test_a_wide_collection_window_is_proposed_from_without_error(
    api, coordinator, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    with unit_of_work():
        # As a service caller may record them: days near the calendar's ends.
        db.session.get(DistributionRequest, request.id).collected_from = date(1, 1, 1)
        db.session.get(DistributionRequest, request.id).collected_to = date(9999, 12, 31)
    proposal = api(coordinator).get(_request_path(request, "/proposal"))
    assert proposal.status_code == 200
    assert len(proposal.get_json()["tubes"]) == 2


def test_a_request_is_found_only_under_its_own_protocol_and_biobank(
    api, coordinator, technician, collector, stranger, make_protocol, make_request
):
    request = make_request()
    other = make_protocol(approval_number="IRB-2026-0999")
    assert api(technician).get(_request_path(request)).status_code == 200
    wrong = api(coordinator).get(f"{BASE}/{other.id}/requests/{request.id}")
    assert wrong.status_code == 404 and wrong.mimetype == PROBLEM
    assert api(stranger).get(_request_path(request)).status_code == 404
    assert api(stranger).get(f"{BASE}/{request.protocol_id}/requests").status_code == 404
    assert api(collector).get(_request_path(request)).status_code == 403
    refused = api(technician).post(_request_path(request, "/approval"), json={})
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert requests.get_request(coordinator, request.id).status == "draft"


# --- picking -------------------------------------------------------------------------------------


def test_a_technician_picks_by_scan_from_the_pick_list(
    api, coordinator, technician, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    early = api(technician).get(_request_path(request, "/pick-list"))
    assert early.status_code == 409 and early.mimetype == PROBLEM  # a draft: nothing to pick
    reserved = api(coordinator).post(_request_path(request, "/approval"), json={})
    assert reserved.status_code == 201

    listed = api(technician).get(_request_path(request, "/pick-list"))
    assert listed.status_code == 200
    body = listed.get_json()
    assert sorted(row["barcode"] for row in body["rows"]) == sorted(reserved.get_json()["reserved"])
    assert body["picked"] == 0 and body["remaining"] == 2
    first = body["next"]
    assert first["barcode"] == body["rows"][0]["barcode"] and first["freezer"] == "Freezer 1"
    assert first["position"] and first["place"].endswith(first["position"])

    csv = api(technician).get(_request_path(request, "/pick-list.csv"))
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).splitlines()[0].startswith("sample_id,tube_type")
    pdf = api(technician).get(_request_path(request, "/pick-list.pdf"))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    wrong = api(technician).post(_request_path(request, "/picks"), json={"barcode": "7KQ2M9XD3E"})
    assert wrong.status_code == 409 and wrong.get_json()["next"] == first["barcode"]
    picked = api(technician).post(
        _request_path(request, "/picks"), json={"barcode": first["display_barcode"].lower()}
    )
    assert picked.status_code == 201, picked.get_json()
    answer = picked.get_json()
    assert answer["barcode"] == first["barcode"] and answer["already"] is False
    assert answer["remaining"] == 1 and answer["request"]["status"] == "picking"
    again = api(technician).post(
        _request_path(request, "/picks"), json={"barcode": first["barcode"]}
    )
    assert again.status_code == 200 and again.get_json()["already"] is True
    assert _events("checked_out") == 1


def test_a_bad_scan_or_volume_is_named(
    api, coordinator, technician, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    api(coordinator).post(_request_path(request, "/approval"), json={})
    empty = api(technician).post(_request_path(request, "/picks"), json={"barcode": ""})
    assert empty.status_code == 422 and set(empty.get_json()["errors"]) == {"barcode"}
    first = api(technician).get(_request_path(request, "/pick-list")).get_json()["next"]
    negative = api(technician).post(
        _request_path(request, "/picks"), json={"barcode": first["barcode"], "aliquot_ml": -1}
    )
    assert negative.status_code == 422 and set(negative.get_json()["errors"]) == {"aliquot_ml"}


# --- outbound shipments ---------------------------------------------------------------------------


def test_a_technician_packs_and_dispatches_signed_under_study_pseudonyms(
    api, coordinator, technician, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    reserved = api(coordinator).post(_request_path(request, "/approval"), json={})
    first, second = reserved.get_json()["reserved"]
    tech = api(technician)
    early = tech.post(_request_path(request, "/shipment"))
    assert early.status_code == 409 and early.mimetype == PROBLEM  # nothing picked yet
    assert tech.post(_request_path(request, "/picks"), json={"barcode": first}).status_code == 201

    opened = tech.post(_request_path(request, "/shipment"))
    assert opened.status_code == 201, opened.get_json()
    shipment = opened.get_json()["shipment"]
    assert shipment["status"] == "open" and shipment["institution"] == "University of Somewhere"
    assert tech.post(_request_path(request, "/shipment")).status_code == 200
    assert tech.get(_request_path(request)).get_json()["shipment"] == shipment["id"]
    path = f"/api/v1/distribution/shipments/{shipment['id']}"

    unpicked = tech.post(f"{path}/items", json={"barcode": second})
    assert unpicked.status_code == 409 and "not picked" in unpicked.get_json()["detail"]
    packed = tech.post(f"{path}/items", json={"barcode": first})
    assert packed.status_code == 201 and packed.get_json()["added"] is True
    pseudonym = packed.get_json()["pseudonym"]
    assert pseudonym.startswith("SP-")
    assert tech.post(f"{path}/items", json={"barcode": first}).status_code == 200

    unsigned = tech.post(
        f"{path}/dispatch",
        json={**DISPATCH, "signature_password": "not the password"},
    )
    assert unsigned.status_code == 422 and "signature_password" in unsigned.get_json()["errors"]
    dispatched = tech.post(
        f"{path}/dispatch",
        json=DISPATCH,
    )
    assert dispatched.status_code == 200, dispatched.get_json()
    answer = dispatched.get_json()
    assert answer["shipment"]["status"] == "dispatched"
    assert answer["released"] == [second]
    assert [(t["pseudonym"], t["barcode"]) for t in answer["tubes"]] == [(pseudonym, first)]
    assert "participant_id" not in answer["tubes"][0]
    again = tech.post(
        f"{path}/dispatch",
        json=DISPATCH,
    )
    assert again.status_code == 409

    csv = tech.get(f"{path}/manifest.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert pseudonym in text and "P100000001" not in text
    pdf = tech.get(f"{path}/manifest.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    back = tech.post(f"{path}/returns", json={"barcode": first, "reason": "unused"})
    assert back.status_code == 201, back.get_json()
    assert back.get_json()["status"] == "received"
    twice = tech.post(f"{path}/returns", json={"barcode": first, "reason": "unused"})
    assert twice.status_code == 200 and twice.get_json()["already"] is True
    assert tech.get(path).get_json()["shipment"]["status"] == "returned"


def test_another_biobank_does_not_find_an_outbound_shipment(
    api, coordinator, technician, stranger, collector, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    [first, _] = (
        api(coordinator).post(_request_path(request, "/approval"), json={}).get_json()["reserved"]
    )
    api(technician).post(_request_path(request, "/picks"), json={"barcode": first})
    shipment = api(coordinator).post(_request_path(request, "/shipment")).get_json()["shipment"]
    path = f"/api/v1/distribution/shipments/{shipment['id']}"
    assert api(stranger).get(path).status_code == 404
    assert api(stranger).post(f"{path}/items", json={"barcode": first}).status_code == 404
    assert api(collector).get(f"{path}/manifest.csv").status_code == 403


def _packed_shipment(api, coordinator, technician, make_request, store_participant):
    """One participant's two serum tubes reserved, the first picked and packed into the
    request's open shipment: (request, the shipment's path, first, second)."""
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    first, second = (
        api(coordinator).post(_request_path(request, "/approval"), json={}).get_json()["reserved"]
    )
    tech = api(technician)
    assert tech.post(_request_path(request, "/picks"), json={"barcode": first}).status_code == 201
    shipment = tech.post(_request_path(request, "/shipment")).get_json()["shipment"]
    path = f"/api/v1/distribution/shipments/{shipment['id']}"
    assert tech.post(f"{path}/items", json={"barcode": first}).status_code == 201
    return request, path, first, second


def test_an_open_outbound_shipment_is_cancelled_and_its_tubes_stay_picked(
    api, coordinator, technician, make_request, store_participant
):
    request, path, first, _ = _packed_shipment(
        api, coordinator, technician, make_request, store_participant
    )
    tech = api(technician)
    cancelled = tech.post(f"{path}/cancel", json={"reason": "courier booking cancelled"})
    assert cancelled.status_code == 200, cancelled.get_json()
    answer = cancelled.get_json()
    assert answer["shipment"]["status"] == "cancelled"
    assert answer["shipment"]["cancel_reason"] == "courier booking cancelled"
    assert answer["shipment"]["cancelled_by"] == "technician"
    assert answer["shipment"]["cancelled_at"] and answer["shipment"]["dispatched_at"] is None
    assert answer["unpacked"] == [first] and answer["tubes"] == []
    assert _events("unpacked") == 1
    assert tech.get(path).get_json()["shipment"]["status"] == "cancelled"

    # The tube is still picked for the request, which opens another shipment for it.
    assert tech.get(_request_path(request)).get_json()["shipment"] is None
    listed = tech.get(_request_path(request, "/pick-list")).get_json()
    assert [row["barcode"] for row in listed["rows"] if row["picked"]] == [first]
    reopened = tech.post(_request_path(request, "/shipment"))
    assert reopened.status_code == 201
    again = f"/api/v1/distribution/shipments/{reopened.get_json()['shipment']['id']}"
    assert again != path
    assert tech.post(f"{again}/items", json={"barcode": first}).status_code == 201
    assert tech.post(f"{path}/items", json={"barcode": first}).status_code == 409
    assert tech.post(f"{again}/dispatch", json=DISPATCH).status_code == 200


def test_cancelling_a_dispatched_shipment_is_a_409_saying_why(
    api, coordinator, technician, make_request, store_participant
):
    _, path, _, _ = _packed_shipment(api, coordinator, technician, make_request, store_participant)
    tech = api(technician)
    assert tech.post(f"{path}/dispatch", json=DISPATCH).status_code == 200
    refused = tech.post(f"{path}/cancel", json={"reason": "too late"})
    assert refused.status_code == 409 and refused.mimetype == PROBLEM
    number = f"D{path.rsplit('/', 1)[1]}"
    detail = refused.get_json()["detail"]
    assert detail.startswith(f"Shipment {number} is dispatched (dispatched by Technician")
    assert detail.endswith("cancelling is only possible while it is open. Reload the shipment.")
    assert tech.get(path).get_json()["shipment"]["status"] == "dispatched"
    assert _events("unpacked") == 0


def test_cancelling_twice_is_a_409_and_a_reason_is_required(
    api, coordinator, technician, make_request, store_participant
):
    _, path, _, _ = _packed_shipment(api, coordinator, technician, make_request, store_participant)
    missing = api(coordinator).post(f"{path}/cancel", json={})
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"reason"}
    blank = api(coordinator).post(f"{path}/cancel", json={"reason": " "})
    assert blank.status_code == 422 and set(blank.get_json()["errors"]) == {"reason"}
    assert (
        api(coordinator).post(f"{path}/cancel", json={"reason": "study paused"}).status_code == 200
    )
    twice = api(coordinator).post(f"{path}/cancel", json={"reason": "study paused"})
    assert twice.status_code == 409 and "is cancelled" in twice.get_json()["detail"]


def test_clinic_staff_may_not_cancel_and_another_biobank_does_not_find_the_shipment(
    api, coordinator, technician, stranger, collector, make_request, store_participant
):
    _, path, _, _ = _packed_shipment(api, coordinator, technician, make_request, store_participant)
    assert api(collector).post(f"{path}/cancel", json={"reason": "x"}).status_code == 403
    assert api(stranger).post(f"{path}/cancel", json={"reason": "x"}).status_code == 404
    assert api(technician).get(path).get_json()["shipment"]["status"] == "open"


def test_a_cancel_retried_with_its_key_is_answered_again_and_done_once(
    api, client, coordinator, technician, make_request, store_participant
):
    _, path, _, _ = _packed_shipment(api, coordinator, technician, make_request, store_participant)
    headers = {**api(technician).headers, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"{path}/cancel", json={"reason": "no courier"}, headers=headers)
    assert first.status_code == 200
    again = client.post(f"{path}/cancel", json={"reason": "no courier"}, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert _events("unpacked") == 1


def test_the_cancel_route_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/distribution/shipments/{shipment_id}/cancel"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["schema"]


def test_the_protocol_report_counts_each_request(
    api, coordinator, technician, stranger, make_request, store_participant
):
    store_participant("P100000001")
    request = make_request(participants_wanted=1)
    make_request()
    api(coordinator).post(_request_path(request, "/approval"), json={})
    path = f"{BASE}/{request.protocol_id}/report"
    answer = api(technician).get(path)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["requests"] == 2 and body["protocol"]["id"] == request.protocol_id
    assert body["total"]["requested"] == 6 and body["total"]["reserved"] == 2
    assert [line["request"]["id"] for line in body["lines"]] == [request.id, request.id + 1]
    csv = api(technician).get(f"{path}.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert api(technician).get(f"{path}.pdf").data.startswith(b"%PDF")
    assert api(stranger).get(path).status_code == 404

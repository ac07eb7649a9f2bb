"""A scanner that retries after a timeout never records a scan twice and gets the first
answer again."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, IdempotencyKey
from biobank.unit_of_work import unit_of_work


def _scan(client, headers, shipment_id, barcode, key):
    return client.post(
        f"/api/v1/shipments/{shipment_id}/receipt/scans",
        json={"barcode": barcode},
        headers={**headers, "Idempotency-Key": key},
    )


def _received_events():
    return db.session.scalar(sa.select(sa.func.count()).where(Event.type == "received"))


def test_a_retried_scan_gets_the_first_answer_and_one_event(
    client, auth_headers, technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    barcode = shipment.items[0].sample.barcode
    headers = auth_headers(technician)
    first = _scan(client, headers, shipment.id, barcode, "scan-7f3a")
    retry = _scan(client, headers, shipment.id, barcode, "scan-7f3a")
    assert first.status_code == retry.status_code == 200
    assert first.get_json()["outcome"] == "expected"
    assert retry.get_json() == first.get_json()  # not "duplicate": the first answer
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert _received_events() == 1
    # without the key, scanning again is a duplicate, still no second event
    again = client.post(
        f"/api/v1/shipments/{shipment.id}/receipt/scans", json={"barcode": barcode}, headers=headers
    )
    assert again.get_json()["outcome"] == "duplicate"
    assert _received_events() == 1


def test_a_scan_with_a_key_answers_as_one_without_it_does_and_keeps_that_very_answer(
    client, auth_headers, technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    first, second = (item.sample.barcode for item in shipment.items[:2])
    headers = auth_headers(technician)
    keyed = _scan(client, headers, shipment.id, first, "scan-shape")
    plain = client.post(
        f"/api/v1/shipments/{shipment.id}/receipt/scans", json={"barcode": second}, headers=headers
    )
    assert keyed.status_code == plain.status_code == 200
    assert keyed.content_type == plain.content_type == "application/json"
    assert keyed.get_json().keys() == plain.get_json().keys()
    assert keyed.get_json()["barcode"] == first and plain.get_json()["barcode"] == second
    kept = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.key == "scan-shape"))
    assert kept.response_body == keyed.get_data(as_text=True)


def test_the_same_key_for_a_different_request_is_422(
    client, auth_headers, technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    headers = auth_headers(technician)
    _scan(client, headers, shipment.id, shipment.items[0].sample.barcode, "key-1")
    other = _scan(client, headers, shipment.id, shipment.items[1].sample.barcode, "key-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]
    assert _received_events() == 1


def test_keys_belong_to_their_user(
    client, auth_headers, technician, make_user, biobank_site, collector, dispatched_shipment
):
    from biobank.models import Role

    colleague = make_user("tech.two", Role.TECHNICIAN, biobank_site)
    shipment = dispatched_shipment(collector)
    one = _scan(
        client,
        auth_headers(technician),
        shipment.id,
        shipment.items[0].sample.barcode,
        "shared-key",
    )
    two = _scan(
        client, auth_headers(colleague), shipment.id, shipment.items[1].sample.barcode, "shared-key"
    )
    assert one.get_json()["outcome"] == two.get_json()["outcome"] == "expected"


def test_a_refused_request_is_replayed_as_refused(client, auth_headers, collector, biobank_site):
    headers = {**auth_headers(collector), "Idempotency-Key": "open-1"}
    body = {"destination": "NOPE", "temperature": "refrigerated"}
    first = client.post("/api/v1/shipments", json=body, headers=headers)
    retry = client.post("/api/v1/shipments", json=body, headers=headers)
    assert first.status_code == retry.status_code == 422
    assert retry.get_json()["detail"] == first.get_json()["detail"]


def test_a_refusal_inside_the_write_is_kept_and_replayed(
    client, auth_headers, technician, collector, dispatched_shipment
):
    """The write's transaction rolls back (on PostgreSQL the key's claim with it): the refusal
    is still kept under the key and given again."""
    shipment = dispatched_shipment(collector)
    headers = {**auth_headers(technician), "Idempotency-Key": "scan-unknown-1"}
    path = f"/api/v1/shipments/{shipment.id}/receipt/scans"
    first = client.post(path, json={"barcode": "JQCNWGC14D"}, headers=headers)
    retry = client.post(path, json={"barcode": "JQCNWGC14D"}, headers=headers)
    assert first.status_code == retry.status_code == 404, first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    kept = db.session.scalar(
        sa.select(IdempotencyKey).where(IdempotencyKey.key == "scan-unknown-1")
    )
    assert kept.status == 404 and kept.user_id == technician.id


def test_a_created_shipment_is_not_created_twice(client, auth_headers, collector, biobank_site):
    headers = {**auth_headers(collector), "Idempotency-Key": "open-2"}
    body = {"destination": "MAYO-BB", "temperature": "refrigerated"}
    first = client.post("/api/v1/shipments", json=body, headers=headers)
    retry = client.post("/api/v1/shipments", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json()["id"] == first.get_json()["id"]
    listed = client.get("/api/v1/shipments", headers=headers).get_json()
    assert listed["total"] == 1


def test_a_server_error_frees_the_key_for_a_retry(
    app, client, auth_headers, collector, biobank_site
):
    from biobank.services.shipping import sending

    headers = {**auth_headers(collector), "Idempotency-Key": "open-3"}
    body = {"destination": "MAYO-BB", "temperature": "refrigerated"}
    original = sending.open_shipment

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    sending.open_shipment = broken
    try:
        assert client.post("/api/v1/shipments", json=body, headers=headers).status_code == 500
    finally:
        sending.open_shipment = original
    assert client.post("/api/v1/shipments", json=body, headers=headers).status_code == 201


def test_a_claim_in_progress_is_409_until_abandoned(client, auth_headers, collector, biobank_site):
    headers = {**auth_headers(collector), "Idempotency-Key": "open-5"}
    body = {"destination": "MAYO-BB", "temperature": "refrigerated"}
    first = client.post("/api/v1/shipments", json=body, headers=headers)
    with unit_of_work():
        record = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.key == "open-5"))
        record.status = None  # as if the first request were still running
    retry = client.post("/api/v1/shipments", json=body, headers=headers)
    assert retry.status_code == 409
    with unit_of_work():
        record = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.key == "open-5"))
        record.created_at -= timedelta(minutes=5)  # … until it is clearly abandoned
    assert client.post("/api/v1/shipments", json=body, headers=headers).status_code == 201
    assert first.status_code == 201


def test_a_retried_rack_upload_with_a_new_boundary_is_the_same_request(
    client, auth_headers, technician, boxes
):
    headers = {**auth_headers(technician), "Idempotency-Key": "rack-1"}
    path = f"/api/v1/storage/boxes/{boxes[0].id}/rack-scan"
    first = client.post(
        path, headers=headers, data={"file": (io.BytesIO(b"A1,NO READ\n"), "r.csv")}
    )
    retry = client.post(
        path, headers=headers, data={"file": (io.BytesIO(b"A1,NO READ\n"), "r.csv")}
    )
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("Idempotent-Replayed") == "true"


def test_a_bad_key_is_422(client, auth_headers, collector, biobank_site):
    headers = {**auth_headers(collector), "Idempotency-Key": "has spaces in it"}
    response = client.post("/api/v1/shipments", json={}, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]


def test_a_key_older_than_a_day_names_a_new_request(client, auth_headers, collector, biobank_site):
    headers = {**auth_headers(collector), "Idempotency-Key": "open-6"}
    first = client.post(
        "/api/v1/shipments",
        json={"destination": "MAYO-BB", "temperature": "refrigerated"},
        headers=headers,
    )
    with unit_of_work():
        record = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.key == "open-6"))
        record.created_at -= timedelta(hours=25)
    body = {"destination": "MAYO-BB", "temperature": "frozen"}
    second = client.post("/api/v1/shipments", json=body, headers=headers)
    assert second.status_code == 201  # not 422: the old request is forgotten
    assert "Idempotent-Replayed" not in second.headers
    assert second.get_json()["id"] != first.get_json()["id"]
    retry = client.post("/api/v1/shipments", json=body, headers=headers)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["id"] == second.get_json()["id"]


@pytest.mark.postgres
def test_retries_racing_with_one_key_scan_once(
    app, auth_headers, technician, collector, dispatched_shipment
):
    """Six copies of one scan at the same moment: one runs; the others wait for its claim and
    get a 409 (still running) or its answer; one event."""
    shipment = dispatched_shipment(collector)
    path = f"/api/v1/shipments/{shipment.id}/receipt/scans"
    body = {"barcode": shipment.items[0].sample.barcode}
    headers = {**auth_headers(technician), "Idempotency-Key": "scan-race"}
    start = threading.Barrier(6)
    answers: list[tuple[int, str | None, bool]] = []

    def retry() -> None:
        with app.app_context():
            try:
                start.wait()
                response = app.test_client().post(path, json=body, headers=headers)
                answers.append(
                    (
                        response.status_code,
                        (response.get_json() or {}).get("outcome"),
                        "Idempotent-Replayed" in response.headers,
                    )
                )
            finally:
                db.session.remove()

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 6
    ran = [a for a in answers if a[0] == 200 and not a[2]]
    assert ran == [(200, "expected", False)], answers
    assert all(a in {(409, None, False), (200, "expected", True)} for a in answers if a not in ran)
    assert _received_events() == 1


def test_a_429_frees_the_key_for_a_retry_after_the_lock(
    client, auth_headers, admin, technician, collector, dispatched_shipment
):
    """Locked out of signing: the same request, retried with its key once unlocked, runs."""
    from biobank.errors import ValidationFailed
    from biobank.services.core import accounts
    from tests.conftest import PASSWORD

    shipment = dispatched_shipment(collector)
    for _ in range(5):
        with pytest.raises(ValidationFailed), unit_of_work():
            accounts.sign(technician, "wrong-password-42", accounts.Meaning.RECEIPT)
    headers = {**auth_headers(technician), "Idempotency-Key": "close-1"}
    path = f"/api/v1/shipments/{shipment.id}/receipt/close"
    body = {"condition": "good", "signature_password": PASSWORD}
    assert client.post(path, json=body, headers=headers).status_code == 429
    with unit_of_work():
        accounts.unlock_user(admin, accounts.get_user("technician"))
    closed = client.post(path, json=body, headers=headers)
    assert closed.status_code == 200 and "Idempotent-Replayed" not in closed.headers

from __future__ import annotations

from datetime import timedelta

import pytest

from biobank.extensions import db
from biobank.models import Sample
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@pytest.fixture
def open_shipment(api, collector, biobank_site):
    def make(temperature="refrigerated"):
        response = api(collector).post(
            "/api/v1/shipments", json={"destination": "MAYO-BB", "temperature": temperature}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def test_pack_dispatch_receive_close_over_the_api(
    api, collector, technician, coordinator, open_shipment, finalized_collection
):
    shipment = open_shipment()
    assert shipment["status"] == "open"
    assert shipment["manifest_number"].startswith("MN")
    tubes = [s.barcode for s in finalized_collection(collector).samples]
    packer, path = api(collector), f"/api/v1/shipments/{shipment['id']}"
    first = packer.post(f"{path}/items", json={"barcode": tubes[0]})
    assert first.status_code == 201 and first.get_json()["added"] is True
    again = packer.post(f"{path}/items", json={"barcode": tubes[0].lower()})
    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "added": False}
    for barcode in tubes[1:]:
        assert packer.post(f"{path}/items", json={"barcode": barcode}).status_code == 201
    assert packer.delete(f"{path}/items/{tubes[-1]}").status_code == 204
    dispatched = packer.post(
        f"{path}/dispatch",
        json={
            "carrier": "ups",
            "tracking_number": "1z999aa10123456784",
            "signature_password": PASSWORD,
        },
    )
    assert dispatched.status_code == 200, dispatched.get_json()
    body = dispatched.get_json()
    assert body["status"] == "in_transit"
    assert body["tracking_number"] == "1Z999AA10123456784"
    assert len(body["items"]) == 7
    assert packer.post(f"{path}/items", json={"barcode": tubes[-1]}).status_code == 409

    receiver = api(technician)
    found = receiver.get(f"/api/v1/shipments?manifest_number={shipment['manifest_number'].lower()}")
    assert found.get_json()["items"][0]["id"] == shipment["id"]
    assert (found.get_json()["total"], found.get_json()["total_exact"]) == (1, True)
    opened = receiver.post(f"{path}/receipt").get_json()
    assert opened["counts"] == {
        "expected": 7,
        "received": 0,
        "missing": 7,
        "unexpected": 0,
        "damaged": 0,
        "elsewhere": 0,
    }
    assert len(opened["missing"]) == 7
    scan = receiver.post(f"{path}/receipt/scans", json={"barcode": tubes[0]})
    assert scan.status_code == 200
    assert scan.get_json()["outcome"] == "expected"
    assert scan.get_json()["counts"]["received"] == 1
    assert (
        receiver.post(f"{path}/receipt/scans", json={"barcode": tubes[0]}).get_json()["outcome"]
        == "duplicate"
    )
    unexpected = receiver.post(f"{path}/receipt/scans", json={"barcode": tubes[-1]}).get_json()
    assert unexpected["outcome"] == "unexpected"
    closed = receiver.post(
        f"{path}/receipt/close",
        json={"condition": "good", "temperature_c": 4, "signature_password": PASSWORD},
    )
    assert closed.status_code == 200
    assert closed.get_json()["status"] == "received_with_discrepancies"
    assert closed.get_json()["counts"]["missing"] == 6

    report = api(coordinator).get("/api/v1/reports/discrepancies").get_json()
    assert report["total"] == 1
    assert report["items"][0]["unexpected"] == [tubes[-1]]
    assert len(report["items"][0]["missing"]) == 6


def test_unknown_tube_at_receipt_is_404(api, collector, technician, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    from biobank.services.core import ids

    response = api(technician).post(
        f"/api/v1/shipments/{shipment.id}/receipt/scans", json={"barcode": ids.new_sample_id()}
    )
    assert response.status_code == 404
    assert "not known to this system" in response.get_json()["detail"]


def test_pack_conflicts_and_bad_scans(
    api, collector, open_shipment, finalized_collection, start_collection
):
    first, second = open_shipment(), open_shipment()
    tube = finalized_collection(collector).samples[0].barcode
    caller = api(collector)
    caller.post(f"/api/v1/shipments/{first['id']}/items", json={"barcode": tube})
    conflict = caller.post(f"/api/v1/shipments/{second['id']}/items", json={"barcode": tube})
    assert conflict.status_code == 409
    assert first["manifest_number"] in conflict.get_json()["detail"]
    draft = start_collection(collector, "P222333444").samples[0].barcode
    assert (
        caller.post(f"/api/v1/shipments/{second['id']}/items", json={"barcode": draft}).status_code
        == 409
    )
    bad = caller.post(f"/api/v1/shipments/{second['id']}/items", json={"barcode": "nonsense"})
    assert bad.status_code == 422 and "barcode" in bad.get_json()["errors"]


def test_dispatch_errors_name_the_fields(api, collector, open_shipment):
    shipment = open_shipment("frozen")
    response = api(collector).post(
        f"/api/v1/shipments/{shipment['id']}/dispatch",
        json={"signature_password": PASSWORD, "carrier": "fedex", "tracking_number": "123"},
    )
    assert response.status_code == 422
    assert {"tracking_number", "dry_ice_kg", "items"} <= set(response.get_json()["errors"])


def test_manifest_pdf_decodes_to_its_number(
    api, collector, coordinator, other_collector, dispatched_shipment
):
    from tests.decoding import decode, pdf_text, rasterize

    shipment = dispatched_shipment(collector)
    response = api(coordinator).get(f"/api/v1/shipments/{shipment.id}/manifest.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    first_page = rasterize(response.data, 300)[0]
    assert shipment.manifest_number in [text for _, text in decode(first_page)]
    text = pdf_text(response.data)
    assert "UN3373" in text and "P123456789" not in text
    assert (
        api(other_collector).get(f"/api/v1/shipments/{shipment.id}/manifest.pdf").status_code == 404
    )


def test_a_manifest_prints_times_stored_before_the_time_range_was_checked(
    api, collector, dispatched_shipment
):
    """Year 1 cannot be shown in a zone west of UTC: the manifest shows such a time in UTC
    rather than failing (the range is checked on input now; old rows may still hold one)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from biobank.extensions import db
    from biobank.models import Sample, Shipment
    from biobank.unit_of_work import unit_of_work

    shipment = dispatched_shipment(collector)
    with unit_of_work():
        db.session.execute(
            sa.update(Sample)
            .where(Sample.id == shipment.items[0].sample_id)
            .values(collected_at=datetime(1, 1, 1, tzinfo=UTC))
        )
        db.session.execute(
            sa.update(Shipment)
            .where(Shipment.id == shipment.id)
            .values(dispatched_at=datetime(1, 1, 1, tzinfo=UTC))
        )
    db.session.expire_all()
    response = api(collector).get(f"/api/v1/shipments/{shipment.id}/manifest.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"


def test_reports_over_the_api(api, collector, coordinator, finalized_collection):
    collection = finalized_collection(collector)
    for sample in collection.samples:  # finalized two days ago
        sample.finalized_at -= timedelta(hours=48)
    with unit_of_work():
        pass
    body = api(coordinator).get("/api/v1/reports/overdue?per_page=3").get_json()
    assert body["total"] == 8 and len(body["items"]) == 3
    row = body["items"][0]
    assert row["state"] == "overdue" and row["hours_outstanding"] >= 48
    assert row["sample"]["barcode"] in {s.barcode for s in collection.samples}
    assert api(coordinator).get("/api/v1/reports/overdue?state=missing").get_json()["total"] == 0
    assert api(collector).get("/api/v1/reports/overdue").status_code == 403
    assert db.session.get(Sample, collection.samples[0].id) is not None


def test_wrong_signature_passwords_lock_signing_with_a_429_until_an_admin_unlocks(
    api, technician, collector, admin, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    close = f"/api/v1/shipments/{shipment.id}/receipt/close"
    bench = api(technician)
    for attempt in range(5):
        wrong = bench.post(
            close, json={"condition": "good", "signature_password": "wrong-password-42"}
        )
        assert wrong.status_code == 422, (attempt, wrong.get_json())
        assert "That is not your password" in wrong.get_json()["errors"]["signature_password"][0]
    locked = bench.post(close, json={"condition": "good", "signature_password": PASSWORD})
    assert locked.status_code == 429
    assert locked.mimetype == "application/problem+json"
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    problem = locked.get_json()
    assert problem["type"] == "urn:biobank:problem:too-many-attempts"
    assert problem["status"] == 429 and problem["title"] == "Too many attempts"
    assert problem["retry_after"] == int(locked.headers["Retry-After"])
    assert "signing is locked for your account until" in problem["detail"]
    assert "ask an administrator to unlock it" in problem["detail"]
    assert problem["errors"] == {"signature_password": [problem["detail"]]}
    assert PASSWORD not in locked.get_data(as_text=True)
    assert bench.get(f"/api/v1/shipments/{shipment.id}").get_json()["status"] == "in_transit"

    unlocked = api(admin).post("/api/v1/users/technician/unlock", json={})
    assert unlocked.status_code == 200
    assert unlocked.get_json() == {"username": "technician", "unlocked": ["signature"]}
    closed = bench.post(close, json={"condition": "good", "signature_password": PASSWORD})
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "received_with_discrepancies"  # nothing was scanned


def test_a_receiving_scan_undone_over_the_api(api, collector, technician, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample
    caller = api(technician)
    scans = f"/api/v1/shipments/{shipment.id}/receipt/scans"
    assert caller.post(scans, json={"barcode": tube.barcode}).status_code == 200
    no_reason = caller.post(f"{scans}/undo", json={"barcode": tube.barcode})
    assert no_reason.status_code == 422
    undone = caller.post(
        f"{scans}/undo", json={"barcode": tube.barcode, "reason": "from the wrong box"}
    )
    assert undone.status_code == 200, undone.get_json()
    body = undone.get_json()
    assert (body["barcode"], body["status"]) == (tube.barcode, "in_transit")
    assert (body["counts"]["received"], body["counts"]["missing"]) == (0, 8)
    twice = caller.post(
        f"{scans}/undo", json={"barcode": tube.barcode, "reason": "from the wrong box"}
    )
    assert twice.status_code == 409
    assert "was not scanned into" in twice.get_json()["detail"]
    events = [
        e["type"] for e in caller.get(f"/api/v1/samples/{tube.barcode}/events").get_json()["items"]
    ]
    assert events[-2:] == ["received", "receipt_scan_undone"]
    assert (
        api(collector)
        .post(f"{scans}/undo", json={"barcode": tube.barcode, "reason": "x"})
        .status_code
        == 403
    )

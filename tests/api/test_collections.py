from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.extensions import db
from tests.decoding import decode, rasterize


def _start(api, collector, **body):
    body.setdefault("participant_id", "P123456789")
    if "tube_types" not in body and "claim_barcode" not in body:
        body.setdefault("kit", "BASELINE-ADULT")
    return api(collector).post("/api/v1/collections", json=body)


def test_start_a_collection(api, collector):
    response = _start(api, collector)
    assert response.status_code == 201
    body = response.get_json()
    assert body["participant_id"] == "P123456789"
    assert body["site"] == "UCSD-01"
    assert body["kit"] == "BASELINE-ADULT"
    assert body["status"] == "draft"
    assert body["warnings"] == []
    assert len(body["samples"]) == 8
    sample = body["samples"][0]
    assert set(sample) >= {
        "barcode",
        "tube_type",
        "status",
        "site",
        "collection_id",
        "parent",
        "flags",
        "location",
    }
    assert sample["status"] == "pending"
    assert sample["location"] is None
    assert sample["collection_id"] == body["id"]


def test_start_with_bad_input_is_422_per_field(api, collector):
    response = _start(api, collector, participant_id="12345", tube_types=["1ED04", "1ED04"])
    assert response.status_code == 422
    assert "participant_id" in response.get_json()["errors"]


def test_naive_times_are_refused(api, collector):
    collection = _start(api, collector).get_json()
    barcode = collection["samples"][0]["barcode"]
    response = api(collector).post(
        f"/api/v1/collections/{collection['id']}/samples/{barcode}/collected",
        json={"at": "2026-11-24T10:00:00"},
    )
    assert response.status_code == 422
    assert "at" in response.get_json()["errors"]


def test_the_whole_clinic_flow_over_the_api(api, collector):
    caller = api(collector)
    collection = _start(api, collector, tube_types=["1SST8", "1ED04"]).get_json()
    cid = collection["id"]
    sst, edta = (s["barcode"] for s in collection["samples"])
    drawn = utcnow() - timedelta(hours=2)
    for barcode in (sst, edta):
        response = caller.post(
            f"/api/v1/collections/{cid}/samples/{barcode}/collected", json={"at": drawn.isoformat()}
        )
        assert response.status_code == 200
    response = caller.post(
        f"/api/v1/collections/{cid}/samples/{sst.lower()}/processed",
        json={"at": (drawn + timedelta(minutes=10)).isoformat(), "centrifuge": "fixed_angle"},
    )
    body = response.get_json()
    assert response.status_code == 200
    [warning] = body["warnings"]
    assert warning["barcode"] == sst and warning["flag"] == "early_processing"
    assert body["samples"][0]["tube_type"] == "2SST8"
    assert body["samples"][0]["flags"] == ["early_processing"]
    response = caller.post(f"/api/v1/collections/{cid}/finalize", json={})
    assert response.status_code == 200
    assert response.get_json()["status"] == "finalized"
    # finalized tubes can no longer be edited: a state conflict
    response = caller.post(
        f"/api/v1/collections/{cid}/samples/{edta}/collected", json={"at": drawn.isoformat()}
    )
    assert response.status_code == 409
    assert "Amend" in response.get_json()["detail"]
    events = caller.get(f"/api/v1/samples/{sst}/events").get_json()["items"]
    assert [e["type"] for e in events] == [
        "created",
        "collected",
        "processed",
        "flagged",
        "finalized",
    ]
    assert events[0]["actor"] == "collector" and events[0]["site"] == "UCSD-01"


def test_cancel_restore_and_amend(api, collector, finalized_collection):
    collection = finalized_collection(collector)
    caller = api(collector)
    path = f"/api/v1/collections/{collection.id}"
    assert caller.post(f"{path}/cancel", json={}).status_code == 422
    cancelled = caller.post(f"{path}/cancel", json={"reason": "duplicate order"}).get_json()
    assert cancelled["status"] == "cancelled"
    assert {s["status"] for s in cancelled["samples"]} == {"cancelled"}
    assert caller.post(f"{path}/cancel", json={"reason": "again"}).status_code == 409
    restored = caller.post(f"{path}/restore", json={"reason": "not a duplicate"}).get_json()
    assert restored["status"] == "finalized"
    amended = caller.post(f"{path}/amend", json={"reason": "typo", "notes": "fasting"}).get_json()
    assert amended["notes"] == "fasting"
    assert amended["amendments"][0]["changes"]["notes"] == {"from": None, "to": "fasting"}


def _label_events(barcode: str) -> list[str]:
    from biobank.models import Event, Sample

    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Event.type)
            .join(Sample, Sample.id == Event.sample_id)
            .where(Sample.barcode == barcode, Event.type.in_(["labelled", "label_reprinted"]))
            .order_by(Event.id)
        )
    )


def test_labels_pdf_and_zpl(api, collector):
    caller = api(collector)
    collection = _start(api, collector, tube_types=["1UR10"]).get_json()
    barcode = collection["samples"][0]["barcode"]
    path = f"/api/v1/collections/{collection['id']}/labels"
    response = caller.post(f"{path}.pdf", json={})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Label-Count"] == "2"
    assert [t for page in rasterize(response.data, 300) for (_, t) in decode(page)] == [barcode] * 2
    assert _label_events(barcode) == ["labelled"]
    again = caller.post(f"{path}.zpl", json={})
    assert again.status_code == 422
    assert "reason" in again.get_json()["errors"]
    zpl = caller.post(f"{path}.zpl", json={"reason": "printer jam"})
    assert zpl.status_code == 200
    assert zpl.data.count(b"^XA") == 2
    assert "attachment" in zpl.headers["Content-Disposition"]
    assert _label_events(barcode) == ["labelled", "label_reprinted"]


def test_a_label_preview_is_a_get_that_records_nothing(api, collector):
    caller = api(collector)
    collection = _start(api, collector, tube_types=["1UR10"]).get_json()
    barcode = collection["samples"][0]["barcode"]
    preview = caller.get(f"/api/v1/collections/{collection['id']}/labels.pdf")
    assert preview.status_code == 200 and preview.headers["X-Label-Count"] == "2"
    assert "-preview.pdf" in preview.headers["Content-Disposition"]
    assert [t for page in rasterize(preview.data, 300) for (_, t) in decode(page)] == [barcode] * 2
    assert caller.get(f"/api/v1/collections/{collection['id']}/labels.zpl").status_code == 200
    assert _label_events(barcode) == []  # a preview is not a print: no reason asked, none kept


def test_a_print_retried_with_its_idempotency_key_is_the_same_file_printed_once(
    api, client, auth_headers, collector
):
    collection = _start(api, collector, tube_types=["1UR10"]).get_json()
    barcode = collection["samples"][0]["barcode"]
    path = f"/api/v1/collections/{collection['id']}/labels.pdf"
    headers = {**auth_headers(collector), "Idempotency-Key": "print-1"}
    first = client.post(path, json={"stock": "cryo-roll"}, headers=headers)
    retried = client.post(path, json={"stock": "cryo-roll"}, headers=headers)
    assert first.status_code == retried.status_code == 200
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.data == first.data and retried.mimetype == "application/pdf"
    assert retried.headers["Content-Disposition"] == first.headers["Content-Disposition"]
    assert retried.headers["X-Label-Count"] == "2"
    assert _label_events(barcode) == ["labelled"]  # printed once, not reprinted


def test_other_sites_and_roles(api, collector, other_collector, technician, coordinator):
    collection = _start(api, collector).get_json()
    path = f"/api/v1/collections/{collection['id']}"
    assert api(other_collector).get(path).status_code == 404
    barcode = collection["samples"][0]["barcode"]
    assert api(other_collector).get(f"/api/v1/samples/{barcode}").status_code == 404
    assert api(coordinator).get(path).status_code == 200
    assert _start(api, technician).status_code == 403
    listed = api(other_collector).get("/api/v1/collections").get_json()
    assert listed["total"] == 0 and listed["items"] == []


def test_sample_lookup_is_forgiving_and_checks_the_check_character(api, collector):
    collection = _start(api, collector).get_json()
    barcode = collection["samples"][0]["barcode"]
    shown = f"{barcode[:5]}-{barcode[5:]}".lower()
    assert api(collector).get(f"/api/v1/samples/{shown}").get_json()["barcode"] == barcode
    wrong = barcode[:-1] + ("0" if barcode[-1] != "0" else "1")
    response = api(collector).get(f"/api/v1/samples/{wrong}")
    assert response.status_code == 422
    assert "check character" in response.get_json()["detail"]


def test_list_samples_with_filters(api, collector):
    _start(api, collector)
    caller = api(collector)
    body = caller.get("/api/v1/samples?tube_type=1UR10").get_json()
    assert body["total"] == 1 and body["items"][0]["tube_type"] == "1UR10"
    assert caller.get("/api/v1/samples?status=pending&per_page=5").get_json()["total"] == 8
    assert caller.get("/api/v1/samples?status=stored").get_json()["total"] == 0
    assert caller.get("/api/v1/samples?status=lost").status_code == 422


def test_label_batches_over_the_api(api, coordinator, collector, clinic):
    response = api(coordinator).post(
        "/api/v1/label-batches", json={"site": "UCSD-01", "kit": "URINE-ONLY", "count": 2}
    )
    assert response.status_code == 201
    batch = response.get_json()
    assert len(batch["samples"]) == 2
    assert {s["status"] for s in batch["samples"]} == {"pending"}
    pdf = api(coordinator).post(f"/api/v1/label-batches/{batch['id']}/labels.pdf", json={})
    assert pdf.status_code == 200
    preview = api(coordinator).get(f"/api/v1/label-batches/{batch['id']}/labels.pdf")
    assert preview.status_code == 200 and "-preview.pdf" in preview.headers["Content-Disposition"]
    assert (
        api(coordinator)
        .post(f"/api/v1/label-batches/{batch['id']}/labels.zpl", json={})
        .status_code
        == 422
    )  # printed already: a reprint needs its reason
    found = [t for page in rasterize(pdf.data, 300) for (_, t) in decode(page)]
    assert sorted(set(found)) == sorted(s["barcode"] for s in batch["samples"])
    claimed = _start(api, collector, claim_barcode=batch["samples"][1]["barcode"])
    assert claimed.status_code == 201
    assert [s["barcode"] for s in claimed.get_json()["samples"]] == [batch["samples"][1]["barcode"]]


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("0001-01-01T00:00:00+14:00", "is before 2000-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00+00:00", "is before 2000-01-01T00:00:00Z"),
        ("1900-01-01T00:00:00Z", "is before 2000-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59-14:00", "is in the future"),
    ],
)
def test_times_outside_2000_to_now_are_422s_naming_the_field_and_range(
    api, collector, coordinator, finalized_collection, at, words
):
    caller = api(collector)
    collection = _start(api, collector, tube_types=["1SST8"]).get_json()
    path = f"/api/v1/collections/{collection['id']}"
    barcode = collection["samples"][0]["barcode"]
    for step in ("collected", "processed"):
        response = caller.post(f"{path}/samples/{barcode}/{step}", json={"at": at})
        assert response.status_code == 422, response.get_json()
        [message] = response.get_json()["errors"]["at"]
        assert message.startswith(f"at: {at.replace('Z', '+00:00')} {words}")
        assert "give a time from 2000-01-01T00:00:00Z up to now" in message
    response = caller.post(f"{path}/finalize", json={"at": at})
    assert response.status_code == 422 and "at" in response.get_json()["errors"]
    assert caller.get(path).status_code == 200
    assert caller.get(f"{path}/labels.pdf").status_code == 200

    finalized = finalized_collection(collector, "P987654321")
    correction = {"barcode": finalized.samples[0].barcode, "collected_at": at}
    response = caller.post(
        f"/api/v1/collections/{finalized.id}/amend",
        json={"reason": "typo", "samples": [correction]},
    )
    assert response.status_code == 422
    assert words in response.get_json()["errors"]["samples.0.collected_at"][0]

    response = api(coordinator).put(
        "/api/v1/participants/P123456789",
        json={"biospecimen_consent": True, "withdrawn_at": at},
    )
    assert response.status_code == 422
    assert words in response.get_json()["errors"]["withdrawn_at"][0]


def test_a_collection_with_a_time_stored_before_2000_still_shows_and_prints(
    api, collector, start_collection
):
    collection = start_collection(collector, tube_types=["1SST8", "1ED04"])
    _store_times_from_before_the_range(collection)
    caller = api(collector)
    assert caller.get(f"/api/v1/collections/{collection.id}").status_code == 200
    pdf = caller.get(f"/api/v1/collections/{collection.id}/labels.pdf")
    assert pdf.status_code == 200
    assert sorted(t for page in rasterize(pdf.data, 300) for (_, t) in decode(page)) == sorted(
        s.barcode for s in collection.samples
    )
    zpl = caller.get(
        f"/api/v1/collections/{collection.id}/labels.zpl", query_string={"reason": "smudged"}
    )
    assert zpl.status_code == 200


def _store_times_from_before_the_range(collection) -> None:
    """As data written before the range was checked: straight into the table."""
    import sqlalchemy as sa

    from biobank.extensions import db
    from biobank.models import Sample
    from biobank.unit_of_work import unit_of_work

    first, second = collection.samples
    with unit_of_work():
        db.session.execute(
            sa.update(Sample)
            .where(Sample.id == first.id)
            .values(collected_at=datetime(1, 1, 1, tzinfo=UTC), status="collected")
        )
        db.session.execute(
            sa.update(Sample)
            .where(Sample.id == second.id)
            .values(
                collected_at=datetime(1900, 1, 1, tzinfo=UTC),
                processed_at=datetime(1900, 1, 1, 1, tzinfo=UTC),
                status="collected",
            )
        )
    db.session.expire_all()

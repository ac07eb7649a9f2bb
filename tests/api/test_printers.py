"""The printers API: admins register a site's printers; people print to their own site's,
answered 201 when the printer took the labels and 502 when it did not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, PrinterJob
from tests.printers import allow_local_printers, fake_printer, refusing_port, scanned

PROBLEM = "application/problem+json"


@pytest.fixture
def register(app, api, admin):
    def make(port: int, site: str = "UCSD-01", name: str = "Bench Zebra", **body):
        allow_local_printers(app, port, *(low for low, _ in app.config["BIOBANK_PRINTER_PORTS"]))
        response = api(admin).post(
            "/api/v1/printers",
            json={"site": site, "name": name, "host": "127.0.0.1", "port": port, **body},
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def labelled_count() -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count(Event.id)).where(Event.type.in_(["labelled", "label_reprinted"]))
    )


def test_an_admin_registers_a_printer_and_others_may_not(app, api, admin, collector, clinic):
    allow_local_printers(app)
    made = api(admin).post(
        "/api/v1/printers",
        json={"site": "UCSD-01", "name": "Bench Zebra", "host": "127.0.0.1", "stock": "cap-2d"},
    )
    assert made.status_code == 201
    body = made.get_json()
    assert {k: body[k] for k in ("site", "name", "host", "port", "dpi", "stock", "active")} == {
        "site": "UCSD-01",
        "name": "Bench Zebra",
        "host": "127.0.0.1",
        "port": 9100,
        "dpi": 300,
        "stock": "cap-2d",
        "active": True,
    }
    refused = api(collector).post(
        "/api/v1/printers", json={"site": "UCSD-01", "name": "Mine", "host": "127.0.0.1"}
    )
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    again = api(admin).post(
        "/api/v1/printers", json={"site": "UCSD-01", "name": "bench zebra", "host": "127.0.0.1"}
    )
    assert again.status_code == 409 and "has a printer named" in again.get_json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"host": "http://10.0.0.5/"}, "host", "not an IP address or a host name"),
        ({"host": "10.0.0.5:9100"}, "host", "not an IP address or a host name"),
        ({"host": "127.0.0.1"}, "host", "not on a printer network"),
        ({"host": "169.254.169.254"}, "host", "not on a printer network"),
        ({"port": 5432}, "port", "not a printer port"),
        ({"port": 70000}, "port", "Must be greater than or equal to 1"),
        ({"dpi": 203}, "stock", "laid out for 300 dpi"),
        ({"dpi": 100}, "dpi", "Must be one of"),
        ({"stock": "cryo-sheet-letter"}, "stock", "laser sheet"),
    ],
)
def test_registering_refuses_where_no_printer_may_be(api, admin, clinic, body, field, says):
    response = api(admin).post(
        "/api/v1/printers",
        json={"site": "UCSD-01", "name": "Zebra", "host": "10.0.0.5", **body},
    )
    assert response.status_code == 422
    problem = response.get_json()
    assert response.mimetype == PROBLEM
    assert any(says in message for message in problem["errors"][field]), problem


def test_each_site_sees_its_own_printers_and_another_sites_are_404(
    app, api, admin, collector, coordinator, other_collector, clinic, other_clinic, register
):
    mine = register(9100)
    theirs = register(9100, site="BWH-01", name="BWH Zebra")
    listed = api(collector).get("/api/v1/printers").get_json()
    assert [p["id"] for p in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert api(coordinator).get("/api/v1/printers").get_json()["total"] == 0
    everyone = api(admin).get("/api/v1/printers").get_json()
    assert {p["id"] for p in everyone["items"]} == {mine["id"], theirs["id"]}
    only_bwh = api(admin).get("/api/v1/printers?site=BWH-01").get_json()
    assert [p["id"] for p in only_bwh["items"]] == [theirs["id"]]
    assert api(collector).get(f"/api/v1/printers/{mine['id']}").status_code == 200
    for path in (f"/api/v1/printers/{theirs['id']}", f"/api/v1/printers/{theirs['id']}/jobs"):
        hidden = api(collector).get(path)
        assert hidden.status_code == 404 and hidden.mimetype == PROBLEM


def test_an_admin_takes_a_printer_out_of_use(
    app, api, client, auth_headers, admin, collector, clinic, register
):
    printer = register(9100)
    path = f"/api/v1/printers/{printer['id']}"
    refused = client.patch(path, json={"active": False}, headers=auth_headers(collector))
    assert refused.status_code == 403
    changed = client.patch(
        path, json={"active": False, "name": "Old Zebra"}, headers=auth_headers(admin)
    )
    assert changed.status_code == 200
    assert (changed.get_json()["active"], changed.get_json()["name"]) == (False, "Old Zebra")
    bad = client.patch(path, json={"host": "8.8.8.8"}, headers=auth_headers(admin))
    assert bad.status_code == 422 and "host" in bad.get_json()["errors"]


def test_printing_a_collection_answers_the_sent_job_and_the_labels_scan(
    app, api, collector, clinic, start_collection, register
):
    collection = start_collection(collector)
    with fake_printer() as fake:
        printer = register(fake.port)
        response = api(collector).post(
            f"/api/v1/printers/{printer['id']}/jobs", json={"collection": collection.id}
        )
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    assert job["status"] == "sent" and job["unconfirmed"] is False
    assert (job["kind"], job["collection"], job["tubes"], job["labels"]) == (
        "collection",
        collection.id,
        8,
        9,
    )
    assert job["requested_by"] == "collector" and job["failure"] is None
    expected = [s.barcode for s in collection.samples for _ in range(s.tube_type.labels_per_tube)]
    assert scanned(fake.received[0]) == expected
    assert labelled_count() == 8
    listed = api(collector).get(f"/api/v1/printers/{printer['id']}/jobs").get_json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    one = api(collector).get(f"/api/v1/printers/{printer['id']}/jobs/{job['id']}")
    assert one.status_code == 200 and one.get_json()["status"] == "sent"


def test_a_printer_that_is_off_answers_502_and_nothing_is_recorded_as_printed(
    app, api, collector, clinic, start_collection, register
):
    collection = start_collection(collector)
    printer = register(refusing_port())
    response = api(collector).post(
        f"/api/v1/printers/{printer['id']}/jobs", json={"collection": collection.id}
    )
    assert response.status_code == 502 and response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["title"] == "The printer did not take the labels"
    assert "refused the connection: check that it is switched on" in problem["detail"]
    assert "Nothing was recorded as printed" in problem["detail"]
    assert problem["print_job"]["status"] == "failed"
    assert labelled_count() == 0
    [failed] = api(collector).get(f"/api/v1/printers/{printer['id']}/jobs").get_json()["items"]
    assert failed["id"] == problem["print_job"]["id"]
    assert failed["status"] == "failed" and "refused the connection" in failed["failure"]


def test_a_retry_with_the_same_idempotency_key_prints_once(
    app, api, collector, clinic, start_collection, register
):
    collection = start_collection(collector)
    with fake_printer() as fake:
        printer = register(fake.port)
        path = f"/api/v1/printers/{printer['id']}/jobs"
        caller = api(collector)
        caller.headers = {**caller.headers, "Idempotency-Key": "print-once-1"}
        first = caller.post(path, json={"collection": collection.id})
        second = caller.post(path, json={"collection": collection.id})
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.get_json() == first.get_json()
    assert len(fake.received) == 1
    assert db.session.scalar(sa.select(sa.func.count(PrinterJob.id))) == 1
    assert labelled_count() == 8


def test_a_retry_after_the_printer_was_off_prints_then(
    app, api, admin, client, auth_headers, collector, clinic, start_collection, register
):
    collection = start_collection(collector)
    printer = register(refusing_port())
    path = f"/api/v1/printers/{printer['id']}/jobs"
    caller = api(collector)
    caller.headers = {**caller.headers, "Idempotency-Key": "print-when-on"}
    assert caller.post(path, json={"collection": collection.id}).status_code == 502
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        moved = client.patch(
            f"/api/v1/printers/{printer['id']}",
            json={"port": fake.port},
            headers=auth_headers(admin),
        )
        assert moved.status_code == 200
        retried = caller.post(path, json={"collection": collection.id})
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") is None
    assert len(fake.received) == 1 and labelled_count() == 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "collection"),
        ({"collection": 1, "box": 1}, "box"),
        ({"barcodes": ["7KQ2M9XD3E"]}, "reason"),
        ({"barcodes": ["not-a-tube"], "reason": "smudged"}, "barcodes"),
        ({"collection": "one"}, "collection"),
    ],
)
def test_a_job_that_does_not_say_what_to_print_is_refused(
    app, api, collector, clinic, register, body, field
):
    printer = register(9100)
    response = api(collector).post(f"/api/v1/printers/{printer['id']}/jobs", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count(PrinterJob.id))) == 0


def test_no_one_prints_another_sites_record_or_to_another_sites_printer(
    app, api, admin, collector, other_collector, clinic, other_clinic, start_collection, register
):
    theirs = start_collection(other_collector, "P987654321")
    mine = start_collection(collector)
    with fake_printer() as fake:
        printer = register(fake.port)
        other = register(fake.port, site="BWH-01", name="BWH Zebra")
        for who, printer_id, collection in (
            (collector, printer["id"], theirs.id),
            (collector, other["id"], mine.id),
        ):
            answer = api(who).post(
                f"/api/v1/printers/{printer_id}/jobs", json={"collection": collection}
            )
            assert answer.status_code == 404
        forbidden = api(admin).post(
            f"/api/v1/printers/{printer['id']}/jobs", json={"collection": mine.id}
        )
        assert forbidden.status_code == 403
    assert fake.received == []
    assert db.session.scalar(sa.select(sa.func.count(PrinterJob.id))) == 0

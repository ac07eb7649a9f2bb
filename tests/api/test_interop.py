from __future__ import annotations

import csv
import io

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.specimen import Specimen

from biobank.services.storage import lifecycle, placing
from biobank.unit_of_work import unit_of_work


def test_specimen_is_valid_fhir_r4_with_the_pseudonym_only(
    api, technician, collector, received_tubes, boxes
):
    tubes = received_tubes(collector)
    sst = next(t for t in tubes if t.tube_type.code == "1SST8")
    with unit_of_work():
        placing.store_sample(technician, boxes[0], sst.barcode, "B2")
        child = lifecycle.aliquot(technician, sst.barcode, count=1, volume_ml=1).children[0]
    response = api(technician).get(f"/api/v1/samples/{sst.barcode}/fhir")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    body = response.get_json()
    specimen = Specimen.model_validate(body)
    assert specimen.identifier[0].value == sst.barcode
    assert specimen.accessionIdentifier.value == sst.barcode
    assert specimen.type.coding[0].code == "SER"
    assert specimen.status == "available"
    assert specimen.subject.identifier.value == "P123456789"
    assert specimen.subject.reference is None and specimen.subject.display is None
    assert specimen.collection.collectedDateTime is not None
    assert specimen.collection.collector.display == "Collector"
    assert specimen.receivedTime is not None
    assert specimen.container[0].description.endswith("Box 1 › B2")
    aliquot = Specimen.model_validate(
        api(technician).get(f"/api/v1/samples/{child.barcode}/fhir").get_json()
    )
    assert aliquot.parent[0].reference == f"Specimen/{sst.barcode}"
    with unit_of_work():
        lifecycle.quarantine(technician, sst.barcode, "freezer alarm overnight")
    held = api(technician).get(f"/api/v1/samples/{sst.barcode}/fhir").get_json()
    assert Specimen.model_validate(held).status == "unavailable"


def test_shipment_bundle_is_valid(api, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    body = api(collector).get(f"/api/v1/shipments/{shipment.id}/fhir").get_json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    assert len(bundle.entry) == 8
    assert {e.resource.id for e in bundle.entry} == {i.sample.barcode for i in shipment.items}


def test_csv_export_round_trips_with_the_list_filters(
    api, collector, other_collector, finalized_collection
):
    collection = finalized_collection(collector)
    finalized_collection(other_collector, "P999999999")
    response = api(collector).get("/api/v1/exports/samples.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["barcode"] for r in rows] == [s.barcode for s in collection.samples]
    assert rows[0]["status"] == "finalized" and rows[0]["site"] == "UCSD-01"
    listed = api(collector).get("/api/v1/samples?per_page=200").get_json()
    assert {r["barcode"] for r in rows} == {s["barcode"] for s in listed["items"]}
    urine = api(collector).get("/api/v1/exports/samples.csv?tube_type=1UR10")
    assert [r["tube_type"] for r in csv.DictReader(io.StringIO(urine.get_data(as_text=True)))] == [
        "1UR10"
    ]


def test_withdrawal_flags_every_tube_for_disposal(
    api, coordinator, technician, collector, received_tubes
):
    tubes = received_tubes(collector)
    response = api(coordinator).put(
        "/api/v1/participants/P123456789",
        json={
            "biospecimen_consent": True,
            "withdrawn_at": "2026-11-20T10:00:00+00:00",
            "withdrawal_reason": "asked to leave the program",
            "disposal_ceremony": True,
        },
    )
    assert response.status_code == 201
    listed = api(coordinator).get("/api/v1/reports/disposals").get_json()
    assert listed["total"] == len(tubes)
    assert all("disposal_required" in s["flags"] for s in listed["items"])
    events = api(technician).get(f"/api/v1/samples/{tubes[0].barcode}/events").get_json()["items"]
    assert events[-1]["type"] == "disposal_requested"
    assert events[-1]["details"]["disposal_ceremony"] is True
    again = api(coordinator).put(
        "/api/v1/participants/P123456789",
        json={"biospecimen_consent": True, "withdrawn_at": "2026-11-20T10:00:00+00:00"},
    )
    assert again.status_code == 200
    assert (
        api(collector)
        .put("/api/v1/participants/P123456789", json={"biospecimen_consent": True})
        .status_code
        == 403
    )


def test_occupancy_report(api, coordinator, technician, collector, received_tubes, freezer, boxes):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    [row] = api(coordinator).get("/api/v1/reports/occupancy").get_json()["items"]
    assert (row["freezer"], row["used"], row["capacity"], row["boxes"]) == ("Freezer 1", 8, 162, 2)
    assert row["stored_last_30_days"] == 8
    assert row["days_until_full"] == int(154 / (8 / 30))


def test_open_shipment_bundle_is_scoped_like_its_tubes(
    api, collector, technician, coordinator, make_user, make_site, finalized_collection
):
    """Issue 14: the biobank could read an open shipment's bundle (participant IDs, the
    collector's name, times) before the clinic dispatched it. Each Specimen is now shown only to
    whoever may see that tube, the rule of GET /samples/{barcode}/fhir."""
    from biobank.models import Role, SiteKind
    from biobank.services.shipping import sending
    from tests.conftest import PASSWORD

    tubes = finalized_collection(collector).samples
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for tube in tubes:
            sending.pack_sample(collector, shipment, tube.barcode)
    path = f"/api/v1/shipments/{shipment.id}"
    # The biobank sees that a shipment is being packed for it (barcodes and tube types only) …
    assert api(technician).get(path).status_code == 200
    # … but neither its tubes' details one by one nor as a bundle, until dispatch.
    assert api(technician).get(f"/api/v1/samples/{tubes[0].barcode}/fhir").status_code == 404
    hidden = api(technician).get(f"{path}/fhir")
    assert hidden.status_code == 404 and hidden.mimetype == "application/problem+json"
    body = hidden.get_data(as_text=True)
    assert "P123456789" not in body and "Collector" not in body
    other_bank = make_user(
        "technician.obb", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK)
    )
    assert api(other_bank).get(f"{path}/fhir").status_code == 404
    for reader in (collector, coordinator):  # the clinic packing it, and the coordinator
        bundle = Bundle.model_validate(api(reader).get(f"{path}/fhir").get_json())
        assert len(bundle.entry) == len(tubes)
        assert bundle.entry[0].resource.subject.identifier.value == "P123456789"

    with unit_of_work():
        sending.dispatch_shipment(
            collector,
            sending.get_shipment(collector, shipment.id),
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )
    shown = api(technician).get(f"{path}/fhir")
    assert shown.status_code == 200
    bundle = Bundle.model_validate(shown.get_json())
    assert {e.resource.id for e in bundle.entry} == {t.barcode for t in tubes}
    assert bundle.entry[0].resource.subject.identifier.value == "P123456789"
    assert api(other_bank).get(f"{path}/fhir").status_code == 404


def test_csv_export_takes_every_filter_the_list_takes(api, collector, finalized_collection):
    first = finalized_collection(collector)
    finalized_collection(collector, "P222222222")
    query = f"collection_id={first.id}&tube_type=1SST8"
    exported = api(collector).get(f"/api/v1/exports/samples.csv?{query}")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    listed = api(collector).get(f"/api/v1/samples?{query}").get_json()["items"]
    expected = sorted(s.barcode for s in first.samples if s.tube_type.code == "1SST8")
    assert sorted(r["barcode"] for r in rows) == expected
    assert sorted(s["barcode"] for s in listed) == expected

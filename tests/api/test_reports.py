from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from biobank.unit_of_work import unit_of_work
from tests.decoding import pdf_text


@pytest.fixture
def overdue(collector, finalized_collection):
    collection = finalized_collection(collector)
    with unit_of_work():
        for tube in collection.samples:
            tube.finalized_at -= timedelta(hours=48)
    return collection


def test_new_reports_as_json(api, coordinator, overdue):
    body = api(coordinator).get("/api/v1/reports/processing-deviations?days=30").get_json()
    assert body["items"][0]["site"] == "UCSD-01" and body["items"][0]["processed"] == 2
    body = api(coordinator).get("/api/v1/reports/collection-to-freezer").get_json()
    assert body == {"items": [], "total": 0, "total_exact": True, "page": 1, "per_page": 50}


@pytest.mark.parametrize(
    "name",
    ["overdue", "discrepancies", "processing", "collection-to-freezer", "occupancy", "disposals"],
)
def test_every_report_downloads_as_csv_and_pdf(api, coordinator, overdue, name):
    as_csv = api(coordinator).get(f"/api/v1/reports/{name}.csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    header = next(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    assert header
    as_pdf = api(coordinator).get(f"/api/v1/reports/{name}.pdf")
    assert as_pdf.status_code == 200 and as_pdf.mimetype == "application/pdf"
    assert "Page 1" in pdf_text(as_pdf.data)


def test_the_overdue_csv_and_pdf_hold_the_tubes(api, coordinator, overdue):
    rows = list(
        csv.DictReader(
            io.StringIO(api(coordinator).get("/api/v1/reports/overdue.csv").get_data(as_text=True))
        )
    )
    assert sorted(r["barcode"] for r in rows) == sorted(t.barcode for t in overdue.samples)
    assert {r["state"] for r in rows} == {"overdue"}
    text = pdf_text(api(coordinator).get("/api/v1/reports/overdue.pdf").data)
    assert overdue.samples[0].barcode in text and "P123456789" not in text


def test_downloads_check_their_filters_and_roles(api, coordinator, collector):
    assert api(coordinator).get("/api/v1/reports/overdue.csv?state=late").status_code == 422
    assert api(coordinator).get("/api/v1/reports/payroll.csv").status_code == 404
    assert api(collector).get("/api/v1/reports/overdue.csv").status_code == 403

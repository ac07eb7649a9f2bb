"""The coordinators' report pages over HTTP: overdue and missing tubes (filters, pages, CSV),
slow shipments, discrepancies; only coordinators and admins read them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import Sample, Shipment
from biobank.services.shipping import receiving
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD
from tests.decoding import pdf_text


@pytest.fixture
def coordinator_client(coordinator, login):
    return login(coordinator)


def finalized_hours_ago(samples, hours: float) -> None:
    """Move tubes' finalize time back, as if the clinic had finalized them that long ago."""
    with unit_of_work():
        for sample in samples:
            db.session.get(Sample, sample.id).finalized_at = utcnow() - timedelta(hours=hours)


def rows_of(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.split("<tr>")[1:]


# --- overdue and missing tubes ---------------------------------------------------------------


def test_overdue_and_missing_tubes_are_listed_oldest_first(
    coordinator_client, collector, finalized_collection, biobank_site
):
    overdue = finalized_collection(collector, "P111111111").samples
    missing = finalized_collection(collector, "P222222222").samples
    in_time = finalized_collection(collector, "P333333333").samples
    finalized_hours_ago(overdue, 40)
    finalized_hours_ago(missing, 11 * 24)

    response = coordinator_client.get("/reports/overdue")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = rows_of(html)
    assert len(rows) == 16
    first, last = rows[0], rows[-1]
    assert missing[0].display_barcode in "".join(rows[:8]) and ">missing<" in first
    assert ">264<" in first and "UCSD-01" in first and "not packed" in first
    assert ">overdue<" in last and ">40<" in last
    assert all(sample.display_barcode not in html for sample in in_time)

    only_missing = coordinator_client.get("/reports/overdue?state=missing").get_data(as_text=True)
    assert len(rows_of(only_missing)) == 8 and ">overdue<" not in only_missing
    assert '<option selected value="missing">' in only_missing


def test_an_overdue_tube_shows_its_manifest_and_shipment(
    coordinator_client, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    finalized_hours_ago([item.sample for item in shipment.items], 50)
    html = coordinator_client.get("/reports/overdue").get_data(as_text=True)
    assert shipment.manifest_number in html
    assert f'href="/shipments/{shipment.id}"' in html
    assert 'data-status="in_transit"' in html


def test_a_tube_missing_from_a_closed_receipt_is_missing_at_once(
    coordinator_client, collector, technician, dispatched_shipment, app
):
    shipment = dispatched_shipment(collector)
    *arrived, lost = [item.sample for item in shipment.items]
    with unit_of_work():
        for sample in arrived:
            receiving.receive_scan(technician, shipment, sample.barcode)
        receiving.close_receipt(technician, shipment, condition="good", signature_password=PASSWORD)
    html = coordinator_client.get("/reports/overdue").get_data(as_text=True)
    [row] = rows_of(html)
    assert lost.display_barcode in row and ">missing<" in row
    assert 'data-status="received_with_discrepancies"' in row
    if "samples.show" in app.view_functions:  # the sample pages are built separately
        assert f'href="/samples/{lost.barcode}"' in row


def test_the_site_filter_and_a_bad_filter(
    coordinator_client, collector, other_collector, finalized_collection, biobank_site
):
    ours = finalized_collection(collector).samples
    theirs = finalized_collection(other_collector).samples
    finalized_hours_ago([*ours, *theirs], 40)
    html = coordinator_client.get("/reports/overdue?site=BWH-01").get_data(as_text=True)
    assert len(rows_of(html)) == 8
    assert theirs[0].display_barcode in html and ours[0].display_barcode not in html

    response = coordinator_client.get("/reports/overdue?site=NOWHERE")
    assert response.status_code == 422
    assert "No site has that code" in response.get_data(as_text=True)


def test_a_long_report_has_pages_that_keep_the_filters(
    coordinator_client, collector, finalized_collection, biobank_site
):
    samples = []
    for n in range(7):
        samples += finalized_collection(collector, f"P44444444{n}").samples
    finalized_hours_ago(samples, 40)
    first = coordinator_client.get("/reports/overdue?state=overdue").get_data(as_text=True)
    assert len(rows_of(first)) == 50 and "Page 1 of 2 (56 tubes)" in first
    assert 'href="/reports/overdue?state=overdue&amp;page=2"' in first
    second = coordinator_client.get("/reports/overdue?state=overdue&page=2").get_data(as_text=True)
    assert len(rows_of(second)) == 6


def test_the_overdue_list_downloads_as_csv(
    coordinator_client, collector, finalized_collection, biobank_site
):
    samples = finalized_collection(collector).samples
    finalized_hours_ago(samples, 40)
    response = coordinator_client.get("/reports/overdue.csv?state=overdue")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(row["barcode"] for row in rows) == sorted(s.barcode for s in samples)
    assert {(row["site"], row["state"], row["hours_outstanding"]) for row in rows} == {
        ("UCSD-01", "overdue", "40")
    }
    assert coordinator_client.get("/reports/overdue.csv?state=late").status_code == 422


# --- slow shipments and discrepancies ---------------------------------------------------------


def test_a_shipment_in_transit_too_long_is_listed(
    coordinator_client, collector, dispatched_shipment
):
    slow, recent = dispatched_shipment(collector), dispatched_shipment(collector, "MAYO-BB")
    with unit_of_work():
        db.session.get(Shipment, slow.id).dispatched_at = utcnow() - timedelta(hours=80)
    html = coordinator_client.get("/reports/slow-shipments").get_data(as_text=True)
    [row] = rows_of(html)
    assert slow.manifest_number in row and ">80<" in row and "123456789012" in row
    assert "FedEx" in row
    assert recent.manifest_number not in html
    # Downloads like every other report: a row per slow shipment, the same figures.
    assert 'href="/reports/slow-shipments.csv"' in html
    assert 'href="/reports/slow-shipments.pdf"' in html
    csv = coordinator_client.get("/reports/slow-shipments.csv").get_data(as_text=True)
    header, line = csv.splitlines()
    assert header.startswith("manifest_number,origin,destination,temperature,tubes,")
    assert line.startswith(f"{slow.manifest_number},UCSD-01,MAYO-BB,refrigerated,8,")
    assert ",80,FedEx,123456789012" in line
    pdf = pdf_text(coordinator_client.get("/reports/slow-shipments.pdf").data)
    assert slow.manifest_number in "".join(pdf.split())
    assert "Hours in transit" in " ".join(pdf.split())


def test_discrepancies_list_missing_unexpected_and_damaged_tubes(
    coordinator_client, collector, technician, dispatched_shipment, finalized_collection
):
    shipment = dispatched_shipment(collector)
    stray = finalized_collection(collector, "P987654321", tube_types=["1SAL2"]).samples[0]
    first, second, *_, lost = [item.sample for item in shipment.items]
    with unit_of_work():
        for item in shipment.items[:-1]:
            receiving.receive_scan(
                technician, shipment, item.sample.barcode, damaged=item.sample == second
            )
        receiving.receive_scan(technician, shipment, stray.barcode)
        receiving.close_receipt(
            technician, shipment, condition="warm", temperature_c="12", signature_password=PASSWORD
        )
    html = coordinator_client.get("/reports/discrepancies").get_data(as_text=True)
    [row] = rows_of(html)
    cells = row.split("<td>")
    assert shipment.manifest_number in cells[1] and "UCSD-01 → MAYO-BB" in cells[2]
    assert "warm" in cells[4] and "12.0 °C" in cells[4]
    assert lost.display_barcode in cells[5]
    assert stray.display_barcode in cells[6]
    assert second.display_barcode in cells[7] and first.display_barcode not in cells[7]
    assert "none" in cells[8]
    assert 'href="/reports/discrepancies.csv"' in html
    csv = coordinator_client.get("/reports/discrepancies.csv").get_data(as_text=True)
    header, line = csv.splitlines()
    assert header.split(",")[-2:] == ["late", "arrived_elsewhere"]
    assert line.startswith(f"{shipment.manifest_number},UCSD-01,MAYO-BB,") and lost.barcode in line
    # A narrow column may wrap a manifest number: read the PDF's text without line breaks.
    pdf = "".join(pdf_text(coordinator_client.get("/reports/discrepancies.pdf").data).split())
    assert shipment.manifest_number in pdf


# --- who reads reports ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["collector", "technician"])
def test_only_coordinators_read_reports(request, login, role, biobank_site):
    client = login(request.getfixturevalue(role))
    for path in ("/reports", "/reports/overdue", "/reports/overdue.csv", "/reports/discrepancies"):
        assert client.get(path).status_code == 403, path
    assert client.get("/reports/slow-shipments").status_code == 403


def test_an_admin_reads_reports_too(admin, login):
    client = login(admin)
    assert client.get("/reports").headers["Location"] == "/reports/overdue"
    assert client.get("/reports/overdue").status_code == 200


@pytest.mark.parametrize("name", ["processing", "collection-to-freezer", "occupancy", "disposals"])
def test_table_reports_have_pages_and_downloads(coordinator_client, name):
    html = coordinator_client.get(f"/reports/{name}").get_data(as_text=True)
    assert f'href="/reports/{name}.csv"' in html and f'href="/reports/{name}.pdf"' in html
    pdf = coordinator_client.get(f"/reports/{name}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"


def test_report_columns_read_as_words_on_the_page_and_in_the_pdf_names_in_the_csv(
    coordinator_client, collector, finalized_collection
):
    finalized_collection(collector)  # SST and PST tubes processed: the report has a row

    html = coordinator_client.get("/reports/processing").get_data(as_text=True)
    assert '<th scope="col">SST and PST tubes processed</th>' in html
    assert '<th scope="col">Deviations (%)</th>' in html
    pdf = " ".join(pdf_text(coordinator_client.get("/reports/processing.pdf").data).split())
    assert "SST and PST tubes processed" in pdf and "sst_pst" not in pdf.lower()
    csv = coordinator_client.get("/reports/processing.csv").get_data(as_text=True)
    assert csv.splitlines()[0] == (
        "site,sst_pst_processed,spun_within_30_min,spun_after_4_h,deviation_percent"
    )
    assert "Sst pst" not in html


def test_a_bad_window_is_refused(coordinator_client):
    assert coordinator_client.get("/reports/processing?days=0").status_code == 422
    assert coordinator_client.get("/reports/processing?days=3651").status_code == 422
    typed = coordinator_client.get("/reports/processing?days=abc")  # was read as no window
    assert typed.status_code == 422 and "whole number" in typed.get_data(as_text=True)

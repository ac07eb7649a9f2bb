"""Issue 14: every CSV export neutralises formulas (OWASP CSV injection), read back with
csv.reader the way a program would, and as a spreadsheet would see the first character."""

from __future__ import annotations

import csv
import io

import pytest

from biobank.services.reporting import reports
from biobank.services.storage import freezer_tree, placing
from biobank.unit_of_work import unit_of_work

LINK = '=HYPERLINK("http://x")'
SUM = "@SUM(1+1)"


def _rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _hostile_storage(technician, tubes):
    """A freezer and a box with formula names, a tube stored in the box."""
    with unit_of_work():
        freezer = freezer_tree.create_freezer(technician, name=SUM, temperature_c=-80)
        box = freezer_tree.create_container(
            technician, parent_id=freezer.id, kind="box", name=LINK, rows=9, cols=9
        )
        placing.store_sample(technician, box, tubes[0].barcode, "A1")
    return freezer, box


def test_the_samples_export_quotes_formula_names(api, technician, collector, received_tubes):
    tubes = received_tubes(collector)
    _hostile_storage(technician, tubes)
    rows = _rows(api(technician).get("/api/v1/exports/samples.csv"))
    [stored] = [r for r in rows if r["barcode"] == tubes[0].barcode]
    assert stored["box"] == "'" + LINK
    assert stored["freezer"] == "'" + SUM
    assert stored["position"] == "A1"


def test_the_occupancy_report_quotes_formula_names(
    api, coordinator, technician, collector, received_tubes, login
):
    tubes = received_tubes(collector)
    _hostile_storage(technician, tubes)
    for response in (
        api(coordinator).get("/api/v1/reports/occupancy.csv"),
        login(coordinator).get("/reports/occupancy.csv"),
    ):
        [row] = _rows(response)
        assert row["freezer"] == "'" + SUM
        assert row["used"] == "1"


@pytest.mark.parametrize("name", sorted(reports.REPORT_TABLES))
def test_every_report_csv_quotes_formula_cells(api, coordinator, login, monkeypatch, name):
    """Whatever a report holds (free text reaches some: freezer names, reasons), its CSV goes
    through the one safe writer, over the API and the web alike."""
    _, accepted = reports.REPORT_TABLES[name]

    def hostile(actor, **filters):
        return reports.ReportTable(
            name, "Hostile", ("text", "number", "negative"), [(LINK, -80, "-20"), (SUM, 1, "")]
        )

    monkeypatch.setitem(reports.REPORT_TABLES, name, (hostile, accepted))
    for response in (
        api(coordinator).get(f"/api/v1/reports/{name}.csv"),
        login(coordinator).get(f"/reports/{name}.csv"),
    ):
        assert _rows(response) == [
            {"text": "'" + LINK, "number": "-80", "negative": "-20"},
            {"text": "'" + SUM, "number": "1", "negative": ""},
        ]

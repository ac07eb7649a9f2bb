"""The scan box on every page lands on the scanned thing's page."""

from __future__ import annotations

import pytest

from biobank.services.core import ids


def test_every_page_has_the_scan_box(collector, login):
    html = login(collector).get("/").get_data(as_text=True)
    assert 'action="/scan"' in html and 'name="code"' in html


def test_a_tube_goes_to_its_sample_page(collector, login, start_collection):
    tube = start_collection(collector).samples[0]
    response = login(collector).get(f"/scan?code={tube.display_barcode.lower()}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/samples/{tube.barcode}"


def test_a_manifest_goes_to_receiving_for_the_destination(
    technician, collector, login, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    at_biobank = login(technician).get(f"/scan?code={shipment.manifest_number}")
    assert at_biobank.headers["Location"] == f"/receiving/{shipment.id}"


def test_a_manifest_goes_to_the_shipment_page_for_its_clinic(collector, login, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    response = login(collector).get(f"/scan?code={shipment.manifest_number.lower()}")
    assert response.headers["Location"] == f"/shipments/{shipment.id}"


def test_a_box_goes_to_its_grid(technician, login, boxes):
    response = login(technician).get(f"/scan?code={boxes[1].barcode}")
    assert response.headers["Location"] == f"/storage/boxes/{boxes[1].id}"


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("7KQ2M9XD3A", 422, "should be E"),
        ("hello", 422, "has 5"),
        ("MN123", 422, "looks like a manifest or box code but does not check out"),
    ],
)
def test_bad_codes_say_why_and_keep_the_input(collector, login, code, status, message):
    response = login(collector).get(f"/scan?code={code}")
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html
    assert f'value="{code}"' in html


def test_another_sites_tube_is_not_found(collector, other_collector, login, start_collection):
    tube = start_collection(other_collector).samples[0]
    response = login(collector).get(f"/scan?code={tube.barcode}")
    assert response.status_code == 404  # another site's record: as if it did not exist
    html = response.get_data(as_text=True)
    assert "is visible to you" in html and f'value="{tube.barcode}"' in html


def test_an_unknown_valid_id_is_not_found(collector, login):
    response = login(collector).get(f"/scan?code={ids.new_sample_id()}")
    assert response.status_code == 404

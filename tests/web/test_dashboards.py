from __future__ import annotations

import re

from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work


def test_coordinator_home_draws_its_charts_inline(
    coordinator, technician, collector, login, received_tubes, freezer
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    html = login(coordinator).get("/").get_data(as_text=True)
    assert html.count("<svg viewBox") == 3
    assert 'role="img"' in html and "Tubes received per day" in html
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert re.search(r"<title>\d\d \w\w\w: 8 received</title>", html)
    assert 'href="/reports/overdue?state=missing"' in html


def test_each_tile_links_to_its_work(collector, technician, login, start_collection):
    start_collection(collector)
    html = login(collector).get("/").get_data(as_text=True)
    assert 'href="/collections?status=draft"' in html
    assert 'href="/collections/1"' in html


def test_technician_home_links_to_receiving(technician, collector, login, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    html = login(technician).get("/").get_data(as_text=True)
    assert f'href="/receiving/{shipment.id}"' in html
    assert "<td>Refrigerated (2–8 °C)</td>" in html and "<td>refrigerated</td>" not in html


def test_a_count_of_one_is_singular(app, collector, login, finalized_collection):
    from biobank.web import counted

    assert (counted(1, "tube"), counted(0, "tube"), counted(8, "box", "boxes")) == (
        "1 tube",
        "0 tubes",
        "8 boxes",
    )
    finalized_collection(collector, tube_types=["1ED04"])
    html = login(collector).get("/").get_data(as_text=True)
    assert "Collection #1</a>: 1 tube</li>" in html

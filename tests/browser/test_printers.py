"""Label printers in a real browser: an admin registers the clinic's printer, and a collector
prints a collection's labels straight to it from the collection page. The printer is a local
TCP listener; what it received is rendered with zplkit and every label decodes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event
from biobank.services.collecting import printers
from biobank.unit_of_work import unit_of_work
from tests.browser.conftest import screenshot
from tests.browser.test_collections import log_in
from tests.printers import allow_local_printers, fake_printer, refusing_port, scanned

pytestmark = pytest.mark.browser


def test_an_admin_registers_a_printer_and_a_collector_prints_to_it(
    app, page, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    expected = [s.barcode for s in collection.samples for _ in range(s.tube_type.labels_per_tube)]
    db.session.rollback()
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        log_in(page, "admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Printers").click()
        page.wait_for_url("**/admin/printers")
        page.select_option("#register-site", "UCSD-01")
        page.fill("#register-name", "Bench Zebra")
        page.fill("#register-host", "192.0.2.7")  # not on a printer network: said beside it
        page.fill("#register-port", str(fake.port))
        with page.expect_navigation():
            page.get_by_role("button", name="Register printer").click()
        assert "is not on a printer network" in page.locator("#register-host-error").inner_text()
        assert page.input_value("#register-name") == "Bench Zebra"  # what was typed is kept
        page.fill("#register-host", "127.0.0.1")
        with page.expect_navigation():
            page.get_by_role("button", name="Register printer").click()
        assert "Bench Zebra is registered at UCSD-01" in page.locator(".flash").inner_text()
        assert page.get_by_role("link", name="Bench Zebra").is_visible()
        page.get_by_role("button", name="Log out").click()

        log_in(page, "collector")
        page.goto(f"/collections/{collection.id}")
        labels_card = page.locator(".labels-card")
        with page.expect_navigation():
            labels_card.get_by_role("button", name="Print to Bench Zebra").click()
        page.wait_for_url(f"**/collections/{collection.id}")
        flash = page.locator(".flash-success").inner_text()
        assert flash.startswith("Sent 9 labels to Bench Zebra (8 tubes, print job ")
        screenshot(page, "guide-print-to-printer", full_page=False)
        page.reload()  # POST/redirect/GET: a reload prints nothing
        assert len(fake.received) == 1
    assert scanned(fake.received[0]) == expected
    db.session.rollback()
    labelled = sa.select(sa.func.count(Event.id)).where(Event.type == "labelled")
    assert db.session.scalar(labelled) == 8


def test_a_printer_that_is_off_says_nothing_was_recorded(
    app, page, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    port = refusing_port()
    allow_local_printers(app, port)
    with unit_of_work():
        printers.register_printer(
            admin, site="UCSD-01", name="Bench Zebra", host="127.0.0.1", port=port
        )
    db.session.rollback()
    log_in(page, "collector")
    page.goto(f"/collections/{collection.id}")
    with page.expect_navigation():
        page.locator(".labels-card").get_by_role("button", name="Print to Bench Zebra").click()
    alert = page.get_by_role("alert").inner_text()
    assert "refused the connection: check that it is switched on" in alert
    assert "Nothing was recorded as printed" in alert
    db.session.rollback()
    labelled = sa.select(sa.func.count(Event.id)).where(Event.type == "labelled")
    assert db.session.scalar(labelled) == 0

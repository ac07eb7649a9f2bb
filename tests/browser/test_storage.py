"""A technician's storage bench in a real browser: scan tubes into a box's highlighted position
without a reload, choose a cell, read refusals, then open a stored tube's page from its cell.
The test thread stays out of the database while the server runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from biobank.extensions import db
from biobank.services.core import ids
from biobank.services.core.samples import find_by_barcode
from tests.browser.conftest import screenshot
from tests.browser.test_collections import focused_id, log_in

pytestmark = pytest.mark.browser


def test_a_technician_stores_tubes_by_scanning_into_the_highlighted_position(
    page, technician, collector, freezer, boxes, received_tubes, dispatched_shipment
):
    tubes = [(t.barcode, t.display_barcode, t.tube_type.code) for t in received_tubes(collector)]
    in_transit = dispatched_shipment(collector, participant_id="P222222222").items[0].sample
    in_transit_id = in_transit.barcode
    box_id, freezer_id = boxes[0].id, freezer.id
    db.session.rollback()  # let go of the test thread's snapshot while the browser writes

    log_in(page, "technician")
    page.goto(f"/storage/boxes/{box_id}")
    page.evaluate("window.__marker = 'still here'")
    feedback = page.locator("#store-feedback")

    # A1 is where the first scan goes; the scan field has the focus
    expect(page.get_by_role("button", name="A1, empty")).to_have_attribute("aria-pressed", "true")
    assert focused_id(page) == "store-barcode"

    first, first_shown, first_code = tubes[0]
    page.keyboard.type(first.lower())  # scanners and people type in any case
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name=f"A1, {first_code} {first_shown}")).to_be_visible()
    expect(page.get_by_role("button", name="A2, empty")).to_have_attribute("aria-pressed", "true")
    expect(feedback).to_have_text(f"Stored {first_code} {first_shown} in A1. Next: A2.")
    assert page.input_value("#store-position") == "A2"
    assert focused_id(page) == "store-barcode"
    assert page.evaluate("window.__marker") == "still here"  # no reload

    # choose C5 by clicking it: the next scan goes there, and the run carries on at C6
    page.get_by_role("button", name="C5, empty").click()
    expect(page.get_by_role("button", name="C5, empty")).to_have_attribute("aria-pressed", "true")
    assert focused_id(page) == "store-barcode"
    second, second_shown, second_code = tubes[1]
    page.keyboard.type(second)
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name=f"C5, {second_code} {second_shown}")).to_be_visible()
    expect(page.get_by_role("button", name="C6, empty")).to_have_attribute("aria-pressed", "true")

    # a tube not yet received, then one nobody knows: the service's sentence, nothing stored
    page.keyboard.type(in_transit_id)
    page.keyboard.press("Enter")
    expect(feedback).to_contain_text("is in transit: only received tubes are stored.")
    assert page.input_value("#store-barcode") == in_transit_id  # given back, selected
    unknown = ids.new_sample_id()
    page.keyboard.type(unknown)
    page.keyboard.press("Enter")
    expect(feedback).to_contain_text(f"No sample {ids.display(unknown)}")
    expect(page.get_by_role("button", name="C6, empty")).to_have_attribute("aria-pressed", "true")
    assert page.locator(".box-grid a.cell").count() == 2
    assert focused_id(page) == "store-barcode"

    # the grid works from the keyboard: arrows move between cells
    page.get_by_role("link", name=re.compile(r"^A1, ")).focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "A2, empty"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "B2, empty"
    page.locator("#store-barcode").focus()
    screenshot(page, "box-grid")

    page.goto(f"/storage/freezers/{freezer_id}")
    expect(page.locator("#container-" + str(box_id))).to_contain_text("2 / 81")
    screenshot(page, "freezer")

    # a stored tube's cell opens its page: where it is and what happened to it
    page.goto(f"/storage/boxes/{box_id}")
    with page.expect_navigation():
        page.get_by_role("link", name=f"A1, {first_code} {first_shown}").click()
    assert page.url.endswith(f"/samples/{first}")
    expect(page.locator(".path")).to_have_text("Freezer 1 › Shelf 1 › Box 1 › A1")
    timeline = page.locator(".timeline .event-what")
    expect(timeline.first).to_have_text("Created")
    expect(timeline.last).to_have_text("Stored")
    screenshot(page, "sample-page")

    db.session.rollback()  # read what the server committed
    assert find_by_barcode(first).position.label == "A1"
    assert find_by_barcode(second).position.label == "C5"
    assert find_by_barcode(in_transit_id).position is None

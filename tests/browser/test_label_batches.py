"""A coordinator prints pre-labelled kits for a clinic in a real browser: makes a batch, prints
its labels as a PDF whose barcodes decode, and is asked for a reason to print them again."""

from __future__ import annotations

import pytest

from biobank.extensions import db
from tests.browser.conftest import screenshot
from tests.browser.test_collections import log_in
from tests.decoding import decode, rasterize

pytestmark = pytest.mark.browser


def test_a_coordinator_makes_and_prints_a_batch_of_kits(page, coordinator, clinic):
    db.session.rollback()
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, "coordinator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Label kits").click()
    page.wait_for_url("**/label-batches")
    page.select_option("#batch-site", "UCSD-01")
    page.select_option("#batch-kit", "URINE-ONLY")
    page.fill("#batch-count", "4")
    with page.expect_navigation():
        page.get_by_role("button", name="Make the batch").click()
    assert "4 URINE-ONLY kits for UCSD-01 are ready to print" in page.locator(".flash").inner_text()
    assert page.locator("table tbody tr").count() == 4
    page.select_option("#print-stock", "cryo-roll")
    screenshot(page, "guide-label-batch", full_page=False)

    with page.expect_download() as printed:
        page.get_by_role("button", name="Print labels (PDF)").click()
    with open(printed.value.path(), "rb") as pdf:
        found = {text for image in rasterize(pdf.read(), 300) for (_, text) in decode(image)}
    shown = page.locator("table tbody code.barcode").all_inner_texts()
    assert found == {code.replace("-", "") for code in shown}

    page.reload()  # printed now: printing again is a reprint, which asks why
    assert page.get_by_role("heading", name="Reprint the labels").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Reprint labels (PDF)").click()
    assert "a reprint needs a reason" in page.locator("#print-reason-error").inner_text()

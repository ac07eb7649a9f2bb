"""A coordinator records a participant's withdrawal in a real browser; the tubes drawn from
them are flagged for disposal."""

from __future__ import annotations

import pytest

from biobank.extensions import db
from tests.browser.conftest import screenshot
from tests.browser.test_collections import log_in

pytestmark = pytest.mark.browser


def test_a_coordinator_records_a_withdrawal(page, coordinator, collector, finalized_collection):
    finalized_collection(collector, "P135792468")
    db.session.rollback()
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, "coordinator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Participants").click()
    page.fill("#lookup-participant", "p135792468")
    with page.expect_navigation():
        page.get_by_role("button", name="Find").click()
    assert "Not recorded yet" in page.content()
    page.get_by_label("Has given biospecimen consent").check()
    page.fill("#participant-withdrawn", "2026-01-15")
    page.fill("#participant-reason", "moved away")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    flash = page.locator(".flash").inner_text()
    assert "P135792468 recorded: withdrawn, 8 tubes to dispose of." in flash
    screenshot(page, "guide-participant-withdrawn", full_page=False)
    page.get_by_role("link", name="8 tubes").click()
    page.wait_for_url("**/reports/disposals")
    assert page.locator("table tbody tr").count() == 8

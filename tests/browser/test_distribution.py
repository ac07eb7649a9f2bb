"""Distribution to research in a real browser: a coordinator records a study's protocol and
its request through the forms, reads the proposal (tubes by participant with where each
sits, the shortfall in words) and approves it; a technician opens the pick list and picks by
scanning (typed + Enter, as a USB scanner does) without the page reloading: a wrong tube says
where the right one is, and the picked count, the list and the next tube follow each right
one; then packs the outbound shipment by scanning and
dispatches it with a signature (a wrong password said beside its field). Screenshots for the
guide.

Stored tubes are built through the services before the browser starts; the test thread then
drops its read snapshot (``db.session.rollback()``) so it never holds the SQLite database
while the server writes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import DistributionRequest, Sample
from tests.browser import test_shipping as shipping
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD
from tests.services.distribution import conftest as distribution
from tests.services.distribution.conftest import today

pytestmark = pytest.mark.browser

store_participant = distribution.store_participant
# An exception in the page's scripts fails the test, even when the page looks right.
no_script_errors = shipping.no_script_errors
log_in = shipping.log_in


def test_request_approve_pick_by_scan_and_dispatch(
    page, coordinator, technician, store_participant
):
    stored = {pid: store_participant(pid) for pid in ("P200000001", "P200000002", "P200000003")}
    plasma = next(t for t in stored["P200000001"] if t.tube_type.specimen == "plasma")
    plasma_id = plasma.display_barcode
    db.session.rollback()

    # The coordinator records the study's approval.
    log_in(page, "coordinator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Distribution").click()
    page.wait_for_url("**/distribution")
    page.get_by_role("link", name="New protocol").click()
    page.fill("#protocol-title", "Serum proteomics of early-onset diabetes")
    page.fill("#protocol-approval-number", "IRB-2026-0142")
    page.fill("#protocol-expires", (today() + timedelta(days=365)).isoformat())
    page.fill("#protocol-institution", "University of Somewhere")
    page.fill("#protocol-address", "Dr Ada Researcher\n1 Science Way\nSomewhere, MN 55905")
    page.fill("#protocol-responsible", "Dr Ada Researcher")
    page.get_by_label("serum", exact=True).check()
    page.get_by_label("plasma", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Record protocol").click()
    assert "Protocol IRB-2026-0142" in page.locator(".flash-success").inner_text()

    # Its request: four participants, two serum tubes each; a wrong day is said beside it.
    page.get_by_role("link", name="Record a request").click()
    page.get_by_label("serum", exact=True).check()
    page.fill("#request-participants", "4")
    page.fill("#request-tubes", "2")
    page.fill("#request-volume", "1")
    page.fill("#request-thaws", "1")
    page.fill("#request-from", today().isoformat())
    page.fill("#request-to", (today() - timedelta(days=30)).isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Record request").click()
    assert "before the first" in page.locator("#request-to-error").inner_text()
    assert page.input_value("#request-participants") == "4"  # what was typed is kept
    page.fill("#request-from", (today() - timedelta(days=30)).isoformat())
    page.fill("#request-to", today().isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Record request").click()
    page.wait_for_url("**/distribution/requests/*")
    shortfall = page.locator("[data-shortfall]").inner_text()
    assert shortfall == "3 of 4 participants; 2 tubes short (6 of 8 tubes found)."
    assert page.locator("tbody.participant-group").count() == 3
    assert "Freezer 1 › Shelf 1 › Box 1 ›" in page.locator("table.distribution-tubes").inner_text()
    screenshot(page, "guide-distribution-proposal", full_page=False)

    with page.expect_navigation():
        page.get_by_role("button", name="Approve and reserve 6 tubes").click()
    assert "Reserved 6 of the 6 tubes chosen." in page.locator(".flash").inner_text()
    assert "Reserved tubes (6)" in page.locator("#reserved-title").inner_text()
    page.get_by_role("button", name="Log out").click()

    # The technician picks by scanning, in walking order.
    log_in(page, "technician")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Distribution").click()
    page.get_by_role("link", name="IRB-2026-0142").click()
    page.get_by_role("link", name=re.compile(r"^Request \d+$")).click()
    page.get_by_role("link", name="Pick list").click()
    page.wait_for_url("**/pick")
    assert page.locator("[data-picked-count]").inner_text() == "0"
    shipping.mark_page(page)
    shipping.wait_for_focus(page, "pick-barcode")
    # On no pick list: put it back, and where the right one is.
    refused = shipping.scan_and_wait(page, plasma_id)
    assert refused["outcome"] == "error" and refused["title"] == "Not picked"
    assert "put it back. The next tube to pick is" in refused["text"]
    # The field is empty and keeps the focus: the next scan goes straight in.
    assert page.input_value("#pick-barcode") == ""
    assert shipping.focused_id(page) == "pick-barcode"
    db.session.rollback()
    held = db.session.scalars(
        sa.select(Sample).where(Sample.reserved_for_request_id.is_not(None)).order_by(Sample.id)
    ).all()
    barcodes = [tube.barcode for tube in held]
    db.session.rollback()
    picked_rows = "document.querySelectorAll('table.pick-list tr.picked').length"
    for count, barcode in enumerate(barcodes, start=1):
        answer = shipping.scan_and_wait(page, barcode.lower())
        assert answer["outcome"] == "added" and answer["title"] == "Picked", answer
        page.wait_for_function(
            f"n => document.querySelector('[data-picked-count]').textContent === String(n)"
            f" && {picked_rows} === n",
            arg=count,
        )
        assert page.locator("[data-remaining-count]").inner_text() == str(len(barcodes) - count)
        picked_cell = page.locator(f'tr[data-barcode="{barcode}"] td').last.inner_text()
        # As the server writes it: the date and time at the biobank, and who picked it.
        assert re.fullmatch(r"picked \d{4}-\d\d-\d\d \d\d:\d\d \S+ · Technician", picked_cell), (
            picked_cell
        )
        if count < len(barcodes):
            assert page.locator("[data-next-tube]").inner_text().startswith("Next: ")
        if count == 3:
            screenshot(page, "guide-distribution-pick", full_page=False)
    page.wait_for_function(
        "document.querySelector('[data-next-tube]').textContent.includes('Every tube is picked')"
    )
    # The same tube again records nothing, and says so.
    again = shipping.scan_and_wait(page, barcodes[0])
    assert again["outcome"] == "duplicate" and again["title"] == "Picked already"
    assert page.locator("[data-picked-count]").inner_text() == str(len(barcodes))
    assert shipping.page_was_not_reloaded(page)

    # Then packs the box by scanning, and dispatches it, signed.
    page.get_by_role("link", name="Outbound shipment").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Open outbound shipment").click()
    for barcode in barcodes:
        page.fill("#pack-barcode", barcode)
        with page.expect_navigation():
            page.press("#pack-barcode", "Enter")
    assert "6 of 6 picked" in page.locator("#packed-title").inner_text()
    packed = page.locator(".packed-list").inner_text()
    assert "P2000000" not in packed  # study pseudonyms only
    page.select_option("#dispatch-carrier", "fedex")
    page.fill("#dispatch-tracking", "123456789012")
    page.fill("#dispatch-signature", "not-my-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Dispatch 6 tubes").click()
    assert page.locator("#dispatch-signature-error").is_visible()
    assert page.evaluate("() => document.activeElement.id") == "dispatch-signature"
    assert page.input_value("#dispatch-tracking") == "123456789012"
    page.locator(".dispatch-card").scroll_into_view_if_needed()
    screenshot(page, "guide-distribution-dispatch", full_page=False)
    page.fill("#dispatch-signature", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Dispatch 6 tubes").click()
    assert "6 tubes distributed, their positions freed" in page.locator(".flash").inner_text()
    assert page.get_by_role("link", name="Print manifest (PDF)").is_visible()
    db.session.rollback()
    assert db.session.scalar(sa.select(DistributionRequest.status)) == "shipped"
    gone = sa.select(sa.func.count(Sample.id)).where(Sample.status == "distributed")
    assert db.session.scalar(gone) == 6

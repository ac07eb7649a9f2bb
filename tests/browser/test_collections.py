"""A collector's day in a real browser: scan a participant, pick a kit, print labels, record
times, finalize. The test thread stays out of the database while the server runs."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

PARTICIPANT = "P123456789"
DRAWN = "2025-01-15T08:30"
CENTRIFUGED = "2025-01-15T09:15"


def log_in(page, username: str = "collector") -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def record(page, tube, which: str, at: str) -> None:
    """Fill one tube's time and submit its form; the page comes back at that tube."""
    tube_id = tube.get_attribute("id")
    page.fill(f"#{tube_id}-{which}", at)
    with page.expect_navigation():
        tube.get_by_role("button", name=f"Record {which}").click()


def test_a_collector_starts_labels_times_and_finalizes_a_collection(page, collector):
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New collection").click()
    page.wait_for_url("**/collections/new")

    # A stray Enter in the empty scan field, then a scan (typed code + Enter): no submit, focus
    # moves on to the kit picker.
    assert focused_id(page) == "participant_id"
    page.press("#participant_id", "Enter")
    page.keyboard.type(PARTICIPANT)
    page.keyboard.press("Enter")
    assert page.url.endswith("/collections/new")
    assert focused_id(page) == "kit-0"
    assert page.locator(".error").count() == 0

    page.keyboard.press("Space")  # choose the focused kit, as a keyboard user would
    assert page.is_checked("#kit-0")
    screenshot(page, "collection-new")
    with page.expect_navigation():
        page.get_by_role("button", name="Start collection").click()
    assert re.search(r"/collections/\d+$", page.url)
    assert "started with 8 tubes" in page.locator(".flash").inner_text()
    tubes = page.locator("li.tube")
    assert tubes.count() == 8

    # "Now" fills the site's time (Los Angeles), whatever the browser's own zone
    first_tube = tubes.first
    first_id = first_tube.get_attribute("id")
    first_tube.get_by_role("button", name="Now").first.click()
    shown = datetime.strptime(page.input_value(f"#{first_id}-collected"), "%Y-%m-%dT%H:%M")
    now_there = datetime.now(ZoneInfo("America/Los_Angeles")).replace(tzinfo=None)
    assert abs((now_there - shown).total_seconds()) < 120

    record(page, first_tube, "collected", DRAWN)
    assert page.url.endswith(f"#{first_id}")
    assert "2025-01-15 08:30 PST" in page.locator(f"#{first_id} .tube-times").inner_text()
    assert "collected" in page.locator(f"#{first_id} .tube-head").inner_text()

    with page.expect_download() as printed:
        page.get_by_role("button", name="Print labels (PDF)").click()
    download = printed.value
    assert download.suggested_filename.endswith("-labels.pdf")
    assert PARTICIPANT not in download.suggested_filename
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    for index in range(tubes.count()):
        tube = page.locator("li.tube").nth(index)
        if index > 0:
            record(page, tube, "collected", DRAWN)
        if (
            page.locator("li.tube")
            .nth(index)
            .get_by_role("button", name="Record processed")
            .count()
        ):
            record(page, page.locator("li.tube").nth(index), "processed", CENTRIFUGED)
    screenshot(page, "collection-page")

    with page.expect_navigation():
        page.get_by_role("button", name="Finalize collection").click()
    assert "finalized" in page.locator("h1 .badge").inner_text()
    assert "ready to pack" in page.locator(".flash").inner_text()
    assert page.get_by_role("button", name="Record collected").count() == 0


def test_a_scan_into_the_prelabelled_kit_field_submits_the_form(page, collector):
    log_in(page)
    page.goto("/collections/new")
    page.fill("#participant_id", PARTICIPANT)
    page.check("#kit-0")
    # Scanning a pre-labelled kit clears the kit choice (they exclude each other) and submits.
    page.click("#claim_barcode")
    page.keyboard.type("7KQ2M9XD3E")
    assert not page.is_checked("#kit-0")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # no such kit here: the refusal is beside the field, the scans kept
    assert "not a label of a pre-labelled kit" in page.locator("#claim_barcode-error").inner_text()
    assert page.input_value("#participant_id") == PARTICIPANT
    assert page.input_value("#claim_barcode") == "7KQ2M9XD3E"


def test_each_tubes_buttons_say_which_tube_they_are_for(page, collector, start_collection):
    """A screen reader lists a page's buttons by name: eight "Record collected" buttons would
    be eight of the same. Each names its tube, and still starts with what it shows."""
    from biobank.extensions import db

    collection = start_collection(collector)
    tubes = [
        (s.tube_type.code, s.display_barcode, s.tube_type.requires_processing)
        for s in collection.samples
    ]
    collection_id = collection.id
    db.session.rollback()
    log_in(page)
    page.goto(f"/collections/{collection_id}")
    for code, shown, spun in tubes:
        which = f"{code} {shown}"
        names = [
            f"Now, collected time of {which}",
            f"Record collected, {which}",
        ]
        if spun:
            names += [f"Now, processed time of {which}", f"Record processed, {which}"]
        for name in names:
            assert page.get_by_role("button", name=name, exact=True).count() == 1, name
    names = page.get_by_role("button").evaluate_all(
        "buttons => buttons.filter(b => b.checkVisibility())"
        ".map(b => b.getAttribute('aria-label') || b.textContent.trim())"
    )
    repeated = {name for name in names if names.count(name) > 1}
    assert not repeated, repeated

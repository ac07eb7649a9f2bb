"""The whole chain, the way people work it, in one browser and entirely through the pages:

1. a collector scans a participant, picks the kit, prints the labels, records every tube's
   draw time and the SST/PST spin times, finalizes;
2. packs every tube into a new shipment to MAYO-BB by scanning, dispatches it with FedEx,
   prints the manifest;
3. a technician scans the manifest, scans every tube but one, closes the receipt (good
   condition): received with discrepancies, one missing;
4. opens the box from the header's scan box and stores each received tube by scanning it
   into the highlighted position;
5. a coordinator finds the missing tube in the overdue report and opens its page: its chain
   of custody ends in "missing".

Only the users, the sites and the freezer with its boxes are made up front (through the
services, by the fixtures); after that the test thread stays out of the database and every
step is a click, a typed scan or an Enter. The screenshots it takes are the user guide's
(``make screenshots`` copies them to docs/images).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from biobank.extensions import db
from tests.browser.conftest import screenshot
from tests.browser.test_shipping import (
    count,
    focused_id,
    log_in,
    mark_page,
    page_was_not_reloaded,
    scan,
    scan_and_wait,
    wait_for_focus,
)
from tests.conftest import PASSWORD
from tests.decoding import pdf_text

pytestmark = pytest.mark.browser

PARTICIPANT = "P246813579"
CLINIC_ZONE = ZoneInfo("America/Los_Angeles")  # UCSD-01, the collector's clinic
GUIDE_VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(autouse=True)
def no_script_errors(page):
    """An exception in the page's scripts fails the walk, even when the page looks right."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert errors == []


def guide_shot(page, name: str) -> None:
    """A user-guide screenshot: the window as the person sees it (long pages stay small)."""
    screenshot(page, name, full_page=False)


def log_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/login")
    assert "You are logged out." in page.locator(".flash").inner_text()


def go_to(page, link: str) -> None:
    """Follow a link of the main navigation (home pages may link to the same places)."""
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


def shown(barcode: str) -> str:
    """A tube ID as the pages print it: two groups of five."""
    return f"{barcode[:5]}-{barcode[5:]}"


def record_time(page, barcode: str, which: str, at: str) -> None:
    """Type a tube's time into its form and submit it; the page comes back at that tube."""
    tube = page.locator(f"#tube-{barcode}")
    page.fill(f"#tube-{barcode}-{which}", at)
    with page.expect_navigation():
        tube.get_by_role("button", name=f"Record {which}").click()
    assert page.url.endswith(f"#tube-{barcode}")
    assert which in page.locator(".flash").inner_text()


def test_a_tube_goes_from_the_draw_room_to_a_freezer_and_a_lost_one_is_chased(
    page, live_server, collector, technician, coordinator, admin, freezer, boxes
):
    box_id, box_barcode, box_name = boxes[0].id, boxes[0].barcode, boxes[0].name
    db.session.rollback()  # from here on only the browser touches the database
    page.set_viewport_size(GUIDE_VIEWPORT)

    # --- 1. the collector: a collection, its labels, its times, finalized -------------------
    log_in(page, "collector")
    guide_shot(page, "guide-collector-home")
    go_to(page, "New collection")
    page.wait_for_url("**/collections/new")
    wait_for_focus(page, "participant_id")
    mark_page(page)

    # The participant's barcode is scanned (typed + Enter): nothing is submitted yet, the
    # focus moves on to the kit choice.
    scan(page, PARTICIPANT)
    assert page_was_not_reloaded(page) and page.url.endswith("/collections/new")
    assert page.evaluate("document.activeElement.name") == "kit"
    page.get_by_text("Baseline adult biobank order").click()
    assert page.is_checked("input[name=kit][value=BASELINE-ADULT]")
    guide_shot(page, "guide-collection-new")
    with page.expect_navigation():
        page.get_by_role("button", name="Start collection").click()
    assert re.search(r"/collections/\d+$", page.url)
    assert "started with 8 tubes" in page.locator(".flash").inner_text()

    # The tube IDs, as the page shows them (the labels carry the same).
    tubes: dict[str, str] = {}  # tube ID -> tube code, in the kit's order
    for item in page.locator("li.tube").all():
        barcode = (item.get_attribute("id") or "").removeprefix("tube-")
        tubes[barcode] = item.locator(".tube-code").inner_text()
    assert len(tubes) == 8
    spun = [barcode for barcode, code in tubes.items() if code in ("1SST8", "1PST8")]
    assert len(spun) == 2

    with page.expect_download() as printed:
        page.get_by_role("button", name="Print labels (PDF)").click()
    labels_pdf = printed.value.path().read_bytes()
    assert labels_pdf.startswith(b"%PDF-")
    printed_text = pdf_text(labels_pdf)
    assert all(shown(barcode) in printed_text for barcode in tubes)
    assert PARTICIPANT not in printed_text  # never on a label

    # Drawn two hours ago, spun 45 minutes later (clinic time): no warning to show.
    drawn = datetime.now(CLINIC_ZONE).replace(second=0, microsecond=0) - timedelta(hours=2)
    for barcode in tubes:
        record_time(page, barcode, "collected", f"{drawn:%Y-%m-%dT%H:%M}")
    for barcode in spun:
        record_time(page, barcode, "processed", f"{drawn + timedelta(minutes=45):%Y-%m-%dT%H:%M}")
    assert page.locator(".warnings").count() == 0
    page.locator("h1").scroll_into_view_if_needed()
    guide_shot(page, "guide-collection-page")
    with page.expect_navigation():
        page.get_by_role("button", name="Finalize collection").click()
    assert page.locator("h1 .badge").inner_text() == "finalized"
    assert "ready to pack" in page.locator(".flash").inner_text()

    # --- 2. the collector: pack by scanning, dispatch, print the manifest --------------------
    go_to(page, "Shipments")
    page.get_by_role("link", name="New shipment").click()
    assert page.is_checked("input[name=destination][value=MAYO-BB]")
    assert page.is_checked("input[name=temperature][value=refrigerated]")
    with page.expect_navigation():
        page.get_by_role("button", name="Open shipment").click()
    manifest_number = page.locator("h1 code").inner_text()
    assert re.fullmatch(r"MN[0-9A-Z]{9}", manifest_number)
    wait_for_focus(page, "pack-barcode")
    mark_page(page)
    packed = page.locator("[data-packed-list] > li")
    for number, barcode in enumerate(tubes, start=1):
        scan(page, barcode)
        expect(packed).to_have_count(number)
        expect(page.locator("[data-feedback-title]")).to_have_text("Added")
        assert focused_id(page) == "pack-barcode"
    assert page_was_not_reloaded(page)
    assert page.locator("#packed-title").inner_text() == "Tubes in this shipment (8)"
    guide_shot(page, "guide-packing")

    page.select_option("#dispatch-carrier", "fedex")
    page.fill("#dispatch-tracking", "794612345678")
    page.fill("#dispatch-signature", PASSWORD)  # the electronic signature: password re-entered
    with page.expect_navigation():
        page.get_by_role("button", name="Dispatch 8 tubes").click()
    assert page.locator("h1 .badge").inner_text() == "in transit"
    assert "on its way to MAYO-BB" in page.locator(".flash").inner_text()

    with page.expect_popup() as opened:
        page.get_by_role("link", name="Print manifest (PDF)").click()
    manifest_tab = opened.value
    assert manifest_tab.url.endswith("/manifest.pdf")
    # The tab shows the PDF; read the same document to check what is printed on it.
    manifest = page.request.get(manifest_tab.url)
    assert manifest.headers["content-type"] == "application/pdf"
    manifest_text = pdf_text(manifest.body())
    assert manifest_number in manifest_text and "794612345678" in manifest_text
    assert all(shown(barcode) in manifest_text for barcode in tubes)
    manifest_tab.close()
    log_out(page)

    # --- 3. the technician: manifest, every tube but one, close the receipt ------------------
    *arrived, lost = list(tubes)
    log_in(page, "technician")
    assert manifest_number in page.locator("main").inner_text()  # on the way, on the home page
    guide_shot(page, "guide-technician-home")
    go_to(page, "Receiving")
    page.wait_for_url("**/receiving")
    wait_for_focus(page, "manifest_number")
    with page.expect_navigation():
        scan(page, manifest_number)  # this scan field opens the receipt: Enter submits
    assert re.search(r"/receiving/\d+$", page.url)
    wait_for_focus(page, "receipt-barcode")
    mark_page(page)
    assert (count(page, "expected"), count(page, "missing")) == (8, 8)

    for number, barcode in enumerate(arrived, start=1):
        answer = scan_and_wait(page, barcode)
        assert answer["outcome"] == "expected" and answer["title"] == "Received"
        assert shown(barcode) in answer["text"]
        assert (count(page, "received"), count(page, "missing")) == (number, 8 - number)
        assert focused_id(page) == "receipt-barcode"
    still_to_scan = page.locator("[data-missing-list] > li")
    expect(still_to_scan).to_have_count(1)
    assert still_to_scan.get_attribute("data-barcode") == lost
    assert page_was_not_reloaded(page)
    guide_shot(page, "guide-receiving")

    page.get_by_label("Good").check()
    page.fill("#close-signature", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Close receipt").click()
    result = page.locator("#receipt-result")
    assert result.locator("[data-status]").get_attribute("data-status") == (
        "received_with_discrepancies"
    )
    assert "7 of 8 tubes received, 1 missing" in result.inner_text()
    assert "1 missing" in page.locator(".flash").inner_text()
    assert page.locator("[data-missing-list] > li").get_attribute("data-barcode") == lost
    guide_shot(page, "guide-receipt-closed")

    # --- 4. the technician: into the box, one scan per tube ---------------------------------
    page.click("#scanbox-code")
    page.keyboard.type(box_barcode.lower())  # the header's scan box takes any code, any case
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/storage/boxes/\d+$", page.url)
    expect(page.locator("h1")).to_contain_text(box_name)
    wait_for_focus(page, "store-barcode")
    mark_page(page)
    feedback = page.locator("#store-feedback")
    positions = [f"A{column}" for column in range(1, len(arrived) + 1)]
    for barcode, position in zip(arrived, positions, strict=True):
        code = tubes[barcode]
        expect(page.get_by_role("button", name=f"{position}, empty")).to_have_attribute(
            "aria-pressed", "true"
        )
        page.keyboard.type(barcode)
        page.keyboard.press("Enter")
        expect(
            page.get_by_role("link", name=f"{position}, {code} {shown(barcode)}")
        ).to_be_visible()
        expect(feedback).to_contain_text(f"Stored {code} {shown(barcode)} in {position}.")
        assert focused_id(page) == "store-barcode"
    next_free = f"A{len(arrived) + 1}"
    expect(feedback).to_contain_text(f"Next: {next_free}.")
    expect(page.get_by_role("button", name=f"{next_free}, empty")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page_was_not_reloaded(page)
    guide_shot(page, "guide-box-grid")

    # a stored tube's cell opens its page: where it is, and what happened to it
    first = arrived[0]
    with page.expect_navigation():
        page.get_by_role("link", name=f"A1, {tubes[first]} {shown(first)}").click()
    assert page.url.endswith(f"/samples/{first}")
    expect(page.locator(".location-card .path")).to_contain_text(f"{box_name} › A1")
    timeline = page.locator(".timeline .event-what")
    expect(timeline.last).to_have_text("Stored")
    assert "Received" in timeline.all_inner_texts()
    guide_shot(page, "guide-sample-page")
    log_out(page)

    # --- 5. the coordinator: the missing tube, from the report to its chain of custody -------
    log_in(page, "coordinator")
    guide_shot(page, "guide-coordinator-home")
    go_to(page, "Reports")
    page.wait_for_url("**/reports/overdue")
    page.select_option("#filter-state", "missing")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "state=missing" in page.url
    rows = page.locator(".report-table tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first.inner_text()
    assert shown(lost) in row and tubes[lost] in row and manifest_number in row
    assert "missing" in row and "UCSD-01" in row
    guide_shot(page, "guide-overdue-report")

    with page.expect_navigation():
        rows.first.get_by_role("link", name=shown(lost)).click()
    assert page.url.endswith(f"/samples/{lost}")
    expect(page.locator("h1 .badge")).to_have_text("missing")
    timeline = page.locator(".timeline .event-what")
    expect(timeline.last).to_have_text("Missing")
    events = timeline.all_inner_texts()
    assert events[0] == "Created" and {"Labelled", "Dispatched"} <= set(events)
    timeline.last.scroll_into_view_if_needed()
    guide_shot(page, "guide-missing-tube")
    log_out(page)

    # --- the administrator's home, for the guide ---------------------------------------------
    log_in(page, "admin")
    assert page.locator("h1").inner_text() == "Administration"
    guide_shot(page, "guide-admin-home")
    go_to(page, "Storage")
    page.get_by_role("link", name="Freezer 1").click()
    expect(page.locator(f"#container-{box_id}")).to_contain_text(f"{len(arrived)} / 81")
    guide_shot(page, "guide-freezer")

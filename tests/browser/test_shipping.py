"""Shipping and receiving at the bench, in a real browser: a collector packs by scanning and
dispatches; a technician scans the manifest, then every tube (typed + Enter, as a USB scanner
does), and closes the receipt; a 300-tube box is scanned without a reload; a coordinator reads
the overdue report.

Data is built through the services before the browser starts; the test thread then drops its
read snapshot (``db.session.rollback()``) so it never holds the SQLite database while the
server writes.
"""

from __future__ import annotations

import re

import pytest

from biobank.extensions import db
from biobank.models import Shipment, ShipmentStatus
from biobank.services.core import catalogue, ids, samples
from biobank.services.shipping import receiving, sending
from biobank.unit_of_work import unit_of_work
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def no_script_errors(page):
    """An exception in the page's scripts fails the test, even when the page looks right."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert errors == []


def log_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def wait_for_focus(page, element_id: str) -> None:
    """The element has (or takes, within 1 s) the focus: autofocus on a page just loaded, the
    scan field taking it back after a click elsewhere."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id",
        arg=element_id,
        timeout=1_000,
    )


def mark_page(page) -> None:
    """A flag that only survives as long as the page is not reloaded or navigated away."""
    page.evaluate("window.__marker = 1")


def page_was_not_reloaded(page) -> bool:
    return page.evaluate("window.__marker === 1")


def scan(page, code: str) -> None:
    """What a USB barcode scanner does: type the code into the focused field, press Enter."""
    page.keyboard.insert_text(code)
    page.keyboard.press("Enter")


def type_like_a_scanner(page, code: str) -> int:
    """A scanner's keystrokes, 5 ms apart, then Enter, wherever the focus is; answers how many
    scans the page had answered before, for ``wait_for_answer``."""
    before = answered(page)
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")
    return before


def wait_for_answer(page, before: int) -> dict[str, str]:
    page.wait_for_function(
        "n => Number(document.querySelector('[data-answered]').dataset.answered) > n", arg=before
    )
    return feedback(page)


def feedback(page) -> dict[str, str]:
    panel = page.locator("[data-scan-feedback]")
    return {
        "outcome": panel.get_attribute("data-outcome") or "",
        "title": panel.locator("[data-feedback-title]").inner_text(),
        "text": panel.inner_text(),
    }


def answered(page) -> int:
    """How many scans the page has had an answer for (the station counts them)."""
    return int(page.locator("[data-answered]").get_attribute("data-answered") or 0)


def scan_and_wait(page, code: str) -> dict[str, str]:
    """Scan, then wait for that scan's answer."""
    before = answered(page)
    scan(page, code)
    return wait_for_answer(page, before)


def count(page, name: str) -> int:
    return int(page.locator(f".receipt-counts [data-count={name}]").inner_text())


def finalized_tubes(finalized_collection, collector, how_many: int) -> list[str]:
    """``how_many`` finalized tubes of the collector's clinic: one collection takes one tube of
    each refrigerated tube type in the catalogue."""
    refrigerated = [
        tube_type.code
        for tube_type in catalogue.list_tube_types()
        if tube_type.ship_temperature == "refrigerated"
    ]
    barcodes: list[str] = []
    participant = 100000000
    while len(barcodes) < how_many:
        codes = refrigerated[: how_many - len(barcodes)]
        collection = finalized_collection(collector, f"P{participant}", tube_types=codes)
        barcodes += [sample.barcode for sample in collection.samples]
        participant += 1
    return barcodes


# --- packing --------------------------------------------------------------------------------


def test_a_collector_packs_by_scanning_without_reloading_then_dispatches(
    page, collector, biobank_site, finalized_collection
):
    tubes = [s.barcode for s in finalized_collection(collector).samples]
    db.session.rollback()

    log_in(page, "collector")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Shipments").click()
    page.get_by_role("link", name="New shipment").click()
    # One biobank: it is chosen already; refrigerated is the default for these tubes.
    assert page.is_checked("input[name=destination][value=MAYO-BB]")
    assert page.is_checked("input[name=temperature][value=refrigerated]")
    with page.expect_navigation():
        page.get_by_role("button", name="Open shipment").click()
    assert re.search(r"/shipments/\d+$", page.url)
    packing_url = page.url
    mark_page(page)
    wait_for_focus(page, "pack-barcode")

    rows = page.locator("[data-packed-list] > li")
    scan(page, tubes[0])
    page.wait_for_function("document.querySelectorAll('[data-packed-list] > li').length === 1")
    assert feedback(page)["title"] == "Added"
    # Scanners and people type it in any form: lower case with a hyphen is the same tube.
    scan(page, ids.display(tubes[1]).lower())
    page.wait_for_function("document.querySelectorAll('[data-packed-list] > li').length === 2")
    assert rows.first.get_attribute("data-barcode") == tubes[1]  # newest on top
    assert focused_id(page) == "pack-barcode"

    scan(page, tubes[0])
    page.wait_for_function(
        "document.querySelector('[data-scan-feedback]').dataset.outcome === 'duplicate'"
    )
    assert "is in this shipment already" in feedback(page)["text"]
    assert rows.count() == 2

    scan(page, "NOT-A-TUBE")
    page.wait_for_function(
        "document.querySelector('[data-scan-feedback]').dataset.outcome === 'error'"
    )
    assert "not a sample ID" in page.locator("[data-feedback-alert]").inner_text()

    # Remove one, then pack the rest as fast as a scanner fires (the queue keeps the order).
    page.get_by_role("button", name=f"Remove {ids.display(tubes[1])}").click()
    page.wait_for_function("document.querySelectorAll('[data-packed-list] > li').length === 1")
    wait_for_focus(page, "pack-barcode")  # a click elsewhere hands the focus back
    for barcode in tubes[1:]:
        scan(page, barcode)
    page.wait_for_function(
        f"document.querySelectorAll('[data-packed-list] > li').length === {len(tubes)}"
    )
    assert page.locator("#packed-title").inner_text() == f"Tubes in this shipment ({len(tubes)})"
    assert page.url == packing_url and page_was_not_reloaded(page)
    screenshot(page, "packing")

    page.select_option("#dispatch-carrier", "fedex")
    page.fill("#dispatch-tracking", "1234 5678 9012")
    page.fill("#dispatch-signature", PASSWORD)  # the dispatch is signed electronically
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(r"^Dispatch \d+ tubes$")).click()
    assert page.locator("h1 .badge").inner_text() == "in transit"
    assert "on its way to MAYO-BB" in page.locator(".flash").inner_text()
    assert page.locator("[data-packing]").count() == 0
    assert page.locator(".items-table tbody tr").count() == len(tubes)


# --- receiving ------------------------------------------------------------------------------


def test_a_technician_scans_the_manifest_then_every_tube_and_closes_with_one_missing(
    page, collector, technician, dispatched_shipment, finalized_collection
):
    shipment = dispatched_shipment(collector)
    manifest_number = shipment.manifest_number
    tubes = [item.sample.barcode for item in shipment.items]
    # Finalized at the clinic but never packed: it turns up in the box anyway.
    stray = finalized_collection(collector, "P987654321", tube_types=["1SAL2"]).samples[0].barcode
    unknown = ids.new_sample_id()  # a well-formed ID this system never issued
    db.session.rollback()

    log_in(page, "technician")
    page.get_by_role("link", name="Receiving").click()
    page.wait_for_url("**/receiving")
    wait_for_focus(page, "manifest_number")
    assert manifest_number in page.locator("table").inner_text()
    with page.expect_navigation():
        scan(page, manifest_number.lower())
    assert re.search(r"/receiving/\d+$", page.url)
    mark_page(page)
    wait_for_focus(page, "receipt-barcode")
    assert page.locator("[data-missing-list] > li").count() == 8

    answer = scan_and_wait(page, tubes[0])
    assert answer["outcome"] == "expected" and answer["title"] == "Received"
    assert ids.display(tubes[0]) in answer["text"]
    assert (count(page, "received"), count(page, "missing")) == (1, 7)
    assert page.locator("[data-missing-list] > li").count() == 7
    assert focused_id(page) == "receipt-barcode"

    answer = scan_and_wait(page, tubes[0])
    assert answer["outcome"] == "duplicate" and "scanned already" in answer["text"]
    assert count(page, "received") == 1
    assert focused_id(page) == "receipt-barcode"

    answer = scan_and_wait(page, stray)
    assert answer["outcome"] == "unexpected" and "not on this manifest" in answer["text"]
    assert count(page, "unexpected") == 1
    assert focused_id(page) == "receipt-barcode"

    answer = scan_and_wait(page, unknown)
    assert answer["outcome"] == "error" and answer["title"] == "Unknown tube"
    assert "not known to this system" in page.locator("[data-feedback-alert]").inner_text()
    assert focused_id(page) == "receipt-barcode"

    # "Damaged" applies to the next scan only; clicking it hands the focus back to the field.
    page.get_by_label("The next tube is damaged").check()
    wait_for_focus(page, "receipt-barcode")
    answer = scan_and_wait(page, tubes[1])
    assert answer["outcome"] == "expected" and "Marked damaged" in answer["text"]
    assert count(page, "damaged") == 1
    assert not page.is_checked("#receipt-damaged")

    # The rest but one, as fast as a scanner fires: the queue sends them in order.
    for barcode in tubes[2:-1]:
        scan(page, barcode)
    page.wait_for_function(
        "document.querySelector('.receipt-counts [data-count=received]').textContent === '7'"
    )
    assert count(page, "missing") == 1
    missing_rows = page.locator("[data-missing-list] > li")
    assert missing_rows.count() == 1 and missing_rows.get_attribute("data-barcode") == tubes[-1]
    assert page.locator("[data-scan-history] > li").count() == 5 + len(tubes[2:-1])
    page.locator("h1").click()  # a click anywhere else hands the focus back too
    wait_for_focus(page, "receipt-barcode")
    assert page_was_not_reloaded(page)
    screenshot(page, "receiving")

    # Typing elsewhere keeps the focus there: the close form, a search box in the header.
    for field in page.locator("header input[type=text], header input:not([type])").all():
        field.click()
        page.wait_for_timeout(100)
        assert page.evaluate("document.activeElement.closest('header') !== null")
    page.get_by_label("Good").check()
    page.click("#close-temperature")
    page.keyboard.type("4.5")
    page.wait_for_timeout(100)
    assert focused_id(page) == "close-temperature"
    page.fill("#close-signature", PASSWORD)  # closing is signed electronically
    with page.expect_navigation():
        page.get_by_role("button", name="Close receipt").click()
    result = page.locator("#receipt-result")
    assert result.locator("[data-status]").get_attribute("data-status") == (
        "received_with_discrepancies"
    )
    assert "1 missing" in result.inner_text()
    assert ids.display(stray) in result.inner_text()
    assert page.locator("[data-missing-list] > li").get_attribute("data-barcode") == tubes[-1]


def test_a_refused_form_reloaded_or_opened_again_is_harmless(page, collector, biobank_site):
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
    shipment_id = shipment.id
    db.session.rollback()
    log_in(page, "collector")
    page.goto(f"/shipments/{shipment_id}")
    page.fill("#dispatch-tracking", "not a tracking number")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^Dispatch")).click()
    assert page.url.endswith(f"/shipments/{shipment_id}/dispatch")
    assert page.locator("#dispatch-carrier-error").is_visible()

    reloaded = page.reload()  # the form again: refused again, nothing recorded
    assert reloaded.status == 422 and page.locator("#dispatch-carrier-error").is_visible()
    opened = page.goto(page.url)  # the address as a page: the shipment's own page
    assert opened.status == 200 and page.url.endswith(f"/shipments/{shipment_id}")
    assert "Method Not Allowed" not in page.content()
    assert page.locator("#dispatch-carrier-error").count() == 0
    db.session.expire_all()
    assert db.session.get(Shipment, shipment_id).status == ShipmentStatus.OPEN


def test_the_damaged_mark_survives_a_fast_scanner_and_a_refused_scan(
    page, collector, technician, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    shipment_id, tubes = shipment.id, [item.sample.barcode for item in shipment.items]
    unknown = ids.new_sample_id()
    db.session.rollback()
    log_in(page, "technician")
    page.goto(f"/receiving/{shipment_id}")
    wait_for_focus(page, "receipt-barcode")
    damaged = page.get_by_label("The next tube is damaged")

    # Ticked, then scanned at once: the scanner's first keys come before the focus is back.
    damaged.click()
    answer = wait_for_answer(page, type_like_a_scanner(page, ids.display(tubes[0])))
    assert answer["outcome"] == "expected", answer
    assert ids.display(tubes[0]) in answer["text"] and "Marked damaged" in answer["text"]
    assert count(page, "damaged") == 1
    assert not damaged.is_checked()

    # The focus still on the ticked box when the scanner starts (the click's hand-back has not
    # run yet, as on a busy page): the scan still lands whole.
    damaged.evaluate("box => { box.checked = true; box.focus(); }")
    assert focused_id(page) == "receipt-damaged"
    answer = wait_for_answer(page, type_like_a_scanner(page, ids.display(tubes[2])))
    assert answer["outcome"] == "expected", answer
    assert ids.display(tubes[2]) in answer["text"] and "Marked damaged" in answer["text"]
    assert count(page, "damaged") == 2

    # A refused scan records nothing: the mark waits for the damaged tube's own scan.
    damaged.click()
    answer = wait_for_answer(page, type_like_a_scanner(page, ids.display(unknown)))
    assert answer["outcome"] == "error" and ids.display(unknown) in answer["text"]
    assert "damaged mark is kept for the next scan" in answer["text"]
    assert damaged.is_checked()
    answer = wait_for_answer(page, type_like_a_scanner(page, ids.display(tubes[1])))
    assert answer["outcome"] == "expected" and "Marked damaged" in answer["text"]
    assert count(page, "damaged") == 3
    assert not damaged.is_checked()
    assert focused_id(page) == "receipt-barcode"


def test_three_hundred_scans_arrive_without_a_reload(
    page, collector, technician, biobank_site, finalized_collection
):
    tubes = finalized_tubes(finalized_collection, collector, 300)
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for barcode in tubes:
            sending.pack_sample(collector, shipment, barcode)
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="courier",
            tracking_number="RUN-42",
            signature_password=PASSWORD,
        )
    shipment_id = shipment.id
    db.session.rollback()

    log_in(page, "technician")
    page.goto(f"/receiving/{shipment_id}")
    mark_page(page)
    for barcode in tubes:
        scan(page, barcode)
    page.wait_for_function(
        "document.querySelector('.receipt-counts [data-count=received]').textContent === '300'",
        timeout=30_000,
    )
    assert page_was_not_reloaded(page)
    assert count(page, "missing") == 0 and count(page, "unexpected") == 0
    assert page.locator("[data-missing-list] > li").count() == 0
    assert page.locator("[data-scan-history] > li").count() == 20  # capped, newest first
    assert ids.display(tubes[-1]) in page.locator("[data-scan-history] > li").first.inner_text()
    assert focused_id(page) == "receipt-barcode"


# --- reports --------------------------------------------------------------------------------


def test_a_coordinator_finds_the_missing_tube_in_the_reports(
    page, collector, technician, coordinator, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    *found, lost = [item.sample for item in shipment.items]
    with unit_of_work():
        for sample in found:
            receiving.receive_scan(technician, shipment, sample.barcode)
        receiving.close_receipt(technician, shipment, condition="good", signature_password=PASSWORD)
    lost_id, manifest_number = lost.display_barcode, shipment.manifest_number
    db.session.rollback()

    log_in(page, "coordinator")
    page.get_by_role("link", name="Reports").click()
    page.select_option("#filter-state", "missing")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "state=missing" in page.url
    rows = page.locator(".report-table tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert lost_id in row and manifest_number in row and "missing" in row
    screenshot(page, "reports-overdue")

    page.get_by_role("link", name="Discrepancies").click()
    assert lost_id in page.locator(".report-table").inner_text()


def test_a_scan_made_in_error_is_undone_and_a_damaged_tube_quarantined_from_the_bench(
    page, collector, technician, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    shipment_id, tubes = shipment.id, [item.sample.barcode for item in shipment.items]
    db.session.rollback()
    log_in(page, "technician")
    page.goto(f"/receiving/{shipment_id}")
    wait_for_focus(page, "receipt-barcode")
    assert scan_and_wait(page, ids.display(tubes[0]))["outcome"] == "expected"
    page.get_by_label("The next tube is damaged").check()
    assert scan_and_wait(page, ids.display(tubes[1]))["outcome"] == "expected"
    assert count(page, "received") == 2

    # The first scan was a tube from another box: its history entry fills the correction
    # form, and the focus stays on the reason (the scan field does not pull it back).
    shown = ids.display(tubes[0])
    page.get_by_role("button", name=f"Undo the scan of {shown} or set it aside").click()
    assert page.input_value("#correction-barcode") == shown
    page.wait_for_timeout(300)
    assert focused_id(page) == "correction-reason"
    page.keyboard.type("from the box of another shipment")
    screenshot(page, "guide-receiving-correction", full_page=False)
    page.get_by_role("button", name="Undo its scan").click()
    page.wait_for_url(f"**/receiving/{shipment_id}#correction")
    assert f"Scan of {ids.display(tubes[0])}" in page.locator(".flash").first.inner_text()
    assert count(page, "received") == 1
    assert page.locator(f"[data-missing-list] li[data-barcode='{tubes[0]}']").count() == 1

    # The damaged tube is set aside: quarantined, so it is not stored until released.
    page.fill("#correction-barcode", ids.display(tubes[1]))
    page.fill("#correction-reason", "cracked cap, ask the clinic")
    page.get_by_role("button", name="Quarantine it").click()
    page.wait_for_url(f"**/receiving/{shipment_id}#correction")
    assert "is quarantined: set it aside" in page.content()
    db.session.expire_all()
    assert "quarantined" in samples.find_by_barcode(tubes[1]).flag_kinds
    db.session.rollback()

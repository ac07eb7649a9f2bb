"""The pages work under their real Content-Security-Policy: no inline script, nothing from
another host, no violation reported by the browser."""

from __future__ import annotations

import pytest

from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_pages_run_under_the_real_policy(
    playwright_browser,
    live_server,
    collector,
    technician,
    start_collection,
    received_tubes,
    freezer,
    boxes,
    dispatched_shipment,
):
    collection = start_collection(collector, "P100000001")
    on_the_way = dispatched_shipment(collector, participant_id="P100000003")
    tubes = received_tubes(collector, participant_id="P100000002")
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tubes[0].barcode)
    context = playwright_browser.new_context(base_url=live_server)  # CSP enforced
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            violations.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(str(error)))

    def log_in(username: str) -> None:
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.press("#password", "Enter")

    log_in("collector")
    for path in ("/", "/collections/new", f"/collections/{collection.id}", "/shipments/new"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=10_000)  # the docs' own script ran
    context.clear_cookies()
    log_in("technician")
    for path in (
        f"/receiving/{on_the_way.id}",
        f"/storage/boxes/{boxes[0].id}",
        f"/samples/{tubes[0].barcode}",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    # The box page's script works under the policy: a scan stores a tube in place.
    page.goto(f"/storage/boxes/{boxes[0].id}")
    scan = page.locator("input[data-scan]").first
    scan.fill(tubes[1].barcode)
    scan.press("Enter")
    page.wait_for_selector(f"text={tubes[1].tube_type.code}", timeout=10_000)
    context.close()
    assert violations == []

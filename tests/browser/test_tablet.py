"""At the bench the app runs on a tablet: pages fit its width, targets are big enough."""

from __future__ import annotations

import pytest

from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.browser.test_collections import log_in

pytestmark = pytest.mark.browser

TABLET = {"width": 820, "height": 1180}  # a 10-inch tablet held upright


def _fits(page) -> None:
    overflow = page.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px"
    small = page.evaluate(
        """Array.from(document.querySelectorAll(
             'main button, main input:not([type=hidden]), main select'))
           .filter(el => el.offsetParent !== null)
           .map(el => {
             // a radio or checkbox is tapped through its label
             const toggle = el.type === 'radio' || el.type === 'checkbox';
             const label = el.closest('label')
               || document.querySelector(`label[for="${el.id}"]`);
             const target = toggle && label ? label : el;
             return [el, target.getBoundingClientRect().height];
           })
           .filter(([el, height]) => height < 32)
           .map(([el]) => el.outerHTML.slice(0, 80))"""
    )
    assert small == [], f"{page.url}: controls smaller than a fingertip: {small}"


def test_clinic_and_bench_pages_fit_a_tablet(
    page, collector, technician, start_collection, received_tubes, freezer, boxes
):
    collection = start_collection(collector, "P100000001")
    tubes = received_tubes(collector, participant_id="P100000002")
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tubes[0].barcode)
    page.set_viewport_size(TABLET)
    log_in(page, "collector")
    for path in ("/", "/collections/new", f"/collections/{collection.id}", "/shipments/new"):
        page.goto(path)
        _fits(page)
    page.click("text=Log out")
    log_in(page, "technician")
    for path in (
        "/",
        "/receiving",
        "/storage/",
        f"/storage/boxes/{boxes[0].id}",
        f"/samples/{tubes[0].barcode}",
    ):
        page.goto(path)
        _fits(page)

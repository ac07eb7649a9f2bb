"""A tube page gone stale (a colleague acted a moment ago, or a double click): the move and
thaw forms send what the page showed, and a stale form is refused with words that say why."""

from __future__ import annotations

from html import unescape

from tests.web.test_collections import form_posting_to
from tests.web.test_samples import fresh, page_of, stored_sst, tech_client  # noqa: F401


def test_a_stale_move_form_is_refused_saying_where_the_tube_is(tech_client, stored_sst, boxes):  # noqa: F811
    html, _ = page_of(tech_client, stored_sst)
    path = f"/samples/{stored_sst.barcode}/move"
    form = form_posting_to(html, path)
    assert (form["from_box"], form["from_position"]) == (str(boxes[0].id), "A1")
    first = tech_client.post(path, data={**form, "box_id": str(boxes[1].id), "position": "C3"})
    assert first.status_code == 302
    # The same page, submitted again (another tab, a double click): refused.
    stale = tech_client.post(path, data={**form, "box_id": str(boxes[1].id), "position": "D4"})
    assert stale.status_code == 409
    page = unescape(stale.get_data(as_text=True))
    assert "was moved by you (another click, tab or device) a moment ago" in page
    assert "it is now at Freezer 1 › Shelf 1 › Box 2 › C3, not where you saw it (A1)" in page
    assert fresh(stored_sst).position.label == "C3"
    # The page shown again carries the tube's place now: sending it is a fresh decision.
    again = form_posting_to(stale.get_data(as_text=True), path)
    assert (again["from_box"], again["from_position"]) == (str(boxes[1].id), "C3")
    moved = tech_client.post(path, data={**again, "box_id": str(boxes[1].id), "position": "D4"})
    assert moved.status_code == 302
    assert fresh(stored_sst).position.label == "D4"


def test_a_move_form_without_the_place_still_moves(tech_client, stored_sst, boxes):  # noqa: F811
    _, token = page_of(tech_client, stored_sst)
    moved = tech_client.post(
        f"/samples/{stored_sst.barcode}/move",
        data={"csrf_token": token, "box_id": str(boxes[1].id), "position": "B2"},
    )
    assert moved.status_code == 302 and fresh(stored_sst).position.label == "B2"


def test_a_double_clicked_thaw_counts_one_cycle(tech_client, stored_sst):  # noqa: F811
    html, _ = page_of(tech_client, stored_sst)
    path = f"/samples/{stored_sst.barcode}/thaw"
    form = form_posting_to(html, path)
    assert form["cycles_seen"] == "0"
    assert tech_client.post(path, data=form).status_code == 302
    twice = tech_client.post(path, data=form)
    assert twice.status_code == 409
    assert "it is now at freeze–thaw count 1 (you saw 0)" in unescape(twice.get_data(as_text=True))
    assert fresh(stored_sst).freeze_thaw_count == 1

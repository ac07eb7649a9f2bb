"""A page's total is counted a little past the page, never every matching row."""

from __future__ import annotations

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import TubeType
from biobank.services.core import pages


def test_a_total_is_counted_past_the_page_and_says_when_it_stopped(app, monkeypatch):
    listed = sa.select(TubeType).order_by(TubeType.id)
    every = len(db.session.scalars(listed).all())
    assert every > 10
    whole = pages.paginate(listed, per_page=5)
    assert (whole.total, whole.total_exact, len(whole.items)) == (every, True, 5)

    monkeypatch.setattr(pages, "COUNTED_PAST_THE_PAGE", 3)
    first = pages.paginate(listed, per_page=5)
    assert (first.total, first.total_exact, len(first.items)) == (8, False, 5)
    # A later page counts as far past itself: the last one knows the whole list.
    last = pages.paginate(listed, page=3, per_page=5)
    assert (last.total, last.total_exact, len(last.items)) == (every, True, every - 10)

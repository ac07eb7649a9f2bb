"""Pagination for every list: `{items, total, page, per_page}`, counted in the caller's scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from biobank.extensions import db

T = TypeVar("T")
MAX_PER_PAGE = 200
# Far past any real list; past it a page number would overflow the database's OFFSET.
MAX_PAGE = 1_000_000
# A list's total is counted this far past the page and no further: counting every one of
# millions of stored tubes costs more than the page itself, and nobody pages through them.
COUNTED_PAST_THE_PAGE = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int
    # False when more match than were counted: ``total`` is then a lower bound.
    total_exact: bool = True


def paginate(
    stmt: sa.Select[Any], *, page: int = 1, per_page: int = 50, most: int = MAX_PER_PAGE
) -> Page[Any]:
    """One page of ``stmt``'s rows. ``stmt`` must already be scoped to what the user may see.
    ``most`` caps a page: raised only for downloads that want every row. The total is counted
    up to ``COUNTED_PAST_THE_PAGE`` rows past the page (``total_exact`` says if it stopped)."""
    per_page = max(1, min(per_page, most))
    page = max(1, min(page, MAX_PAGE))
    reach = (page - 1) * per_page + per_page + COUNTED_PAST_THE_PAGE
    counted = db.session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).limit(reach + 1).subquery())
    )
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    total = min(counted or 0, reach)
    return Page(
        items=items, total=total, page=page, per_page=per_page, total_exact=total == counted
    )


def page_of(items: Sequence[T], *, page: int = 1, per_page: int = 50) -> Page[T]:
    """Paginate a list already in memory (small catalogues)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, min(page, MAX_PAGE))
    start = (page - 1) * per_page
    return Page(
        items=items[start : start + per_page], total=len(items), page=page, per_page=per_page
    )

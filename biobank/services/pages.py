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


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int


def paginate(
    stmt: sa.Select[Any], *, page: int = 1, per_page: int = 50, most: int = MAX_PER_PAGE
) -> Page[Any]:
    """One page of ``stmt``'s rows. ``stmt`` must already be scoped to what the user may see.
    ``most`` caps a page: raised only for downloads that want every row."""
    per_page = max(1, min(per_page, most))
    page = max(1, min(page, MAX_PAGE))
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
    )
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


def page_of(items: Sequence[T], *, page: int = 1, per_page: int = 50) -> Page[T]:
    """Paginate a list already in memory (small catalogues)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, min(page, MAX_PAGE))
    start = (page - 1) * per_page
    return Page(
        items=items[start : start + per_page], total=len(items), page=page, per_page=per_page
    )

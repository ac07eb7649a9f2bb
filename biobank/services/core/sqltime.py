"""Date arithmetic in SQL that reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from biobank.extensions import db


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def hours_between(start: Any, end: Any) -> sa.ColumnElement[Any]:
    """``end - start`` in hours, as a number."""
    if _dialect() == "postgresql":
        return sa.func.extract("epoch", end - start) / 3600.0
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 24.0


def local_day(column: Any, zone: str) -> sa.ColumnElement[str]:
    """The calendar day (YYYY-MM-DD) of a UTC time column in an IANA zone.

    PostgreSQL converts with the zone itself (DST included); SQLite knows no zones, so it
    shifts by the zone's offset today, which is right except across a DST change.
    """
    if _dialect() == "postgresql":
        return sa.func.to_char(sa.func.timezone(zone, column), "YYYY-MM-DD")
    offset = datetime.now(ZoneInfo(zone)).utcoffset() or timedelta(0)
    return sa.func.strftime("%Y-%m-%d", column, f"{offset.total_seconds() / 3600:+.2f} hours")

"""The range every time given to the system must fall in, checked in one place.

A time comes from a person (a web form, read in the site's zone), a program (the API's
ISO 8601 with its UTC offset) or a file (the inventory import). Each is checked here before any
service keeps it: not before ``EARLIEST`` (a year 0001 or 1900 is a typing slip, and one near
the ends of the calendar cannot even be converted to UTC or to a site's zone) and not more
than ``CLOCK_SKEW`` ahead of now (a clock a little fast is no reason to refuse a scan; a date
in the future is a mistake).

Times already stored outside the range (from before this check) are still shown: ``in_zone``
falls back to UTC where a site's zone cannot hold them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from biobank.db import utcnow
from biobank.errors import ValidationFailed

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_TEXT = "2000-01-01T00:00:00Z"
CLOCK_SKEW = timedelta(minutes=5)
ALLOWED_RANGE = f"give a time from {EARLIEST_TEXT} up to now (at most 5 minutes ahead)"


def time_problem(at: datetime, field: str, *, now: datetime | None = None) -> str | None:
    """Why ``at`` cannot be kept as ``field``, naming the field and the allowed range; or None."""
    if at.tzinfo is None or at.utcoffset() is None:
        return f"{field}: give the time with its UTC offset (e.g. 2024-03-01T09:30:00-06:00)."
    if at < EARLIEST:
        return f"{field}: {at.isoformat()} is before {EARLIEST_TEXT}: {ALLOWED_RANGE}."
    if at > (now or utcnow()) + CLOCK_SKEW:
        return (
            f"{field}: {at.isoformat()} is in the future: {ALLOWED_RANGE}; check the clock "
            "and the date."
        )
    return None


def check_time(at: datetime, field: str, *, now: datetime | None = None) -> datetime:
    """``at`` if it is in range; otherwise a 422 on ``field`` that says what to give."""
    problem = time_problem(at, field, now=now)
    if problem:
        raise ValidationFailed.for_field(field, problem)
    return at


def in_zone(moment: datetime, zone: tzinfo | None) -> datetime:
    """``moment`` in ``zone`` for display; in UTC when the zone cannot hold it (a time near
    year 1 stored before the range was checked), so a page never fails on old data."""
    try:
        return moment.astimezone(zone)
    except (OverflowError, ValueError):
        return moment.astimezone(UTC)


def days_in(
    zone: str, since: date | None, until: date | None
) -> tuple[datetime | None, datetime | None]:
    """A range of days in ``zone``, both days included, as ``since`` / ``until`` for the
    filters (the start of the first day, the start of the day after the last)."""
    if since is not None and until is not None and since > until:
        raise ValidationFailed.for_field("until", "The To date is before the From date: swap them.")
    local = ZoneInfo(zone)
    return (
        datetime.combine(since, time(), local) if since else None,
        datetime.combine(until + timedelta(days=1), time(), local) if until else None,
    )

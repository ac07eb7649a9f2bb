"""Figures over a window of days: kept figures of the closed days, a live count of the rest.

A report over the last 90 days would otherwise read every tube stored in them, half a million
at a program's pace. A figure here is a query that counts tubes per UTC day of ``stored_at``
into ``{key: [tubes, total]}``; each closed day's result is kept in ``day_tallies`` the first
time it is asked for, with the day's version (``models.tallies``). A day is closed once it
ended ``SETTLED`` ago, so nothing stamped with that day is still uncommitted. The window's
partial first day and the days not yet closed are counted live.

The day's version is read before its tubes: a change that commits in between leaves the kept
figure under the old version, so it is computed again next time rather than kept wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from biobank.db import bound_engine, rows_affected, side_engine
from biobank.errors import describe_exception
from biobank.extensions import db
from biobank.models import DayTally, TallyVersion

log = logging.getLogger(__name__)

# Longer than any transaction that stamps a tube with the time it started.
SETTLED = timedelta(hours=1)

Counts = dict[str, list[float]]
# A figure's query: tubes stored in [start, end) (end None: to this moment and after, as a
# tube stored a moment ago counts), per UTC day (YYYY-MM-DD) and key.
DayCounter = Callable[[datetime, datetime | None], dict[str, Counts]]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def closed_days(since: datetime, now: datetime) -> list[date]:
    """The whole UTC days inside [since, now) that ended at least ``SETTLED`` ago."""
    first = since.astimezone(UTC).date()
    if _start_of(first) < since:
        first += timedelta(days=1)
    last = (now.astimezone(UTC) - SETTLED).date() - timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _add(total: Counts, counts: Counts) -> None:
    for key, (tubes, amount) in counts.items():
        kept = total.setdefault(key, [0, 0.0])
        kept[0] += tubes
        kept[1] += amount


def window_counts(figure: str, count: DayCounter, since: datetime, now: datetime) -> Counts:
    """``figure``'s counts for tubes stored since ``since``: kept days from ``day_tallies``
    (those missing or stale counted and kept now), the rest counted live."""
    days = closed_days(since, now)
    total: Counts = {}
    if not days:
        for counts in count(since, None).values():
            _add(total, counts)
        return total
    first, last = days[0].isoformat(), days[-1].isoformat()
    versions = dict(
        db.session.execute(
            sa.select(TallyVersion.day, TallyVersion.version).where(
                TallyVersion.day.between(first, last)
            )
        ).all()
    )
    kept = {
        day: (version, counts)
        for day, version, counts in db.session.execute(
            sa.select(DayTally.day, DayTally.version, DayTally.counts).where(
                DayTally.figure == figure, DayTally.day.between(first, last)
            )
        )
    }
    stale = [
        d for d in days if kept.get(d.isoformat(), (None,))[0] != versions.get(d.isoformat(), 0)
    ]
    recount = set(stale)
    fresh: dict[str, Counts] = {}
    for start, end in _runs(stale):
        fresh |= count(start, end)
    for day in days:
        name = day.isoformat()
        _add(total, fresh.get(name, {}) if day in recount else kept[name][1])
    live = count(since, _start_of(days[0])) | count(_start_of(days[-1] + timedelta(days=1)), None)
    for counts in live.values():
        _add(total, counts)
    if stale:
        _keep(
            figure,
            [
                {
                    "figure": figure,
                    "day": d.isoformat(),
                    "version": versions.get(d.isoformat(), 0),
                    "counts": fresh.get(d.isoformat(), {}),
                }
                for d in stale
            ],
        )
    return total


def forget_kept() -> int:
    """Drop every kept day figure (each is counted again when next asked for); how many."""
    return rows_affected(db.session.execute(sa.delete(DayTally)))


def _runs(days: list[date]) -> list[tuple[datetime, datetime]]:
    """Consecutive days as [start, end) ranges: one query per run, not per day."""
    runs: list[tuple[datetime, datetime]] = []
    for day in days:
        start, end = _start_of(day), _start_of(day + timedelta(days=1))
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def _keep(figure: str, rows: list[dict[str, Any]]) -> None:
    """Write the days' figures in a short transaction of their own (a report is a read: the
    request's own transaction is never committed). Not kept is not wrong: the next report
    counts those days again, so a failure here is logged, not raised."""
    engine = side_engine(bound_engine(db.session))
    insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(DayTally)
    statement = insert.on_conflict_do_update(
        index_elements=[DayTally.figure, DayTally.day],
        set_={"version": insert.excluded.version, "counts": insert.excluded.counts},
    )
    try:
        with engine.begin() as connection:
            connection.execute(statement, rows)
    except sa.exc.DBAPIError as error:
        log.warning("kept figures of %s not written: %s", figure, describe_exception(error))

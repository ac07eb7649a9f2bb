"""Kept figures of closed days: the same answer as counting every tube, and counted again
whenever a day's tubes change after the fact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import DayTally, Sample, SampleStatus, TallyVersion
from biobank.services.collecting import collections
from biobank.services.reporting import reports, tallies
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work

FIGURE = "collection_to_freezer"


def _stored(monkeypatch, technician, freezer, tubes, at: datetime) -> None:
    monkeypatch.setattr(placing, "utcnow", lambda: at)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    monkeypatch.undo()


def _kept() -> dict[str, tuple[int, dict]]:
    db.session.rollback()  # what the side transaction committed
    return {
        day: (version, counts)
        for day, version, counts in db.session.execute(
            sa.select(DayTally.day, DayTally.version, DayTally.counts).where(
                DayTally.figure == FIGURE
            )
        )
    }


def _versions() -> dict[str, int]:
    db.session.rollback()
    return dict(db.session.execute(sa.select(TallyVersion.day, TallyVersion.version)).all())


@pytest.mark.parametrize(
    ("since", "now", "closed"),
    [
        # The partial first day is counted live; so is a day that ended less than an hour ago.
        ("2026-03-01T10:00", "2026-03-05T00:30", ["2026-03-02", "2026-03-03"]),
        (
            "2026-03-01T00:00",
            "2026-03-05T01:00",
            ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"],
        ),
        ("2026-03-04T12:00", "2026-03-05T09:00", []),
    ],
)
def test_closed_days_are_whole_and_settled(since, now, closed):
    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    assert tallies.closed_days(utc(since), utc(now)) == [date.fromisoformat(d) for d in closed]


def test_a_closed_day_is_kept_read_back_and_counted_again_after_a_correction(
    monkeypatch, coordinator, technician, collector, received_tubes, freezer
):
    tubes = received_tubes(collector)
    drawn = tubes[0].collected_at
    stored_at = drawn + timedelta(hours=23.5)
    _stored(monkeypatch, technician, freezer, tubes, stored_at)
    assert _versions() == {}  # storing lands on its own day, which nobody has kept yet
    later = stored_at + timedelta(days=3)
    stored_day = stored_at.astimezone(UTC).date().isoformat()
    site = tubes[0].site_id

    [row] = reports.collection_to_freezer(coordinator, now=later)
    assert row.buckets["under 1 day"] == row.stored == len(tubes)
    kept = _kept()
    assert kept[stored_day][0] == 0
    assert kept[stored_day][1] == {f"{site}|under 1 day": [len(tubes), pytest.approx(23.5 * 8)]}
    assert all(counts == {} for day, (_, counts) in kept.items() if day != stored_day)
    # Every closed day of the window is kept, and nothing of the days still open.
    assert len(kept) == len(tallies.closed_days(later - timedelta(days=90), later))

    # Read back, not counted again: a kept figure altered by hand is what the report shows.
    db.session.execute(
        sa.update(DayTally)
        .where(DayTally.figure == FIGURE, DayTally.day == stored_day)
        .values(counts={f"{site}|over 7 days": [1, 200.0]})
    )
    db.session.commit()
    [row] = reports.collection_to_freezer(coordinator, now=later)
    assert (row.stored, row.buckets["over 7 days"]) == (1, 1)

    # A corrected draw time changes the day's tubes: its version moves on, the day is counted
    # from the tubes again, and kept under the new version.
    collection = db.session.get(Sample, tubes[0].id).collection
    with unit_of_work():
        collections.amend_collection(
            collector,
            collection,
            "The draw clock was an hour fast",
            corrections=[
                collections.TubeCorrection(
                    tubes[0].barcode, collected_at=drawn - timedelta(hours=1)
                )
            ],
        )
    assert _versions() == {stored_day: 1}
    [row] = reports.collection_to_freezer(coordinator, now=later)
    assert row.buckets["under 1 day"] == len(tubes) - 1
    assert row.buckets["1–2 days"] == 1
    assert _kept()[stored_day][0] == 1


def test_the_window_adds_up_to_counting_every_tube(
    monkeypatch, coordinator, technician, collector, received_tubes, freezer
):
    """Tubes stored on a partial first day, on closed days and on a day not yet closed: the
    kept-and-live answer is the one a single count over the window gives."""
    first = received_tubes(collector, participant_id="P100000001")
    second = received_tubes(collector, participant_id="P100000002")
    third = received_tubes(collector, participant_id="P100000003")
    drawn = first[0].collected_at
    for tubes, hours in ((first, 20), (second, 50), (third, 100)):
        _stored(monkeypatch, technician, freezer, tubes, drawn + timedelta(hours=hours))
    now = drawn + timedelta(hours=101)  # the third lot's day is still open
    since = drawn + timedelta(hours=10)

    def rounded(counts: dict[str, list[float]]) -> dict[str, tuple[int, float]]:
        return {key: (int(tubes), round(hours, 3)) for key, (tubes, hours) in counts.items()}

    counted = tallies.window_counts(FIGURE, reports._draw_to_freezer_by_day, since, now)
    once: dict[str, list[float]] = {}
    for counts in reports._draw_to_freezer_by_day(since, None).values():
        for key, (tubes, hours) in counts.items():
            once.setdefault(key, [0, 0.0])
            once[key][0] += tubes
            once[key][1] += hours
    assert rounded(counted) == rounded(once)
    assert sum(tubes for tubes, _ in counted.values()) == len(first) + len(second) + len(third)
    # Asked again, from what was kept: the same.
    again = tallies.window_counts(FIGURE, reports._draw_to_freezer_by_day, since, now)
    assert rounded(again) == rounded(once)
    # Every closed day of the window is kept: two or three of them, by the hour the test runs
    # at (the window is 91 hours; the tubes were drawn at the time the test runs).
    closed = tallies.closed_days(since, now)
    assert len(closed) >= 2
    assert sorted(_kept()) == [day.isoformat() for day in closed]


def test_tubes_loaded_already_stored_or_moved_to_another_day_raise_their_days(
    technician, collector, received_tubes, freezer, monkeypatch
):
    tubes = received_tubes(collector)
    at = datetime(2026, 3, 2, 15, tzinfo=UTC)
    _stored(monkeypatch, technician, freezer, tubes, at)
    connection = db.session.connection()
    connection.execute(
        sa.update(Sample).where(Sample.id == tubes[0].id).values(stored_at=at + timedelta(days=2))
    )
    template = db.session.get(Sample, tubes[1].id)
    connection.execute(
        sa.insert(Sample),
        [
            {
                "barcode": f"LOADED{index:04d}",
                "tube_type_id": template.tube_type_id,
                "site_id": template.site_id,
                "custody_site_id": template.custody_site_id,
                "status": SampleStatus.STORED,
                "freeze_thaw_count": 0,
                "stored_at": at - timedelta(days=days),
            }
            for index, days in enumerate((3, 3, 4))
        ],
    )
    db.session.commit()
    versions = _versions()
    assert set(versions) == {"2026-03-02", "2026-03-04", "2026-02-27", "2026-02-26"}
    assert all(version >= 1 for version in versions.values())

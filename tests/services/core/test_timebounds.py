"""The one range every time given to the system must fall in (2000 up to now), and showing
times stored outside it without failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from biobank.db import utcnow
from biobank.errors import ValidationFailed
from biobank.services.collecting import collections, participants
from biobank.services.core.timebounds import EARLIEST, check_time, in_zone, time_problem
from biobank.unit_of_work import unit_of_work

PLUS_14 = timezone(timedelta(hours=14))
MINUS_12 = timezone(timedelta(hours=-12))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "words"),
    [
        (datetime(1, 1, 1, tzinfo=PLUS_14), "0001-01-01T00:00:00+14:00 is before 2000-01-01"),
        (datetime(1, 1, 1, tzinfo=UTC), "is before 2000-01-01T00:00:00Z"),
        (datetime(1900, 1, 1, tzinfo=UTC), "1900-01-01T00:00:00+00:00 is before"),
        (datetime(2000, 1, 1, 9, 59, tzinfo=ZoneInfo("Pacific/Kiritimati")), "is before"),
        (datetime(9999, 12, 31, 23, 59, tzinfo=MINUS_12), "is in the future"),
        (NOW + timedelta(minutes=6), "is in the future"),
        (datetime(2025, 1, 1), "give the time with its UTC offset"),
    ],
)
def test_times_outside_2000_to_now_are_refused_naming_the_field_and_the_range(at, words):
    problem = time_problem(at, "collected_at", now=NOW)
    assert problem is not None and problem.startswith("collected_at: ")
    assert words in problem
    if "offset" not in words:
        assert "from 2000-01-01T00:00:00Z up to now (at most 5 minutes ahead)" in problem
    with pytest.raises(ValidationFailed) as refused:
        check_time(at, "collected_at", now=NOW)
    assert refused.value.errors == {"collected_at": [problem]}


@pytest.mark.parametrize(
    "at",
    [
        EARLIEST,
        datetime(2000, 1, 1, 14, 0, tzinfo=ZoneInfo("Pacific/Kiritimati")),
        NOW,
        NOW + timedelta(minutes=4),
    ],
)
def test_times_from_2000_up_to_a_few_minutes_ahead_are_kept(at):
    assert time_problem(at, "at", now=NOW) is None
    assert check_time(at, "at", now=NOW) is at


def test_a_stored_time_a_zone_cannot_hold_is_shown_in_utc():
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    assert in_zone(year_one, ZoneInfo("America/Chicago")) == year_one
    assert in_zone(year_one, ZoneInfo("America/Chicago")).tzinfo is UTC
    assert in_zone(NOW, ZoneInfo("America/Chicago")).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=PLUS_14),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_the_collection_services_refuse_a_time_before_2000(collector, start_collection, at):
    collection = start_collection(collector)
    sst = next(s for s in collection.samples if s.tube_type.code.startswith("1SST"))
    with pytest.raises(ValidationFailed) as refused:
        collections.record_collected(collector, collection, sst.barcode, at)
    assert list(refused.value.errors) == ["collected_at"]
    assert "before 2000-01-01T00:00:00Z" in refused.value.detail
    with unit_of_work():
        collections.record_collected(
            collector, collection, sst.barcode, utcnow() - timedelta(hours=1)
        )
    with pytest.raises(ValidationFailed) as refused:
        collections.record_processed(collector, collection, sst.barcode, at)
    assert list(refused.value.errors) == ["processed_at"]
    with pytest.raises(ValidationFailed) as refused:
        collections.finalize_collection(collector, collection, at=at)
    assert list(refused.value.errors) == ["finalized_at"]


def test_a_withdrawal_before_2000_is_refused(coordinator):
    with pytest.raises(ValidationFailed) as refused:
        participants.upsert_participant(
            coordinator,
            "P123456789",
            biospecimen_consent=True,
            withdrawn_at=datetime(1900, 1, 1, tzinfo=UTC),
        )
    assert list(refused.value.errors) == ["withdrawn_at"]
    assert "before 2000-01-01T00:00:00Z" in refused.value.detail

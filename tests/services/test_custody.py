from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from biobank.db import unit_of_work
from biobank.extensions import db
from biobank.models import Event, EventType
from biobank.services.custody import GENESIS_HASH, record_event, verify_chain
from tests.conftest import ON_POSTGRES
from tests.factories import raw_sample


def _record_some(actor, sample, n=3):
    with unit_of_work():
        for index in range(n):
            record_event(EventType.FLAGGED, actor=actor, sample=sample, details={"n": index})


def test_events_link_into_one_chain(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample)
    events = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert verify_chain().intact
    assert verify_chain().checked == 3


def test_event_records_actor_site_and_utc_time(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=1)
    event = db.session.scalar(sa.select(Event))
    assert event.actor_id == technician.id
    assert event.site_id == technician.site_id
    assert event.sample_id == sample.id
    assert event.at.utcoffset().total_seconds() == 0


def test_a_rolled_back_event_leaves_no_gap_in_the_chain(technician):
    sample = raw_sample(technician.site)
    db.session.commit()
    with pytest.raises(RuntimeError), unit_of_work():
        record_event(EventType.FLAGGED, actor=technician, sample=sample)
        raise RuntimeError("fails midway")
    _record_some(technician, sample, n=2)
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 2
    assert verify_chain().intact


def test_events_cannot_be_updated_or_deleted(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=1)
    for statement in ("UPDATE events SET reason = 'edited'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 1


def _tamper(statement: str) -> None:
    """Edit events behind the app's back, the way someone with database access could."""
    connection = db.session.connection()
    if ON_POSTGRES:
        connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        connection.exec_driver_sql(statement)
        connection.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
    else:
        connection.exec_driver_sql("DROP TRIGGER events_no_update")
        connection.exec_driver_sql("DROP TRIGGER events_no_delete")
        connection.exec_driver_sql(statement)
    db.session.commit()


def test_verify_names_the_first_altered_event(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=4)
    second = db.session.scalars(sa.select(Event.id).order_by(Event.id)).all()[1]
    _tamper(f"UPDATE events SET reason = 'nothing happened' WHERE id = {second}")
    report = verify_chain()
    assert not report.intact
    assert report.first_break.event_id == second
    assert "altered" in report.first_break.problem


def test_verify_notices_a_removed_event(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=4)
    ids = db.session.scalars(sa.select(Event.id).order_by(Event.id)).all()
    _tamper(f"DELETE FROM events WHERE id = {ids[1]}")
    report = verify_chain()
    assert report.first_break.event_id == ids[2]
    assert "removed" in report.first_break.problem

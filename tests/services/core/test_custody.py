"""The custody log's writer and its verification: each event goes in with its own leaf hash,
the sequencer numbers committed events into the Merkle tree, the database refuses every other
change, and verification names what an insider altered, removed or cut short."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from biobank.extensions import db
from biobank.models import CustodyTreeHead, CustodyTreeNode, Event, EventType
from biobank.sequencer import sequence_pending
from biobank.services.core.custody import leaf_bytes, record_event
from biobank.services.core.custody_log import verify_chain
from biobank.tlog.merkle import HashReader, MemoryStore, leaf_hash
from biobank.unit_of_work import unit_of_work
from tests.conftest import ON_POSTGRES
from tests.factories import raw_sample, tamper_with_the_log


def _record_some(actor, sample, n=3):
    with unit_of_work():
        for index in range(n):
            record_event(EventType.FLAGGED, actor=actor, sample=sample, details={"n": index})


def test_each_event_carries_the_hash_of_its_published_leaf(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample)
    events = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
    assert [e.details["n"] for e in events] == [0, 1, 2]  # ids in the order recorded
    for event in events:
        leaf = leaf_bytes(
            id=event.id,
            type="flagged",
            at=event.at,
            recorded_at=event.recorded_at,
            actor="technician",
            site="MAYO-BB",
            sample=sample.barcode,
            collection_id=None,
            shipment_id=None,
            container_id=None,
            reason=None,
            details=event.details,
        )
        assert event.leaf_hash == leaf_hash(leaf)
        assert f'"sample":"{sample.barcode}"'.encode() in leaf
        assert event.log_index is None  # not sequenced yet
    report = verify_chain()
    assert report.intact
    assert (report.checked, report.tree_size, report.pending) == (3, 0, 3)


def test_the_sequencer_numbers_committed_events_into_the_tree(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=20)
    assert sequence_pending(batch=7) == 20  # three batches
    events = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
    assert [e.log_index for e in events] == list(range(20))
    heads = db.session.scalars(sa.select(CustodyTreeHead).order_by(CustodyTreeHead.tree_size))
    expected = MemoryStore.of_leaf_hashes([e.leaf_hash for e in events], stride=4)
    assert [(h.tree_size, h.root_hash) for h in heads] == [
        (size, HashReader(expected).root(size)) for size in (7, 14, 20)
    ]
    stored = db.session.execute(sa.select(CustodyTreeNode.level, CustodyTreeNode.position)).all()
    assert sorted(stored) == [(4, 0)]  # the one complete 16-leaf subtree
    assert sequence_pending() == 0
    report = verify_chain()
    assert report.intact, report.first_break
    assert (report.checked, report.tree_size, report.pending) == (20, 20, 0)


def test_event_records_actor_site_and_utc_time(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=1)
    event = db.session.scalar(sa.select(Event))
    assert event.actor_id == technician.id
    assert event.site_id == technician.site_id
    assert event.sample_id == sample.id
    assert event.at.utcoffset().total_seconds() == 0
    assert event.recorded_at.utcoffset().total_seconds() == 0


def test_a_rolled_back_event_leaves_nothing_behind(technician):
    sample = raw_sample(technician.site)
    db.session.commit()
    with pytest.raises(RuntimeError), unit_of_work():
        record_event(EventType.FLAGGED, actor=technician, sample=sample)
        raise RuntimeError("fails midway")
    _record_some(technician, sample, n=2)
    sequence_pending()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 2
    assert verify_chain().intact


def test_events_cannot_be_updated_deleted_or_truncated(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=1)
    sequence_pending()
    statements = [
        "UPDATE events SET reason = 'edited'",
        "UPDATE events SET log_index = 7",  # a place in the log is given once
        "DELETE FROM events",
        "UPDATE custody_tree_heads SET tree_size = 5",
        "DELETE FROM custody_tree_heads",
    ]
    if ON_POSTGRES:
        statements += ["TRUNCATE events CASCADE", "TRUNCATE custody_tree_heads"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 1


def test_no_column_of_an_event_but_its_log_index_can_be_set(technician):
    """The trigger lists the columns it guards: a column added later must be added to it."""
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=1)
    for column in Event.__table__.columns:
        if column.name == "log_index":
            continue
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(f"UPDATE events SET {column.name} = {column.name}"))
        db.session.rollback()
    db.session.execute(sa.text("UPDATE events SET log_index = 0"))  # the sequencer's one write
    db.session.rollback()


def _ids():
    return db.session.scalars(sa.select(Event.id).order_by(Event.id)).all()


def test_verify_names_the_first_altered_event(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=4)
    sequence_pending()
    second = _ids()[1]
    tamper_with_the_log(f"UPDATE events SET reason = 'nothing happened' WHERE id = {second}")
    report = verify_chain()
    assert not report.intact
    assert report.first_break.event_id == second
    assert "altered" in report.first_break.problem


def test_verify_notices_a_removed_event(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=4)
    sequence_pending()
    ids = _ids()
    tamper_with_the_log(f"DELETE FROM events WHERE id = {ids[1]}")
    report = verify_chain()
    assert report.first_break.event_id == ids[2]
    assert "removed" in report.first_break.problem


def test_verify_notices_the_log_cut_short(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=4)
    sequence_pending()
    tamper_with_the_log(f"DELETE FROM events WHERE id = {_ids()[-1]}")
    report = verify_chain()
    assert not report.intact
    assert "removed from its end" in report.first_break.problem


def test_an_altered_event_with_its_leaf_hash_recomputed_breaks_the_tree(technician):
    sample = raw_sample(technician.site)
    _record_some(technician, sample, n=20)
    sequence_pending()
    event = db.session.scalar(sa.select(Event).where(Event.log_index == 3))
    forged = leaf_hash(
        leaf_bytes(
            id=event.id,
            type=event.type,
            at=event.at,
            recorded_at=event.recorded_at,
            actor="technician",
            site="MAYO-BB",
            sample=sample.barcode,
            collection_id=None,
            shipment_id=None,
            container_id=None,
            reason="nothing happened",
            details=event.details,
        )
    )
    literal = f"X'{forged.hex()}'" if not ON_POSTGRES else f"'\\x{forged.hex()}'::bytea"
    tamper_with_the_log(
        f"UPDATE events SET reason = 'nothing happened', leaf_hash = {literal} "
        f"WHERE id = {event.id}"
    )
    report = verify_chain()
    assert not report.intact
    assert "tree" in report.first_break.problem

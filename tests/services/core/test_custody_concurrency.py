"""Custody appends under concurrency, on PostgreSQL: writers take no shared lock, the sequencer
alone numbers committed events, and the log verifies whole afterwards."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, EventType, Sample, User
from biobank.sequencer import BackgroundSequencer, sequence_pending
from biobank.services.core.custody import record_event
from biobank.services.core.custody_log import log_signer, log_status, verify_chain
from biobank.tlog.note import open_checkpoint
from biobank.unit_of_work import unit_of_work
from tests.factories import raw_sample


def _flag(user_id: int, sample_id: int, **details) -> None:
    record_event(
        EventType.FLAGGED,
        actor=db.session.get(User, user_id),
        sample=db.session.get(Sample, sample_id),
        details=details or None,
    )


def _run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    _join_all(threads)


def _join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a thread hung"


@pytest.mark.postgres
def test_writers_on_different_tubes_do_not_wait_for_each_other(app, technician, other_collector):
    """One scan holds its transaction open; a scan of another tube at another site commits
    meanwhile (before, every append queued on one advisory lock)."""
    first, second = raw_sample(technician.site).id, raw_sample(other_collector.site).id
    users = technician.id, other_collector.id
    db.session.commit()
    first_written, second_done, release = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []
    waited: list[float] = []

    def slow_writer() -> None:
        with app.app_context():
            try:
                with unit_of_work():
                    _flag(users[0], first, who="slow")
                    db.session.flush()
                    first_written.set()
                    release.wait(timeout=30)  # the transaction stays open until told
            except BaseException as error:
                failures.append(error)
            finally:
                db.session.remove()

    def quick_writer() -> None:
        with app.app_context():
            try:
                first_written.wait(timeout=30)
                started = time.monotonic()
                with unit_of_work():
                    _flag(users[1], second, who="quick")
                waited.append(time.monotonic() - started)
                second_done.set()
            except BaseException as error:
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=quick_writer)]
    for thread in threads:
        thread.start()
    # The quick writer commits while the slow one still holds its transaction open.
    committed_meanwhile = second_done.wait(timeout=10)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert committed_meanwhile, "the second writer waited for the first's transaction"
    assert waited and waited[0] < 5
    sequence_pending()
    assert verify_chain().intact
    assert log_status().tree_size == 2


@pytest.mark.postgres
def test_sixteen_writers_and_two_sequencers_leave_a_contiguous_verifying_log(app, technician):
    samples = [raw_sample(technician.site).id for _ in range(16)]
    user_id = technician.id
    db.session.commit()
    start = threading.Barrier(18)
    writers_done = threading.Event()
    failures: list[BaseException] = []

    def writer(sample_id: int) -> None:
        with app.app_context():
            try:
                start.wait()
                for n in range(10):
                    with unit_of_work():
                        _flag(user_id, sample_id, n=n)
            except BaseException as error:
                failures.append(error)
            finally:
                db.session.remove()

    def sequencer() -> None:
        with app.app_context():
            try:
                start.wait()
                while not writers_done.is_set():
                    sequence_pending(wait=False, batch=7)
                    time.sleep(0.005)
            except BaseException as error:
                failures.append(error)
            finally:
                db.session.remove()

    writers = [threading.Thread(target=writer, args=(s,)) for s in samples]
    sequencers = [threading.Thread(target=sequencer) for _ in range(2)]
    for thread in writers + sequencers:
        thread.start()
    _join_all(writers)
    writers_done.set()
    _join_all(sequencers)
    assert failures == []
    sequence_pending()
    indexes = db.session.scalars(sa.select(Event.log_index).order_by(Event.log_index)).all()
    assert indexes == list(range(160))
    # Each tube's own events are in the log in the order they were written.
    for sample_id in samples:
        details = db.session.scalars(
            sa.select(Event.details).where(Event.sample_id == sample_id).order_by(Event.log_index)
        ).all()
        assert [d["n"] for d in details] == list(range(10))
    report = verify_chain()
    assert report.intact, report.first_break
    assert (report.checked, report.tree_size, report.pending) == (160, 160, 0)


@pytest.mark.postgres
def test_an_event_committed_after_a_sequencer_run_is_picked_up_by_the_next(app, technician):
    """Nothing is lost between commit and sequencing: an event whose transaction is still open
    while the sequencer runs is not skipped, it is numbered on the next run."""
    sample_id, user_id = raw_sample(technician.site).id, technician.id
    db.session.commit()
    written, release = threading.Event(), threading.Event()

    def open_writer() -> None:
        with app.app_context():
            with unit_of_work():
                _flag(user_id, sample_id, n=0)
                db.session.flush()
                written.set()
                release.wait(timeout=30)
            db.session.remove()

    thread = threading.Thread(target=open_writer)
    thread.start()
    assert written.wait(timeout=10)
    with unit_of_work():
        _flag(user_id, sample_id, n=1)  # a later id, committed first
    assert sequence_pending() == 1
    release.set()
    thread.join(timeout=30)
    assert sequence_pending() == 1
    report = verify_chain()
    assert report.intact and report.tree_size == 2


def test_the_background_sequencer_numbers_events_and_writes_checkpoints(app, technician, tmp_path):
    app.config["BIOBANK_CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    sample = raw_sample(technician.site)
    with unit_of_work():
        record_event(EventType.FLAGGED, actor=technician, sample=sample)
    sequencer = BackgroundSequencer(app, interval=0.05)
    sequencer.start()
    try:
        deadline = time.monotonic() + 10
        while log_status().tree_size < 1 and time.monotonic() < deadline:
            db.session.rollback()  # read the newest committed state
            time.sleep(0.05)
    finally:
        sequencer.stopped.set()
        sequencer.join(timeout=10)
    assert log_status().tree_size == 1
    written = sorted((tmp_path / "checkpoints").glob("checkpoint-*.txt"))
    assert written, "no checkpoint written"
    assert open_checkpoint(written[-1].read_text(), log_signer().verifier).size in (0, 1)

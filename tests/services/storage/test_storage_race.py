"""Sixteen technicians, sixteen tubes, one position, the same moment: one wins, fifteen 409s.

Runs on SQLite and on PostgreSQL: the database's unique constraint decides, not Python.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from biobank.errors import PositionTaken
from biobank.extensions import db
from biobank.models import Container, Role, StoragePosition, User
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work


def test_sixteen_technicians_one_position(
    app, make_user, biobank_site, collector, boxes, received_tubes
):
    tubes = [t.barcode for t in received_tubes(collector)]
    tubes += [t.barcode for t in received_tubes(collector, participant_id="P200000000")]
    users = [make_user(f"tech.{i:02d}", Role.TECHNICIAN, biobank_site).id for i in range(16)]
    box_id = boxes[0].id
    start = threading.Barrier(16)
    results: list[str] = [""] * 16

    def technician(index: int) -> None:
        with app.app_context():
            try:
                start.wait()
                with unit_of_work():
                    actor = db.session.get(User, users[index])
                    box = db.session.get(Container, box_id)
                    placing.store_sample(actor, box, tubes[index], "E5")
                results[index] = "stored"
            except PositionTaken as taken:
                results[index] = f"409 {taken.extra['next_free']}"
            except Exception as error:  # anything else is a failure, shown in the assert
                results[index] = f"crash {type(error).__name__}: {error}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=technician, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("stored") == 1, results
    assert results.count("409 E6") == 15, results
    db.session.rollback()  # end this thread's own read snapshot before counting
    occupied = db.session.scalars(
        sa.select(StoragePosition).where(StoragePosition.box_id == box_id)
    ).all()
    assert [(p.row, p.col) for p in occupied] == [(5, 5)]


def test_sixteen_technicians_fill_one_box_at_once_and_its_fill_keeps_count(
    app, make_user, biobank_site, collector, boxes, received_tubes
):
    """Each to a position of their own in the same box, and two tubes swapped between the two
    boxes in opposite directions meanwhile: every store lands, nobody deadlocks on the box's
    kept fill, and the fill equals the positions."""
    from biobank.models import BoxFill
    from biobank.services.storage import lifecycle
    from tests.concurrency import race

    tubes = [t.barcode for t in received_tubes(collector)]
    tubes += [t.barcode for t in received_tubes(collector, participant_id="P200000000")]
    tubes += [t.barcode for t in received_tubes(collector, participant_id="P300000000")]
    users = [make_user(f"tech.{i:02d}", Role.TECHNICIAN, biobank_site).id for i in range(18)]
    box_ids = [boxes[0].id, boxes[1].id]
    with unit_of_work():
        placing.store_sample(db.session.get(User, users[16]), boxes[0], tubes[16], "I1")
        placing.store_sample(db.session.get(User, users[17]), boxes[1], tubes[17], "I1")

    def technician(index: int) -> None:
        actor = db.session.get(User, users[index])
        if index >= 16:  # the tube in one box goes to the other
            lifecycle.move_sample(actor, tubes[index], box_ids[17 - index], "H1")
            return
        position = f"A{index + 1}" if index < 9 else f"B{index - 8}"
        placing.store_sample(actor, db.session.get(Container, box_ids[0]), tubes[index], position)

    results = race(app, 18, technician)
    assert all(result.won for result in results), results
    db.session.rollback()
    counted = dict(
        db.session.execute(
            sa.select(StoragePosition.box_id, sa.func.count()).group_by(StoragePosition.box_id)
        ).all()
    )
    kept = dict(db.session.execute(sa.select(BoxFill.box_id, BoxFill.used)).all())
    assert counted == {box_ids[0]: 17, box_ids[1]: 1}
    assert kept == counted

"""Sixteen technicians, sixteen tubes, one position, the same moment: one wins, fifteen 409s.

Runs on SQLite and on PostgreSQL: the database's unique constraint decides, not Python.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from biobank.db import unit_of_work
from biobank.errors import PositionTaken
from biobank.extensions import db
from biobank.models import Container, Role, StoragePosition, User
from biobank.services import storage


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
                    storage.store_sample(actor, box, tubes[index], "E5")
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

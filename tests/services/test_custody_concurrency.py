from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from biobank.db import unit_of_work
from biobank.extensions import db
from biobank.models import Event, EventType, User
from biobank.services.custody import record_event, verify_chain
from tests.factories import raw_sample


@pytest.mark.postgres
def test_concurrent_writers_never_fork_the_chain(app, technician):
    sample_id = raw_sample(technician.site).id
    user_id = technician.id
    db.session.commit()
    start = threading.Barrier(16)
    failures: list[BaseException] = []

    def writer() -> None:
        with app.app_context():
            try:
                start.wait()
                for _ in range(5):
                    with unit_of_work():
                        actor = db.session.get(User, user_id)
                        from biobank.models import Sample

                        record_event(
                            EventType.FLAGGED, actor=actor, sample=db.session.get(Sample, sample_id)
                        )
            except BaseException as error:  # reported below
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 80
    report = verify_chain()
    assert report.intact, report.first_break
    assert report.checked == 80

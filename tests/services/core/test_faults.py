"""Nothing half-written: the database fails midway through a multi-row change, and afterwards
nothing of it is there: not the state change, not its events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from biobank.extensions import db
from biobank.models import Event, Sample, SampleStatus, Shipment, ShipmentStatus, StoragePosition
from biobank.services.shipping import receiving
from biobank.services.storage import lifecycle, rack_import
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@contextmanager
def database_fails(on: str) -> Iterator[dict[str, int]]:
    """The first statement containing ``on`` fails, as a dropped connection would. Yields a
    count of the writes that reached the database before it, to prove the failure came
    midway (SQLite inserts rows one by one; PostgreSQL batches them, so "the fourth insert"
    is not a thing on both)."""
    seen = {"writes_before_failure": 0}

    def fail(conn, cursor, statement, parameters, context, executemany):
        if on in statement:
            raise OperationalError(statement, parameters, Exception("connection lost"))
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            seen["writes_before_failure"] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def snapshot() -> dict[str, object]:
    db.session.rollback()  # read what is committed, nothing else
    return {
        "events": db.session.scalar(sa.select(sa.func.count(Event.id))),
        "statuses": dict(db.session.execute(sa.select(Sample.barcode, Sample.status)).all()),
        "positions": db.session.scalar(sa.select(sa.func.count(StoragePosition.id))),
        "samples": db.session.scalar(sa.select(sa.func.count(Sample.id))),
        "volumes": dict(db.session.execute(sa.select(Sample.barcode, Sample.volume_ml)).all()),
        "shipments": dict(db.session.execute(sa.select(Shipment.id, Shipment.status)).all()),
    }


def test_closing_a_receipt_fails_midway_and_nothing_changes(
    technician, collector, dispatched_shipment
):
    shipment = dispatched_shipment(collector)
    with unit_of_work():
        receiving.receive_scan(technician, shipment, shipment.items[0].sample.barcode)
    before = snapshot()
    # Seven tubes become missing: their events, items and statuses are written, then the
    # shipment's own status, the last write, fails.
    with (
        database_fails("UPDATE shipments") as fault,
        pytest.raises(OperationalError),
        unit_of_work(),
    ):
        receiving.close_receipt(
            technician,
            db.session.get(Shipment, shipment.id),
            condition="good",
            signature_password=PASSWORD,
        )
    assert fault["writes_before_failure"] > 0
    after = snapshot()
    assert after == before
    assert after["shipments"][shipment.id] == ShipmentStatus.IN_TRANSIT


def test_a_rack_import_fails_midway_and_nothing_is_stored(
    technician, collector, boxes, received_tubes
):
    tubes = received_tubes(collector)
    data = "\n".join(f"A{i + 1},{t.barcode}" for i, t in enumerate(tubes)).encode()
    before = snapshot()
    with (
        database_fails("INSERT INTO events") as fault,
        pytest.raises(OperationalError),
        unit_of_work(),
    ):
        rack_import.import_rack_scan(technician, boxes[0], data, apply=True)
    assert fault["writes_before_failure"] > 0  # the positions went in first
    after = snapshot()
    assert after == before
    assert set(after["statuses"].values()) == {SampleStatus.RECEIVED}
    with unit_of_work():  # the same file, the database back: all of it goes in
        assert rack_import.import_rack_scan(technician, boxes[0], data, apply=True).applied


def test_an_aliquot_fails_midway_and_the_parent_keeps_its_volume(
    technician, collector, boxes, received_tubes
):
    parent = next(t for t in received_tubes(collector) if t.tube_type.code == "1SST8")
    before = snapshot()
    with (
        database_fails("INSERT INTO events") as fault,
        pytest.raises(OperationalError),
        unit_of_work(),
    ):
        lifecycle.aliquot(technician, parent.barcode, count=5, volume_ml=1)
    assert fault["writes_before_failure"] > 0  # the five child tubes went in first
    after = snapshot()
    assert after == before
    assert after["volumes"][parent.barcode] == 8


def test_a_lost_connection_is_a_clear_503_and_nothing_is_saved(
    client, auth_headers, collector, biobank_site
):
    before = snapshot()
    with database_fails("INSERT INTO shipments"):
        response = client.post(
            "/api/v1/shipments",
            json={"destination": "MAYO-BB", "temperature": "refrigerated"},
            headers=auth_headers(collector),
        )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "Nothing was saved" in response.get_json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert snapshot()["shipments"] == before["shipments"]


def test_connections_are_checked_before_use(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert db.engine.pool._pre_ping

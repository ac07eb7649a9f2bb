"""Races at the distribution bench (PostgreSQL only: SQLite serialises every writer).

Sixteen dispatches of one shipment at once: one wins, fifteen are told (409) it is
dispatched, and every tube left its position and was distributed exactly once. Sixteen scans
of one tube at once: picked once, fifteen answers "already picked". A quarantine in progress
holds the tube's row, so an approval at that moment waits for it and does not reserve the
tube."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import (
    BoxFill,
    DistributionRequest,
    DistributionShipment,
    Event,
    OutboundStatus,
    Sample,
    SampleStatus,
    StoragePosition,
    User,
)
from biobank.services.core.custody_log import verify_chain
from biobank.services.distribution import outbound, picking, requests
from biobank.services.storage import lifecycle
from biobank.unit_of_work import unit_of_work
from tests.concurrency import conflicts, others, race, winners
from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres

N = 16


def test_sixteen_dispatches_of_one_shipment_send_it_once(app, technician, shipment, boxes):
    request = shipment.request
    picked = [row for row in picking.pick_list(technician, request).rows if row.picked]
    with unit_of_work():
        for row in picked:
            outbound.pack(technician, shipment, row.barcode)
    ids = [row.sample_id for row in picked]
    used_before = db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == boxes[0].id))
    actor_id, shipment_id = technician.id, shipment.id

    def dispatch(i: int):
        actor = db.session.get(User, actor_id)
        return outbound.dispatch(
            actor,
            db.session.get(DistributionShipment, shipment_id),
            carrier="courier",
            tracking_number=f"REF-{i}",
            signature_password=PASSWORD,
        )

    results = race(app, N, dispatch)
    assert not others(results), others(results)
    assert len(winners(results)) == 1 and len(conflicts(results)) == N - 1
    for lost in conflicts(results):
        assert f"Shipment D{shipment_id} is dispatched (dispatched by Technician" in lost.detail

    db.session.remove()
    [won] = winners(results)
    sent = db.session.get(DistributionShipment, shipment_id)
    assert sent.status == OutboundStatus.DISPATCHED
    assert sent.tracking_number == f"REF-{won.index}"
    assert db.session.get(DistributionRequest, request.id).status == "shipped"
    statuses = db.session.scalars(sa.select(Sample.status).where(Sample.id.in_(ids))).all()
    assert set(statuses) == {SampleStatus.DISTRIBUTED}
    assert not db.session.scalars(
        sa.select(StoragePosition.id).where(StoragePosition.sample_id.in_(ids))
    ).all()
    used = db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == boxes[0].id))
    assert used == used_before - len(ids)
    events = db.session.scalars(
        sa.select(Event.sample_id).where(Event.type == "distributed", Event.sample_id.in_(ids))
    ).all()
    assert sorted(events) == sorted(ids)
    assert verify_chain().intact


def test_sixteen_scans_of_one_tube_pick_it_once(app, technician, approved):
    request, _ = approved
    tube = picking.pick_list(technician, request).rows[0]
    actor_id, request_id = technician.id, request.id

    def scan(i: int):
        actor = db.session.get(User, actor_id)
        return picking.pick(actor, db.session.get(DistributionRequest, request_id), tube.barcode)

    results = race(app, N, scan)
    assert len(winners(results)) == N, results
    assert sorted(r.value.already for r in results) == [False] + [True] * (N - 1)
    db.session.remove()
    events = db.session.scalars(
        sa.select(Event.id).where(Event.type == "checked_out", Event.sample_id == tube.sample_id)
    ).all()
    assert len(events) == 1
    assert db.session.get(DistributionRequest, request_id).status == "picking"


def test_an_approval_waits_for_a_quarantine_in_progress_and_leaves_the_tube(
    app, technician, coordinator, store_participant, make_request
):
    tubes = [t for t in store_participant("P100000001") if t.tube_type.specimen == "serum"]
    request = make_request(participants_wanted=1)
    target = tubes[0].barcode
    actor_ids = technician.id, coordinator.id
    quarantined = threading.Event()
    outcome: dict[str, object] = {}

    def quarantine() -> None:
        with app.app_context():
            try:
                with unit_of_work():
                    lifecycle.quarantine(
                        db.session.get(User, actor_ids[0]), target, "hairline crack"
                    )
                    quarantined.set()
                    time.sleep(1.0)  # the row stays locked while this transaction is open
            finally:
                quarantined.set()
                db.session.remove()

    def approve() -> None:
        with app.app_context():
            try:
                quarantined.wait(30)
                began = time.perf_counter()
                with unit_of_work():
                    outcome["approval"] = requests.approve(
                        db.session.get(User, actor_ids[1]),
                        db.session.get(DistributionRequest, request.id),
                        [t.barcode for t in tubes],
                    )
                outcome["waited"] = time.perf_counter() - began
            except Exception as error:  # reported below
                outcome["error"] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=quarantine), threading.Thread(target=approve)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert "error" not in outcome, outcome
    approval = outcome["approval"]
    assert approval.unavailable == [target]
    assert approval.reserved == [t.barcode for t in tubes[1:]]
    assert outcome["waited"] > 0.5  # it waited for the quarantine's lock
    db.session.remove()
    assert (
        db.session.scalar(sa.select(Sample.reserved_for_request_id).where(Sample.barcode == target))
        is None
    )

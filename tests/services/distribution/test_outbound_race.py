"""Races at the distribution bench (PostgreSQL only: SQLite serialises every writer).

Sixteen dispatches of one shipment at once: one wins, fifteen are told (409) it is
dispatched, and every tube left its position and was distributed exactly once. Cancels and
dispatches of one shipment at once: one of them wins, and the tubes are either all
distributed or all back to picked, never some of each. Sixteen scans
of one tube at once: picked once, fifteen answers "already picked". A quarantine in progress
holds the tube's row, so an approval at that moment waits for it and does not reserve the
tube."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from biobank.errors import InvalidTransition
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


def pack_picked(technician: User, shipment: DistributionShipment) -> list:
    """Pack every picked tube of the shipment's request: their pick-list rows."""
    picked = [row for row in picking.pick_list(technician, shipment.request).rows if row.picked]
    with unit_of_work():
        for row in picked:
            outbound.pack(technician, shipment, row.barcode)
    return picked


def dispatch_as(actor_id: int, shipment_id: int, tracking_number: str = "REF-1"):
    """The shipment dispatched, signed, by the user, both read in the caller's session."""
    return outbound.dispatch(
        db.session.get(User, actor_id),
        db.session.get(DistributionShipment, shipment_id),
        carrier="courier",
        tracking_number=tracking_number,
        signature_password=PASSWORD,
    )


def while_held(app, hold: Callable[[], object], then: Callable[[], object]) -> dict[str, object]:
    """``hold`` in one transaction that stays open a second after it (its row locks held),
    and meanwhile ``then`` in another: what ``then`` returned (``value``) or raised
    (``error``), and how long it took (``waited``)."""
    held = threading.Event()
    outcome: dict[str, object] = {}

    def holder() -> None:
        with app.app_context():
            try:
                with unit_of_work():
                    hold()
                    held.set()
                    time.sleep(1.0)  # the rows stay locked while this transaction is open
            finally:
                held.set()
                db.session.remove()

    def other() -> None:
        with app.app_context():
            try:
                held.wait(30)
                began = time.perf_counter()
                try:
                    with unit_of_work():
                        outcome["value"] = then()
                except Exception as error:  # reported to the test
                    outcome["error"] = error
                outcome["waited"] = time.perf_counter() - began
            finally:
                db.session.remove()

    threads = [threading.Thread(target=holder), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcome


def test_sixteen_dispatches_of_one_shipment_send_it_once(app, technician, shipment, boxes):
    request = shipment.request
    picked = pack_picked(technician, shipment)
    ids = [row.sample_id for row in picked]
    used_before = db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == boxes[0].id))
    actor_id, shipment_id = technician.id, shipment.id

    def dispatch(i: int):
        return dispatch_as(actor_id, shipment_id, f"REF-{i}")

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


def test_cancels_racing_dispatches_of_one_shipment_leave_it_one_way_or_the_other(
    app, technician, coordinator, shipment, boxes
):
    """Eight cancels and eight dispatches of one packed shipment at once: the first to lock
    it wins and fifteen are told (409) what became of it. Dispatched: every tube distributed
    once and out of its box, nothing unpacked. Cancelled: every tube taken out once, still
    picked for the request in its box, nothing distributed."""
    request = shipment.request
    picked = pack_picked(technician, shipment)
    ids = [row.sample_id for row in picked]
    used_before = db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == boxes[0].id))
    actor_ids, shipment_id = (technician.id, coordinator.id), shipment.id

    def cancel_or_dispatch(i: int):
        if i % 2:  # the coordinator cancels
            return outbound.cancel_shipment(
                db.session.get(User, actor_ids[1]),
                db.session.get(DistributionShipment, shipment_id),
                f"called off {i}",
            )
        return dispatch_as(actor_ids[0], shipment_id, f"REF-{i}")

    results = race(app, N, cancel_or_dispatch)
    assert not others(results), others(results)
    assert len(winners(results)) == 1 and len(conflicts(results)) == N - 1
    [won] = winners(results)
    cancelled = won.index % 2 == 1
    became = "cancelled" if cancelled else "dispatched"
    for lost in conflicts(results):
        assert f"Shipment D{shipment_id} is {became}" in lost.detail, lost.detail

    db.session.remove()
    final = db.session.get(DistributionShipment, shipment_id)
    tubes = db.session.scalars(sa.select(Sample).where(Sample.id.in_(ids))).all()
    positions = db.session.scalars(
        sa.select(StoragePosition.id).where(StoragePosition.sample_id.in_(ids))
    ).all()
    used = db.session.scalar(sa.select(BoxFill.used).where(BoxFill.box_id == boxes[0].id))

    def events(kind: str) -> list[int]:
        return sorted(
            db.session.scalars(
                sa.select(Event.sample_id).where(Event.type == kind, Event.sample_id.in_(ids))
            ).all()
        )

    if cancelled:
        assert final.status == OutboundStatus.CANCELLED
        assert final.cancel_reason == f"called off {won.index}" and final.dispatched_at is None
        assert outbound.packed_items(final) == []
        assert {t.status for t in tubes} == {SampleStatus.CHECKED_OUT}
        assert {t.reserved_for_request_id for t in tubes} == {request.id}
        assert len(positions) == len(ids) and used == used_before
        assert events("unpacked") == sorted(ids) and events("distributed") == []
        assert db.session.get(DistributionRequest, request.id).status == "picking"
    else:
        assert final.status == OutboundStatus.DISPATCHED
        assert final.tracking_number == f"REF-{won.index}" and final.cancelled_at is None
        assert len(outbound.packed_items(final)) == len(ids)
        assert {t.status for t in tubes} == {SampleStatus.DISTRIBUTED}
        assert positions == [] and used == used_before - len(ids)
        assert events("distributed") == sorted(ids) and events("unpacked") == []
        assert db.session.get(DistributionRequest, request.id).status == "shipped"
    assert verify_chain().intact


def test_a_cancel_waits_for_a_dispatch_in_progress_and_is_told_it_is_dispatched(
    app, technician, coordinator, shipment
):
    """The other order of the race above (where the cancels, which sign nothing, usually
    lock first): a dispatch holds the shipment's lock; a cancel at that moment waits for it,
    then finds the shipment dispatched and changes nothing."""
    picked = pack_picked(technician, shipment)
    actor_ids, shipment_id = (technician.id, coordinator.id), shipment.id

    def cancel() -> object:
        return outbound.cancel_shipment(
            db.session.get(User, actor_ids[1]),
            db.session.get(DistributionShipment, shipment_id),
            "called off",
        )

    outcome = while_held(app, lambda: dispatch_as(actor_ids[0], shipment_id), cancel)
    error = outcome.get("error")
    assert isinstance(error, InvalidTransition), outcome
    assert f"Shipment D{shipment_id} is dispatched (dispatched by Technician" in error.detail
    assert outcome["waited"] > 0.5  # it waited for the dispatch's lock
    db.session.remove()
    final = db.session.get(DistributionShipment, shipment_id)
    assert final.status == OutboundStatus.DISPATCHED and final.cancelled_at is None
    ids = [row.sample_id for row in picked]
    assert set(db.session.scalars(sa.select(Sample.status).where(Sample.id.in_(ids))).all()) == {
        SampleStatus.DISTRIBUTED
    }
    assert not db.session.scalars(
        sa.select(Event.id).where(Event.type == "unpacked", Event.sample_id.in_(ids))
    ).all()


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

    def quarantine() -> object:
        return lifecycle.quarantine(db.session.get(User, actor_ids[0]), target, "hairline crack")

    def approve() -> object:
        return requests.approve(
            db.session.get(User, actor_ids[1]),
            db.session.get(DistributionRequest, request.id),
            [t.barcode for t in tubes],
        )

    outcome = while_held(app, quarantine, approve)
    assert "error" not in outcome, outcome
    approval = outcome["value"]
    assert approval.unavailable == [target]
    assert approval.reserved == [t.barcode for t in tubes[1:]]
    assert outcome["waited"] > 0.5  # it waited for the quarantine's lock
    db.session.remove()
    assert (
        db.session.scalar(sa.select(Sample.reserved_for_request_id).where(Sample.barcode == target))
        is None
    )

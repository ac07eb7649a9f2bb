"""Sixteen people clicking the same button on the same record at the same moment (issue 14).

Every write that checks a state locks what it checks, so exactly one racer wins and the other
fifteen get a 409 that says why (who changed it, and when). Runs on PostgreSQL only: SQLite
serialises every writer and hides races.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import ChangedMeanwhile, Conflict, InvalidTransition, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    Container,
    Event,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    StoragePosition,
    User,
    position_label,
)
from biobank.services.collecting import collections
from biobank.services.core.custody_log import verify_chain
from biobank.services.shipping import receiving, sending
from biobank.services.storage import freezer_tree, lifecycle, placing
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work
from tests.concurrency import Result, conflicts, others, race, winners
from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres

N = 16
BY_YOU = r"by you \(another click, tab or device\) a moment ago"


def one_winner(
    results: Sequence[Result], message: str, refusal: type[Exception] = InvalidTransition
) -> Result:
    """Exactly one racer won; the other N-1 got a 409 of ``refusal``'s kind saying ``message``."""
    assert len(results) == N
    assert not others(results), others(results)
    [won] = winners(results)
    refused = conflicts(results)
    assert len(refused) == N - 1, results
    for loser in refused:
        assert isinstance(loser.error, refusal), loser
        assert loser.status == 409
        assert re.search(message, loser.detail), loser.detail
    return won


def count_events(kind: str, **about) -> int:
    db.session.rollback()  # end this thread's snapshot: count what the racers committed
    stmt = sa.select(sa.func.count()).select_from(Event).where(Event.type == kind)
    for name, record_id in about.items():
        stmt = stmt.where(getattr(Event, f"{name}_id") == record_id)
    return db.session.scalar(stmt)


def fresh_sample(barcode: str) -> Sample:
    db.session.rollback()
    return db.session.scalar(
        sa.select(Sample).where(Sample.barcode == barcode).execution_options(populate_existing=True)
    )


def as_user(user_id: int, work: Callable[[User], object]) -> Callable[[int], object]:
    return lambda _i: work(db.session.get(User, user_id))


@pytest.fixture
def stored(technician, collector, boxes, received_tubes):
    """A baseline collection's tubes stored in Box 1 (A1 …); the 1SST8 holds 8 mL."""
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes:
            placing.store_sample(technician, boxes[0], tube.barcode)
    return tubes


@pytest.fixture
def sst(stored) -> Sample:
    return next(t for t in stored if t.tube_type.code == "1SST8")


# --- tubes ---------------------------------------------------------------------------------


def test_sixteen_thaws_of_the_count_they_saw_record_one_cycle(app, technician, sst):
    barcode = sst.barcode
    results = race(
        app, N, as_user(technician.id, lambda u: lifecycle.thaw(u, barcode, cycles_seen=0))
    )
    one_winner(
        results,
        rf"was thawed {BY_YOU}; it is now at freeze–thaw count 1 \(you saw 0\)\. Reload",
        ChangedMeanwhile,
    )
    assert fresh_sample(barcode).freeze_thaw_count == 1
    assert count_events("thawed", sample=sst.id) == 1
    assert verify_chain().intact


def test_sixteen_thaws_without_a_count_take_turns_and_lose_none(app, technician, sst):
    barcode = sst.barcode
    results = race(app, N, as_user(technician.id, lambda u: lifecycle.thaw(u, barcode)))
    assert len(winners(results)) == N, results
    assert fresh_sample(barcode).freeze_thaw_count == N  # not 2: no lost update
    counts = db.session.scalars(
        sa.select(Event.details).where(Event.sample_id == sst.id, Event.type == "thawed")
    ).all()
    assert sorted(d["freeze_thaw_count"] for d in counts) == list(range(1, N + 1))


def test_sixteen_aliquots_of_the_volume_they_saw_take_it_once(app, technician, sst):
    barcode = sst.barcode

    def take(actor: User) -> object:
        return lifecycle.aliquot(actor, barcode, count=1, volume_ml=6, volume_seen_ml=8)

    results = race(app, N, as_user(technician.id, take))
    one_winner(
        results,
        rf"was aliquoted {BY_YOU}; it now holds 2 mL \(you saw 8 mL\)\. Reload",
        ChangedMeanwhile,
    )
    parent = fresh_sample(barcode)
    assert parent.volume_ml == Decimal("2")
    assert [c.volume_ml for c in parent.children] == [Decimal("6")]
    assert count_events("aliquoted", sample=sst.id) == 1


def test_sixteen_aliquots_never_take_more_than_the_tube_holds(app, technician, sst):
    """The issue's case: 6 mL each from an 8 mL tube, no volume stated. One is made; the
    others hear (422, on the volume) that the tube now holds only 2 mL."""
    barcode = sst.barcode
    results = race(
        app,
        N,
        as_user(technician.id, lambda u: lifecycle.aliquot(u, barcode, count=1, volume_ml=6)),
    )
    assert len(winners(results)) == 1, results
    refused = [r for r in results if isinstance(r.error, ValidationFailed)]
    assert len(refused) == N - 1, results
    assert all("holds only 2 mL" in r.detail for r in refused), refused
    parent = fresh_sample(barcode)
    assert sum(c.volume_ml for c in parent.children) + parent.volume_ml == Decimal("8")
    assert len(parent.children) == 1


def test_sixteen_check_outs_check_it_out_once(app, technician, sst):
    barcode = sst.barcode
    results = race(
        app, N, as_user(technician.id, lambda u: lifecycle.check_out(u, barcode, "assay"))
    )
    one_winner(
        results,
        rf"is checked out: it cannot be checked out\. It was checked out {BY_YOU}\. Reload",
    )
    assert fresh_sample(barcode).status == SampleStatus.CHECKED_OUT
    assert count_events("checked_out", sample=sst.id) == 1


def test_sixteen_check_ins_check_it_in_once(app, technician, sst):
    barcode = sst.barcode
    with unit_of_work():
        lifecycle.check_out(technician, barcode, "assay")
    results = race(app, N, as_user(technician.id, lambda u: lifecycle.check_in(u, barcode)))
    one_winner(results, rf"is not checked out\. It was checked in {BY_YOU}\. Reload")
    assert fresh_sample(barcode).status == SampleStatus.STORED
    assert count_events("checked_in", sample=sst.id) == 1


def test_sixteen_moves_from_where_they_saw_it_move_it_once(app, technician, boxes, sst):
    barcode, box_id = sst.barcode, boxes[1].id
    seen = location_of(sst)
    moving_from = {"box": boxes[0].id, "position": seen["position"]}
    targets = [position_label(1 + i // 9, 1 + i % 9) for i in range(N)]

    user_id = technician.id

    def move(index: int) -> object:
        actor = db.session.get(User, user_id)
        return lifecycle.move_sample(
            actor, barcode, box_id, targets[index], moving_from=moving_from
        ).position.label

    results = race(app, N, move)
    won = one_winner(
        results,
        rf"was moved {BY_YOU}: it is now at Freezer 1 › Shelf 1 › Box 2 › [A-B]\d, not where "
        rf"you saw it \({seen['position']}\)\. Reload",
        ChangedMeanwhile,
    )
    places = db.session.execute(
        sa.select(StoragePosition.box_id, StoragePosition.row, StoragePosition.col).where(
            StoragePosition.sample_id == sst.id
        )
    ).all()
    assert [(b, position_label(r, c)) for b, r, c in places] == [(box_id, won.value)]
    assert count_events("moved", sample=sst.id) == 1


def test_sixteen_moves_without_a_place_take_turns_and_the_record_follows(
    app, technician, boxes, sst
):
    barcode, box_id = sst.barcode, boxes[1].id
    targets = [position_label(1 + i // 9, 1 + i % 9) for i in range(N)]
    user_id = technician.id
    results = race(
        app,
        N,
        lambda i: (
            lifecycle.move_sample(
                db.session.get(User, user_id), barcode, box_id, targets[i]
            ).position.label
        ),
    )
    assert len(winners(results)) == N, results
    db.session.rollback()
    moves = db.session.scalars(
        sa.select(Event.details)
        .where(Event.sample_id == sst.id, Event.type == "moved")
        .order_by(Event.id)
    ).all()
    # Each move starts where the one before it ended: none read a stale position.
    assert [m["from"] for m in moves[1:]] == [m["to"] for m in moves[:-1]]
    where = db.session.scalars(
        sa.select(StoragePosition).where(StoragePosition.sample_id == sst.id)
    ).all()
    assert len(where) == 1 and moves[-1]["to"].endswith(where[0].label)


def test_sixteen_signed_disposals_dispose_once(app, technician, boxes, sst):
    barcode = sst.barcode

    def dispose(actor: User) -> object:
        return lifecycle.dispose(actor, barcode, "protocol", signature_password=PASSWORD)

    results = race(app, N, as_user(technician.id, dispose))
    one_winner(results, rf"is disposed: it cannot be disposed of\. It was disposed of {BY_YOU}")
    assert fresh_sample(barcode).status == SampleStatus.DISPOSED
    assert count_events("disposed", sample=sst.id) == 1
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(StoragePosition.sample_id == sst.id))
        == 0
    )


def test_sixteen_withdrawals_withdraw_once(app, technician, sst):
    barcode = sst.barcode
    results = race(
        app, N, as_user(technician.id, lambda u: lifecycle.withdraw(u, barcode, "consent"))
    )
    one_winner(results, rf"is withdrawn: it cannot be withdrawn\. It was withdrawn {BY_YOU}")
    assert count_events("withdrawn", sample=sst.id) == 1


def test_a_colleague_is_named_in_the_refusal(app, technician, make_user, biobank_site, sst):
    from biobank.models import Role

    colleague = make_user("ann.lee", Role.TECHNICIAN, biobank_site)
    barcode, users = sst.barcode, [technician.id, colleague.id]
    results = race(
        app,
        2,
        lambda i: lifecycle.check_out(db.session.get(User, users[i]), barcode, "assay"),
    )
    [won] = winners(results)
    [lost] = conflicts(results)
    name = "Ann Lee" if won.index == 1 else "Technician"
    assert f"It was checked out by {name} a moment ago." in lost.detail


# --- shipments -----------------------------------------------------------------------------


@pytest.fixture
def packed(collector, biobank_site, finalized_collection) -> Shipment:
    collection = finalized_collection(collector)
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for sample in collection.samples:
            sending.pack_sample(collector, shipment, sample.barcode)
    return shipment


def _on_shipment(user_id: int, shipment_id: int, work) -> Callable[[int], object]:
    def run(_i: int) -> object:
        actor = db.session.get(User, user_id)
        return work(actor, sending.get_shipment(actor, shipment_id))

    return run


def test_sixteen_dispatches_dispatch_once(app, collector, packed):
    def dispatch(actor, shipment):
        return sending.dispatch_shipment(
            actor,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        ).status

    results = race(app, N, _on_shipment(collector.id, packed.id, dispatch))
    one_winner(
        results,
        rf"is in transit \(it was dispatched {BY_YOU}\): dispatching is only possible while it "
        r"is open\. Reload",
    )
    assert count_events("dispatched", shipment=packed.id) == 1 + len(packed.items)
    assert db.session.get(Shipment, packed.id).status == ShipmentStatus.IN_TRANSIT


def test_sixteen_cancellations_of_a_shipment_cancel_it_once(app, collector, packed):
    results = race(
        app,
        N,
        _on_shipment(
            collector.id, packed.id, lambda a, s: sending.cancel_shipment(a, s, "not needed")
        ),
    )
    one_winner(results, rf"is cancelled \(it was cancelled {BY_YOU}\): cancelling is only")
    assert count_events("cancelled", shipment=packed.id) == 1


def test_a_tube_packed_while_the_shipment_is_dispatched_is_never_left_behind(
    app, collector, finalized_collection, packed
):
    """Packing and dispatching take the shipment's lock in turn: the tube is either in the
    dispatched shipment (and in transit) or refused, never packed into a shipment gone."""
    extra = finalized_collection(collector, participant_id="P200000000").samples[0].barcode
    shipment_id, user_id = packed.id, collector.id

    def work(index: int) -> object:
        actor = db.session.get(User, user_id)
        shipment = sending.get_shipment(actor, shipment_id)
        if index == 0:
            return sending.dispatch_shipment(
                actor,
                shipment,
                carrier="fedex",
                tracking_number="123456789012",
                signature_password=PASSWORD,
            ).status
        return sending.pack_sample(actor, shipment, extra).added

    results = race(app, N, work)
    assert not others(results), results
    tube = fresh_sample(extra)
    packed_in = db.session.scalar(
        sa.select(sa.func.count()).where(ShipmentItem.sample_id == tube.id)
    )
    assert tube.status in (SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT)
    assert (tube.status == SampleStatus.IN_TRANSIT) == (packed_in == 1)


@pytest.fixture
def in_transit(collector, dispatched_shipment) -> Shipment:
    return dispatched_shipment(collector)


def test_sixteen_scans_of_one_tube_receive_it_once(app, technician, in_transit):
    tube = in_transit.items[0].sample.barcode
    results = race(
        app,
        N,
        _on_shipment(
            technician.id,
            in_transit.id,
            lambda a, s: str(receiving.receive_scan(a, s, tube).outcome),
        ),
    )
    assert sorted(r.value for r in results) == ["duplicate"] * (N - 1) + ["expected"], results
    assert count_events("received", shipment=in_transit.id) == 1
    assert count_events("receipt_opened", shipment=in_transit.id) == 1


def test_sixteen_first_scans_of_different_tubes_open_the_receipt_once(app, technician, in_transit):
    tubes = [item.sample.barcode for item in in_transit.items]
    user_id, shipment_id = technician.id, in_transit.id

    def scan(index: int) -> str:  # two racers per tube
        actor = db.session.get(User, user_id)
        shipment = sending.get_shipment(actor, shipment_id)
        return str(receiving.receive_scan(actor, shipment, tubes[index % len(tubes)]).outcome)

    results = race(app, N, scan)
    assert not others(results) and len(winners(results)) == N, results
    assert sorted(r.value for r in results).count("expected") == len(tubes)
    assert count_events("receipt_opened", shipment=in_transit.id) == 1
    assert count_events("received", shipment=in_transit.id) == len(tubes)


def test_sixteen_receipt_closes_close_it_once(app, technician, in_transit):
    def close(actor, shipment):
        return receiving.close_receipt(
            actor, shipment, condition="good", signature_password=PASSWORD
        ).status

    results = race(app, N, _on_shipment(technician.id, in_transit.id, close))
    one_winner(
        results,
        rf"is received with discrepancies \(closed {BY_YOU}\): its receipt cannot be closed\. "
        "Reload",
    )
    assert count_events("receipt_closed", shipment=in_transit.id) == 1
    # Every unscanned tube went missing once, not sixteen times.
    assert count_events("missing", shipment=in_transit.id) == len(in_transit.items)


# --- collections ---------------------------------------------------------------------------


@pytest.fixture
def ready(collector, start_collection) -> Collection:
    """A draft collection with every time recorded: ready to finalize."""
    collection = start_collection(collector)
    drawn = utcnow() - timedelta(hours=2)
    with unit_of_work():
        for sample in collection.samples:
            collections.record_collected(collector, collection, sample.barcode, drawn)
            if sample.tube_type.requires_processing:
                collections.record_processed(
                    collector, collection, sample.barcode, drawn + timedelta(minutes=45)
                )
    return collection


def _on_collection(user_id: int, collection_id: int, work) -> Callable[[int], object]:
    def run(_i: int) -> object:
        actor = db.session.get(User, user_id)
        return work(actor, collections.get_collection(actor, collection_id))

    return run


def test_sixteen_finalizations_finalize_once(app, collector, ready):
    results = race(
        app,
        N,
        _on_collection(
            collector.id, ready.id, lambda a, c: collections.finalize_collection(a, c).status
        ),
    )
    one_winner(
        results,
        rf"is finalized \(finalized {BY_YOU}\): its tubes can no longer be changed\.",
    )
    assert count_events("finalized", collection=ready.id) == 1 + len(ready.samples)


def test_sixteen_cancellations_of_a_collection_cancel_it_once(app, collector, ready):
    results = race(
        app,
        N,
        _on_collection(
            collector.id, ready.id, lambda a, c: collections.cancel_collection(a, c, "no consent")
        ),
    )
    one_winner(results, rf"is cancelled already \(cancelled {BY_YOU}\)\.")
    assert count_events("cancelled", collection=ready.id) == 1 + len(ready.samples)


# --- boxes ---------------------------------------------------------------------------------


def test_sixteen_deactivations_of_a_box_deactivate_it_once(app, technician, boxes):
    box_id = boxes[1].id

    def deactivate(actor: User) -> object:
        return freezer_tree.deactivate_container(
            actor, freezer_tree.get_container(actor, box_id)
        ).active

    results = race(app, N, as_user(technician.id, deactivate))
    one_winner(results, rf"Box 2 is deactivated already \(changed {BY_YOU}\)\. Reload")
    events = count_events("container_changed", container=box_id)
    assert events == 2  # created, deactivated


def test_a_box_deactivated_while_tubes_are_stored_in_it_never_holds_them(
    app, technician, collector, boxes, received_tubes
):
    tubes = [t.barcode for t in received_tubes(collector)]
    tubes += [t.barcode for t in received_tubes(collector, participant_id="P200000000")]
    box_id, user_id = boxes[1].id, technician.id

    def work(index: int) -> object:
        actor = db.session.get(User, user_id)
        box = freezer_tree.get_box(actor, box_id)
        if index == 0:
            return freezer_tree.deactivate_container(actor, box).active
        return placing.store_sample(actor, box, tubes[index - 1]).status

    results = race(app, N, work)
    assert not others(results), results
    db.session.rollback()
    box = db.session.get(Container, box_id)
    held = db.session.scalar(sa.select(sa.func.count()).where(StoragePosition.box_id == box_id))
    stored = [r for r in results if r.index and r.won]
    assert held == len(stored)
    if not box.active:
        assert held == 0, results  # deactivated only while empty, and then took nothing
    else:
        deactivation = next(r for r in results if r.index == 0)
        assert "still holds" in deactivation.detail


# --- undoing a receiving scan, quarantine ----------------------------------------------------


def test_sixteen_undos_of_one_scan_undo_it_once(app, technician, in_transit):
    tube = in_transit.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, in_transit, tube.barcode)
    results = race(
        app,
        N,
        _on_shipment(
            technician.id,
            in_transit.id,
            lambda a, s: receiving.undo_scan(a, s, tube.barcode, "wrong box").status,
        ),
    )
    one_winner(results, r"was not scanned into .*: there is no scan of it to undo here", Conflict)
    assert count_events("receipt_scan_undone", sample=tube.id) == 1
    assert fresh_sample(tube.barcode).status == SampleStatus.IN_TRANSIT
    assert verify_chain().intact


def test_an_undo_racing_a_store_leaves_the_tube_either_stored_or_in_transit(
    app, technician, boxes, in_transit
):
    tube = in_transit.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, in_transit, tube.barcode)
    box_id, shipment_id, barcode = boxes[0].id, in_transit.id, tube.barcode

    def act(index: int) -> str:
        actor = db.session.get(User, technician.id)
        if index % 2:
            placing.store_sample(actor, db.session.get(Container, box_id), barcode)
            return "stored"
        receiving.undo_scan(actor, sending.get_shipment(actor, shipment_id), barcode, "wrong")
        return "undone"

    results = race(app, N, act)
    assert not others(results), results
    [won] = winners(results)
    after = fresh_sample(barcode)
    if won.value == "stored":
        assert after.status == SampleStatus.STORED and after.position is not None
        assert count_events("receipt_scan_undone", sample=tube.id) == 0
    else:
        assert after.status == SampleStatus.IN_TRANSIT and after.position is None
        assert count_events("stored", sample=tube.id) == 0


def test_an_undone_stray_racing_the_close_of_its_own_shipment_is_never_left_waiting(
    app, technician, collector, dispatched_shipment
):
    own = dispatched_shipment(collector)
    other = dispatched_shipment(collector, participant_id="P223456789")
    stray = own.items[0].sample
    with unit_of_work():
        receiving.receive_scan(technician, other, stray.barcode)
        for item in own.items[1:]:
            receiving.receive_scan(technician, own, item.sample.barcode)
    own_id, other_id, barcode = own.id, other.id, stray.barcode

    def act(index: int) -> str:
        actor = db.session.get(User, technician.id)
        if index == 0:
            shipment = sending.get_shipment(actor, other_id, lock=True, with_items=False)
            receiving.undo_scan(actor, shipment, barcode, "it fell out of the other box")
            return "undone"
        shipment = sending.get_shipment(actor, own_id, lock=True)
        receiving.close_receipt(actor, shipment, condition="good", signature_password=PASSWORD)
        return "closed"

    results = race(app, 2, act)
    assert not others(results) and len(winners(results)) == 2, results
    db.session.rollback()
    item = db.session.scalar(
        sa.select(ShipmentItem).where(
            ShipmentItem.shipment_id == own_id, ShipmentItem.sample_id == stray.id
        )
    )
    # Whichever went first, the closed receipt calls the tube missing: never still waiting.
    assert item.outcome == "missing"
    assert fresh_sample(barcode).status == SampleStatus.MISSING


def test_sixteen_quarantines_of_one_tube_hold_it_once(app, technician, sst):
    barcode = sst.barcode
    results = race(
        app, N, as_user(technician.id, lambda u: lifecycle.quarantine(u, barcode, "alarm"))
    )
    one_winner(results, rf"is quarantined already \(alarm\), {BY_YOU}", Conflict)
    assert count_events("flagged", sample=sst.id) == 1

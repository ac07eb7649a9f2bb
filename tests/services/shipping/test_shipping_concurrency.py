"""Real concurrent transactions on PostgreSQL: packers and receivers racing for the same tubes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from biobank.errors import DomainError
from biobank.extensions import db
from biobank.models import Event, Sample, Shipment, ShipmentItem, User
from biobank.services.core.custody_log import verify_chain
from biobank.services.shipping import receiving, sending
from biobank.unit_of_work import unit_of_work

pytestmark = pytest.mark.postgres


def race(app, workers: list[Callable[[], str]]) -> list[str]:
    """Run each worker in its own thread and app context, all released at once."""
    start = threading.Barrier(len(workers))
    results: list[str] = [""] * len(workers)

    def run(index: int, work: Callable[[], str]) -> None:
        with app.app_context():
            try:
                start.wait()
                results[index] = work()
            except DomainError as refused:
                results[index] = f"refused: {refused.detail}"
            except Exception as error:  # a crash is a failure, reported with its type
                results[index] = f"crash: {type(error).__name__}: {error}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_people_packing_at_once_never_lose_or_double_an_item(
    app, collector, make_user, clinic, biobank_site, finalized_collection
):
    from biobank.models import Role

    colleague = make_user("collector.two", Role.COLLECTOR, clinic)
    tubes = [s.barcode for s in finalized_collection(collector).samples]
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
    shipment_id, users = shipment.id, [collector.id, colleague.id]

    def packer(user_id: int, barcodes: list[str]) -> Callable[[], str]:
        def work() -> str:
            outcomes = []
            for barcode in barcodes:
                with unit_of_work():
                    actor = db.session.get(User, user_id)
                    target = sending.get_shipment(actor, shipment_id)
                    outcomes.append(
                        "added" if sending.pack_sample(actor, target, barcode).added else "again"
                    )
            return ",".join(outcomes)

        return work

    # Both scan every tube, in opposite orders, at the same time.
    results = race(app, [packer(users[0], tubes), packer(users[1], tubes[::-1])])
    assert not any(r.startswith(("crash", "refused")) for r in results), results
    added = Counter(",".join(results).split(","))
    assert added["added"] == len(tubes) and added["again"] == len(tubes)
    db.session.expire_all()
    items = db.session.scalars(
        sa.select(ShipmentItem.sample_id).where(ShipmentItem.shipment_id == shipment_id)
    ).all()
    assert len(items) == len(set(items)) == len(tubes)
    assert db.session.scalar(sa.select(sa.func.count()).where(Event.type == "packed")) == len(tubes)


def test_one_tube_into_two_shipments_at_once_goes_into_one(
    app, collector, biobank_site, finalized_collection
):
    tube = finalized_collection(collector).samples[0].barcode
    with unit_of_work():
        first = sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")
        second = sending.open_shipment(collector, destination="MAYO-BB", temperature="refrigerated")
    ids_, user_id = [first.id, second.id], collector.id

    def packer(shipment_id: int) -> Callable[[], str]:
        def work() -> str:
            with unit_of_work():
                actor = db.session.get(User, user_id)
                sending.pack_sample(actor, sending.get_shipment(actor, shipment_id), tube)
            return "added"

        return work

    results = race(app, [packer(ids_[0]), packer(ids_[1])])
    assert sorted(r.split(":")[0] for r in results) == ["added", "refused"], results
    db.session.expire_all()
    sample_id = db.session.scalar(sa.select(Sample.id).where(Sample.barcode == tube))
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(ShipmentItem.sample_id == sample_id))
        == 1
    )


def test_two_technicians_scanning_one_tube_get_expected_and_duplicate(
    app, technician, make_user, biobank_site, collector, dispatched_shipment
):
    from biobank.models import Role

    colleague = make_user("technician.two", Role.TECHNICIAN, biobank_site)
    shipment = dispatched_shipment(collector)
    tube = shipment.items[0].sample.barcode
    shipment_id = shipment.id

    def scanner(user_id: int) -> Callable[[], str]:
        def work() -> str:
            with unit_of_work():
                actor = db.session.get(User, user_id)
                target = db.session.get(Shipment, shipment_id)
                return str(receiving.receive_scan(actor, target, tube).outcome)

        return work

    results = race(app, [scanner(technician.id), scanner(colleague.id)] * 4)
    assert sorted(results) == ["duplicate"] * 7 + ["expected"], results
    received = db.session.scalar(sa.select(sa.func.count()).where(Event.type == "received"))
    assert received == 1
    assert verify_chain().intact

"""Tubes sent to a study and returned, through the outbound services, for the tests of what
comes after distribution (the studies to notify, the per-protocol report, the FHIR export).

``pick_all`` picks a request's reserved tubes; ``ship`` opens the request's outbound shipment,
packs every picked tube and dispatches it, signed (the tubes never picked are released);
``take_back`` receives a tube back from the study; ``shipped_request`` does it all for the
participants given; ``withdraw`` records a participant's withdrawal now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from biobank.db import utcnow
from biobank.models import DistributionRequest, User
from biobank.services.collecting import participants
from biobank.services.distribution import outbound, picking, requests
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


def pick_all(technician: User, request: DistributionRequest, count: int | None = None) -> list[str]:
    """Pick the request's reserved tubes (the first ``count`` of its pick list)."""
    rows = picking.pick_list(technician, request).rows
    chosen = [row.barcode for row in rows[:count]]
    with unit_of_work():
        for barcode in chosen:
            picking.pick(technician, request, barcode)
    return chosen


def ship(technician: User, request: DistributionRequest) -> list[str]:
    """Pack the request's picked tubes and dispatch them to its study; their sample IDs."""
    picked = [row.barcode for row in picking.pick_list(technician, request).rows if row.picked]
    with unit_of_work():
        shipment = outbound.open_shipment(technician, request)
        for barcode in picked:
            outbound.pack(technician, shipment, barcode)
        done = outbound.dispatch(
            technician,
            shipment,
            carrier="fedex",
            tracking_number="1234 5678 9012",
            signature_password=PASSWORD,
        )
        return list(done.tubes)


def take_back(technician: User, request: DistributionRequest, barcode: str) -> None:
    """The study sends a tube back unused: received at the biobank again."""
    with unit_of_work():
        shipment = outbound.shipment_of(request)
        assert shipment is not None
        outbound.receive_return(technician, shipment, barcode, "unused")


def shipped_request(
    coordinator: User,
    technician: User,
    store_participant: Callable,
    make_request: Callable,
    participant_ids: tuple[str, ...],
) -> tuple[DistributionRequest, list[str]]:
    """The participants' tubes stored, a request for them approved, picked and shipped: the
    request and the sample IDs sent."""
    for participant_id in participant_ids:
        store_participant(participant_id)
    request = make_request()
    with unit_of_work():
        requests.approve(coordinator, request)
    pick_all(technician, request)
    return request, ship(technician, request)


def withdraw(
    coordinator: User,
    participant_id: str,
    reason: str = "changed their mind",
    at: datetime | None = None,
) -> None:
    """The enrollment system's word that the participant withdrew (``at``: when they did,
    which it may report late)."""
    with unit_of_work():
        participants.upsert_participant(
            coordinator,
            participant_id,
            biospecimen_consent=True,
            withdrawn_at=at or utcnow(),
            withdrawal_reason=reason,
        )

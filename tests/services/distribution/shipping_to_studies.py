"""Tubes sent to a study and returned, as the custody log records them, for the tests of
what comes after distribution (the studies to notify, the per-protocol report, the FHIR
export).

``ship`` picks a request's reserved tubes and sends them the way ``outbound.dispatch`` does:
out of their positions, ``distributed``, no longer reserved, with a ``distributed`` event
naming the protocol, the request, the shipment and the study pseudonym; the request becomes
shipped. ``take_back`` receives a tube back the way ``outbound.receive_return`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import (
    DistributionItem,
    DistributionRequest,
    EventType,
    RequestStatus,
    Sample,
    SampleStatus,
    StoragePosition,
    User,
)
from biobank.services.core.samples import transition
from biobank.services.core.transitions import REQUESTS
from biobank.services.distribution import picking, requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.unit_of_work import unit_of_work

SHIPMENT_ID = 7


def pick_all(technician: User, request: DistributionRequest, count: int | None = None) -> list[str]:
    """Pick the request's reserved tubes (the first ``count`` of its pick list)."""
    rows = picking.pick_list(technician, request).rows
    chosen = [row.barcode for row in rows[:count]]
    with unit_of_work():
        for barcode in chosen:
            picking.pick(technician, request, barcode)
    return chosen


def ship(
    technician: User, request: DistributionRequest, barcodes: Sequence[str] | None = None
) -> list[str]:
    """Send the request's picked tubes (or ``barcodes``) to its study; their sample IDs."""
    with unit_of_work():
        request = db.session.get(DistributionRequest, request.id)
        assert request is not None
        tubes = list(
            db.session.scalars(
                sa.select(Sample)
                .join(DistributionItem, DistributionItem.sample_id == Sample.id)
                .where(
                    Sample.reserved_for_request_id == request.id,
                    DistributionItem.request_id == request.id,
                    DistributionItem.picked_at.is_not(None),
                    DistributionItem.released_at.is_(None),
                )
                .order_by(Sample.id)
            )
        )
        if barcodes is not None:
            tubes = [tube for tube in tubes if tube.barcode in barcodes]
        now = utcnow()
        for tube in tubes:
            position = db.session.scalar(
                sa.select(StoragePosition).where(StoragePosition.sample_id == tube.id)
            )
            if position is not None:
                db.session.delete(position)
                tube.position = None
            transition(tube, SampleStatus.DISTRIBUTED)
            tube.reserved_for_request_id = None
            tube.checked_out_at = None
            picking.tube_event(
                EventType.DISTRIBUTED,
                technician,
                request,
                tube,
                now,
                distribution_shipment=SHIPMENT_ID,
                pseudonym=study_pseudonym(tube.collection.participant_id, request.protocol),
                institution=request.protocol.institution,
            )
        # Tubes reserved but never picked are released as the request ships.
        requests._release(technician, request, "not picked when the request shipped", None)
        REQUESTS.move(request, RequestStatus.SHIPPED, name=f"Request {request.id}")
        db.session.flush()
        return [tube.barcode for tube in tubes]


def take_back(technician: User, request: DistributionRequest, barcode: str) -> None:
    """The study sends a tube back unused: received at the biobank again."""
    with unit_of_work():
        request = db.session.get(DistributionRequest, request.id)
        assert request is not None
        tube = db.session.scalar(sa.select(Sample).where(Sample.barcode == barcode))
        assert tube is not None
        now = utcnow()
        transition(tube, SampleStatus.RECEIVED)
        tube.received_at = now
        picking.tube_event(
            EventType.RECEIVED,
            technician,
            request,
            tube,
            now,
            reason="unused",
            returned_from=request.protocol.institution,
            distribution_shipment=SHIPMENT_ID,
        )

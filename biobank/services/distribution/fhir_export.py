"""A distribution as FHIR R4: what a study received, as the study may know it.

A FHIR ``Bundle`` (type ``collection``, as a clinic's shipment is exported) identified by the
request, timed at its dispatch, holding the receiving institution as an ``Organization`` (its
address and the responsible person as its contact) and one ``Specimen`` per tube that went to
the study. Each Specimen is the tube's usual one (``interop.specimen_resource``) with its
subject the **study pseudonym** (an identifier in the protocol's own system, since a pseudonym
means something only within its study), never the participant ID; without what stays at the
biobank: staff names, freezer positions, parent tubes and flag notes (a flag's note can say
why a participant withdrew). Tubes sent back by the study stay in it, noted as returned.

The tubes are those the custody log records as distributed under the request (the
``distributed`` events ``outbound.dispatch`` writes), under the pseudonym each event names.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from biobank.errors import Conflict, Forbidden
from biobank.extensions import db
from biobank.models import (
    DistributionRequest,
    DistributionShipment,
    Event,
    EventType,
    OutboundStatus,
    Sample,
    User,
)
from biobank.services.core import policy
from biobank.services.distribution.outbound import number
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.services.distribution.report import may_read
from biobank.services.reporting.interop import specimen_resource

REQUEST_SYSTEM = "urn:biobank:distribution-request"
PROTOCOL_SYSTEM = "urn:biobank:distribution-protocol"


def pseudonym_system(request: DistributionRequest) -> str:
    """The identifier system of one study's pseudonyms."""
    return f"urn:biobank:study-pseudonym:protocol-{request.protocol_id}"


def _study_specimen(
    sample: Sample, request: DistributionRequest, pseudonym: str, returned: bool
) -> dict[str, Any]:
    resource = specimen_resource(sample)
    resource["subject"] = {
        "identifier": {"system": pseudonym_system(request), "value": pseudonym},
        "display": f"Study participant {pseudonym}",
    }
    resource.pop("parent", None)
    resource.pop("note", None)
    collection = resource.get("collection", {})
    collection.pop("collector", None)
    if not collection:
        resource.pop("collection", None)
    for container in resource.get("container", []):
        container.pop("description", None)
    # At the study unless it came back: "available" to the study, or no longer.
    resource["status"] = "unavailable" if returned else "available"
    if returned:
        resource["note"] = [{"text": "returned unused to the biobank"}]
    return resource


def _organization(request: DistributionRequest) -> dict[str, Any]:
    protocol = request.protocol
    return {
        "resourceType": "Organization",
        "id": f"protocol-{protocol.id}-institution",
        "identifier": [{"system": PROTOCOL_SYSTEM, "value": protocol.approval_number}],
        "name": protocol.institution,
        "address": [{"text": protocol.institution_address}],
        "contact": [{"name": {"text": protocol.responsible_person}}],
    }


def _distributed(request: DistributionRequest) -> list[Any]:
    request_id = Event.details["request"].as_integer()
    return list(
        db.session.execute(
            sa.select(Event.sample_id, Event.at, Event.details)
            .where(Event.type == EventType.DISTRIBUTED, request_id == request.id)
            .order_by(Event.id)
        )
    )


def _returned(request: DistributionRequest) -> set[int]:
    request_id = Event.details["request"].as_integer()
    return set(
        db.session.scalars(
            sa.select(Event.sample_id).where(
                Event.type == EventType.RECEIVED,
                request_id == request.id,
                Event.details["distribution_shipment"].as_integer().is_not(None),
            )
        )
    )


def shipment_bundle(actor: User, shipment: DistributionShipment) -> dict[str, Any]:
    """The Bundle found by an outbound shipment (``outbound.get_shipment`` gives it). 409 for a
    shipment that sent nothing: still open, or cancelled before dispatch (the request's tubes
    then went, or go, in another shipment)."""
    if not may_read(actor):
        raise Forbidden(f"Your role ({actor.role}) may not export distributions.")
    policy.ensure_protocol_visible(actor, shipment.request.protocol)
    if shipment.status in (OutboundStatus.OPEN, OutboundStatus.CANCELLED):
        said = (
            "was cancelled before dispatch"
            if shipment.status == OutboundStatus.CANCELLED
            else "is not dispatched yet"
        )
        raise Conflict(
            f"Outbound shipment {number(shipment)} {said}: it sent nothing to export. Export "
            f"request {shipment.request_id} instead, once its shipment is dispatched.",
            distribution_request=shipment.request_id,
            distribution_shipment=shipment.id,
        )
    return distribution_bundle(actor, shipment.request)


def distribution_bundle(actor: User, request: DistributionRequest) -> dict[str, Any]:
    """The tubes a request sent to its study, as a FHIR R4 Bundle (``requests.get_request``
    gives the request: another biobank's is a 404). 409 before anything was shipped."""
    if not may_read(actor):
        raise Forbidden(f"Your role ({actor.role}) may not export distributions.")
    policy.ensure_protocol_visible(actor, request.protocol)
    sent = _distributed(request)
    if not sent:
        raise Conflict(
            f"Request {request.id} has sent no tube to its study yet ({request.status}): "
            "there is nothing to export until its shipment is dispatched.",
            distribution_request=request.id,
        )
    samples = {
        sample.id: sample
        for sample in db.session.scalars(
            sa.select(Sample).where(Sample.id.in_({row.sample_id for row in sent}))
        )
    }
    back = _returned(request)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:biobank:organization:protocol-{request.protocol_id}",
            "resource": _organization(request),
        }
    ]
    seen: set[int] = set()
    for row in sent:
        sample = samples[row.sample_id]
        if sample.id in seen:
            continue
        seen.add(sample.id)
        details = row.details or {}
        participant_id = sample.collection.participant_id if sample.collection else ""
        pseudonym = details.get("pseudonym") or study_pseudonym(participant_id, request.protocol)
        entries.append(
            {
                "fullUrl": f"urn:biobank:specimen:{sample.barcode}",
                "resource": _study_specimen(sample, request, str(pseudonym), sample.id in back),
            }
        )
    return {
        "resourceType": "Bundle",
        "id": f"distribution-request-{request.id}",
        "identifier": {"system": REQUEST_SYSTEM, "value": str(request.id)},
        "type": "collection",
        "timestamp": sent[0].at.isoformat(),
        "entry": entries,
    }

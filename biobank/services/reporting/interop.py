"""What other systems of the program read: FHIR R4 Specimens and Bundles, and CSV exports.

The participant appears only as the pseudonymous ID (a bare identifier on ``subject``): no
name, no Patient resource, nothing that could identify a person.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from biobank.errors import NotFound
from biobank.extensions import db
from biobank.models import (
    FlagKind,
    Sample,
    SampleStatus,
    Shipment,
    User,
)
from biobank.services.core import policy, samples
from biobank.services.core.spreadsheet import csv_writer
from biobank.services.reporting.sprec import sprec
from biobank.services.storage.storage_paths import location_of

SAMPLE_SYSTEM = "urn:biobank:sample-id"
PARTICIPANT_SYSTEM = "urn:biobank:participant-id"
MANIFEST_SYSTEM = "urn:biobank:manifest-number"
# The tube's SPREC (ISBER Standard PREanalytical Code) rides in an extension, not in
# ``identifier``: thousands of tubes share one code, and an identifier must identify.
SPREC_EXTENSION = "urn:biobank:sprec"
V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
# HL7 v2 table 0487 specimen types for the specimens we hold.
SPECIMEN_CODES = {
    "whole_blood": ("BLD", "Whole blood"),
    "serum": ("SER", "Serum"),
    "plasma": ("PLAS", "Plasma"),
    "urine": ("UR", "Urine"),
    "saliva": ("SAL", "Saliva"),
}
UNAVAILABLE = (
    SampleStatus.CONSUMED,
    SampleStatus.DISPOSED,
    SampleStatus.MISSING,
    SampleStatus.WITHDRAWN,
)
QUALITY_FLAGS = (FlagKind.HAEMOLYSED, FlagKind.CLOTTED, FlagKind.DAMAGED)


def _time(value) -> str | None:
    return value.isoformat() if value else None


def fhir_status(sample: Sample) -> str:
    if sample.status == SampleStatus.CANCELLED:
        return "entered-in-error"
    # A quarantined tube is held back from use until released, whatever its status.
    if sample.status in UNAVAILABLE or any(
        flag.kind == FlagKind.QUARANTINED for flag in sample.flags
    ):
        return "unavailable"
    if any(flag.kind in QUALITY_FLAGS for flag in sample.flags):
        return "unsatisfactory"
    return "available"


def specimen_resource(sample: Sample) -> dict[str, Any]:
    """One tube as a FHIR R4 ``Specimen``."""
    tube = sample.tube_type
    code, display = SPECIMEN_CODES.get(str(tube.specimen), (None, None))
    specimen_type: dict[str, Any] = {"text": f"{tube.code}: {tube.description}"}
    if code:
        specimen_type["coding"] = [{"system": V2_0487, "code": code, "display": display}]
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": sample.barcode,
        "identifier": [{"system": SAMPLE_SYSTEM, "value": sample.barcode}],
        "accessionIdentifier": {"system": SAMPLE_SYSTEM, "value": sample.barcode},
        "status": fhir_status(sample),
        "type": specimen_type,
    }
    resource["extension"] = [{"url": SPREC_EXTENSION, "valueString": sprec(sample)}]
    participant_id = sample.collection.participant_id if sample.collection else None
    if participant_id:
        resource["subject"] = {
            "identifier": {"system": PARTICIPANT_SYSTEM, "value": participant_id}
        }
    if sample.received_at:
        resource["receivedTime"] = _time(sample.received_at)
    if sample.parent is not None:
        resource["parent"] = [{"reference": f"Specimen/{sample.parent.barcode}"}]
    collection: dict[str, Any] = {}
    if sample.collected_at:
        collection["collectedDateTime"] = _time(sample.collected_at)
    if sample.collected_by is not None:
        collection["collector"] = {"display": sample.collected_by.full_name}
    if sample.volume_ml is not None:
        collection["quantity"] = {
            "value": float(tube.volume_ml),
            "unit": "mL",
            "system": "http://unitsofmeasure.org",
            "code": "mL",
        }
    if collection:
        resource["collection"] = collection
    if sample.processed_at:
        resource["processing"] = [
            {
                "description": f"centrifuged ({sample.centrifuge or 'centrifuge not recorded'})",
                "timeDateTime": _time(sample.processed_at),
            }
        ]
    container: dict[str, Any] = {
        "type": {"text": tube.description},
        "capacity": {"value": float(tube.volume_ml), "unit": "mL"},
        "additiveCodeableConcept": {"text": tube.additive},
    }
    if sample.volume_ml is not None:
        container["specimenQuantity"] = {"value": float(sample.volume_ml), "unit": "mL"}
    location = location_of(sample)
    if location:
        container["description"] = " › ".join([*location["path"], location["position"]])
    resource["container"] = [container]
    if sample.flags:
        resource["note"] = [
            {
                "text": f"flag: {str(flag.kind).replace('_', ' ')}"
                + (f" ({flag.note})" if flag.note else "")
            }
            for flag in sample.flags
        ]
    return resource


def shipment_bundle(actor: User, shipment: Shipment) -> dict[str, Any]:
    """A shipment as a FHIR ``Bundle`` (type collection) of its manifested tubes' Specimens.

    A Specimen carries the participant ID, the collector's name and the times, so each is in
    the bundle only for whoever may see that tube: the rule of ``GET /samples/{barcode}/fhir``
    (``policy.may_see``). The biobank may see a shipment being packed for it (its barcodes and
    tube types), but its tubes only once the clinic dispatches them and they become the
    biobank's custody; until then the bundle is a 404 to it, as each tube is.
    """
    manifested = [item.sample for item in shipment.items if item.manifested]
    tubes = [sample for sample in manifested if policy.may_see(actor, sample)]
    if manifested and not tubes:
        raise NotFound(
            f"The tubes of shipment {shipment.manifest_number} are not visible to you: a "
            "biobank sees them once the shipment is dispatched to it."
        )
    return {
        "resourceType": "Bundle",
        "id": shipment.manifest_number,
        "identifier": {"system": MANIFEST_SYSTEM, "value": shipment.manifest_number},
        "type": "collection",
        "timestamp": _time(shipment.dispatched_at or shipment.created_at),
        "entry": [
            {
                "fullUrl": f"urn:biobank:specimen:{sample.barcode}",
                "resource": specimen_resource(sample),
            }
            for sample in tubes
        ],
    }


# --- CSV ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "barcode",
    "tube_type",
    "specimen",
    "status",
    "site",
    "custody_site",
    "collection_id",
    "parent",
    "volume_ml",
    "freeze_thaw_count",
    "flags",
    "freezer",
    "box",
    "position",
    "collected_at",
    "processed_at",
    "finalized_at",
    "received_at",
    "sprec",
)


def export_query(user: User, **filters: Any) -> sa.Select[Any]:
    """The sample list's tubes (``samples.filtered_samples``), oldest first, for a CSV."""
    stmt = samples.filtered_samples(user, **filters).options(selectinload(Sample.custody_site))
    return stmt.order_by(Sample.id)


def csv_row(sample: Sample) -> list[Any]:
    location = location_of(sample) or {}
    return [
        sample.barcode,
        sample.tube_type.code,
        str(sample.tube_type.specimen),
        str(sample.status),
        sample.site.code,
        sample.custody_site.code,
        sample.collection_id or "",
        sample.parent.barcode if sample.parent else "",
        "" if sample.volume_ml is None else f"{sample.volume_ml:f}",
        sample.freeze_thaw_count,
        " ".join(sample.flag_kinds),
        location.get("freezer", ""),
        location.get("box", ""),
        location.get("position", ""),
        _time(sample.collected_at) or "",
        _time(sample.processed_at) or "",
        _time(sample.finalized_at) or "",
        _time(sample.received_at) or "",
        sprec(sample),
    ]


def samples_csv(stmt: sa.Select[Any], batch: int = 2000) -> Iterator[str]:
    """The export as CSV text chunks, read in batches so memory stays flat."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    last_id = 0
    while True:
        chunk: Sequence[Sample] = db.session.scalars(
            stmt.where(Sample.id > last_id).limit(batch)
        ).all()
        if not chunk:
            break
        for sample in chunk:
            writer.writerow(csv_row(sample))
        last_id = chunk[-1].id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        for sample in chunk:
            db.session.expunge(sample)
    if buffer.tell():
        yield buffer.getvalue()
    else:
        yield ""

"""Distribution to approved research: protocols, requests, proposals and reservations."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, validate

from biobank.models import OutboundStatus, ProtocolStatus, RequestStatus, Specimen
from biobank.schemas.common import PageArgsSchema
from biobank.schemas.samples import ReasonSchema
from biobank.schemas.shipments import BarcodeSchema, DispatchSchema
from biobank.services.core import ids
from biobank.services.distribution import outbound, protocols, requests

# Days the API reads: far enough either way for any approval or collection window, and near
# enough that the biobank's time zone can hold them.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
_DAYS = f"YYYY-MM-DD, from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."
_SPECIMENS = ", ".join(str(kind) for kind in Specimen)


def _day(description: str, **kwargs) -> fields.Date:
    return fields.Date(
        validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
        metadata={"description": f"{description} {_DAYS}"},
        **kwargs,
    )


def _username(user) -> str | None:
    return user.username if user else None


def _sample_ids(most: int, description: str, **kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(min=1, max=most),
        metadata={"description": description},
        **kwargs,
    )


# --- protocols ---------------------------------------------------------------------------------


class ProtocolSchema(Schema):
    id = fields.Integer(dump_only=True)
    site = fields.Function(lambda p: p.site.code, metadata={"description": "The biobank's code."})
    title = fields.String()
    approval_number = fields.String(metadata={"description": "The IRB / ethics approval."})
    approval_expires_on = fields.Date()
    institution = fields.String()
    institution_address = fields.String()
    responsible_person = fields.String()
    specimens = fields.Function(
        lambda p: [str(kind) for kind in p.specimens],
        metadata={"description": "The specimen kinds the study may receive."},
    )
    status = fields.Enum(ProtocolStatus, by_value=True)
    accepting_requests = fields.Function(
        protocols.accepting_requests,
        metadata={"description": "Open and its approval not expired: takes new requests."},
    )
    created_at = fields.AwareDateTime(dump_only=True)
    created_by = fields.Function(lambda p: p.created_by.username)
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_by = fields.Function(lambda p: _username(p.closed_by), allow_none=True)
    close_reason = fields.String(allow_none=True)


class ProtocolCreateSchema(Schema):
    title = fields.String(
        required=True, validate=validate.Length(min=1, max=protocols.TEXT_FIELDS["title"][1])
    )
    approval_number = fields.String(
        required=True,
        validate=validate.Length(min=1, max=protocols.TEXT_FIELDS["approval_number"][1]),
        metadata={"description": "The IRB / ethics approval number."},
    )
    approval_expires_on = _day(
        "The day the approval expires (it holds all that day).", required=True
    )
    institution = fields.String(
        required=True,
        validate=validate.Length(min=1, max=protocols.TEXT_FIELDS["institution"][1]),
        metadata={"description": "The receiving institution."},
    )
    institution_address = fields.String(
        required=True,
        validate=validate.Length(min=1, max=protocols.TEXT_FIELDS["institution_address"][1]),
        metadata={"description": "Where the tubes are shipped."},
    )
    responsible_person = fields.String(
        required=True,
        validate=validate.Length(min=1, max=protocols.TEXT_FIELDS["responsible_person"][1]),
        metadata={"description": "The researcher responsible for the material."},
    )
    specimens = fields.List(
        fields.Enum(Specimen, by_value=True),
        required=True,
        validate=validate.Length(min=1, max=len(Specimen)),
        metadata={"description": f"The specimen kinds the study may receive: {_SPECIMENS}."},
    )
    site = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "The biobank's code; defaults to your own site."},
    )


class ProtocolQuerySchema(PageArgsSchema):
    status = fields.Enum(ProtocolStatus, by_value=True)
    site = fields.String(
        validate=validate.Length(max=32), metadata={"description": "The biobank's code."}
    )
    approval_number = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "Find a protocol by its approval number."},
    )


# --- requests ----------------------------------------------------------------------------------


class RequestSchema(Schema):
    id = fields.Integer(dump_only=True)
    protocol = fields.Integer(attribute="protocol_id")
    approval_number = fields.Function(lambda r: r.protocol.approval_number)
    specimen = fields.Enum(Specimen, by_value=True)
    participants_wanted = fields.Integer()
    tubes_per_participant = fields.Integer()
    tubes_wanted = fields.Integer(metadata={"description": "Participants × tubes each."})
    min_volume_ml = fields.Float()
    max_freeze_thaw = fields.Integer()
    collected_from = fields.Date()
    collected_to = fields.Date()
    sample_ids = fields.List(
        fields.String(),
        attribute="sample_barcodes",
        allow_none=True,
        metadata={"description": "The sample IDs the study named, or null."},
    )
    notes = fields.String(allow_none=True)
    status = fields.Enum(
        RequestStatus,
        by_value=True,
        metadata={
            "description": "draft → approved (tubes reserved) → picking → shipped; or cancelled."
        },
    )
    created_at = fields.AwareDateTime(dump_only=True)
    recorded_by = fields.Function(lambda r: r.recorded_by.username)
    approved_at = fields.AwareDateTime(allow_none=True)
    approved_by = fields.Function(lambda r: _username(r.approved_by), allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancelled_by = fields.Function(lambda r: _username(r.cancelled_by), allow_none=True)
    cancel_reason = fields.String(allow_none=True)


class RequestDetailSchema(RequestSchema):
    reserved = fields.Function(
        lambda r: [tube.barcode for tube in requests.reserved_tubes(r)],
        metadata={"description": "The sample IDs reserved for the request now."},
    )
    shipment = fields.Function(
        lambda r: shipment.id if (shipment := outbound.shipment_of(r)) else None,
        allow_none=True,
        metadata={"description": "Its outbound shipment's id, once one is opened."},
    )


class RequestCreateSchema(Schema):
    specimen = fields.Enum(
        Specimen,
        by_value=True,
        required=True,
        metadata={"description": "One of the kinds the protocol may receive."},
    )
    participants_wanted = fields.Integer(
        required=True, validate=validate.Range(1, requests.MAX_PARTICIPANTS)
    )
    tubes_per_participant = fields.Integer(
        required=True, validate=validate.Range(1, requests.MAX_TUBES_PER_PARTICIPANT)
    )
    min_volume_ml = fields.Decimal(
        load_default=0,
        # Its range is the service's to check (a 422 naming the field): a Decimal's bounds
        # would be documented as strings, which OpenAPI does not allow.
        metadata={
            "description": "The least a tube must hold, in mL, below 10,000 (0 for any).",
            "default": 0,
        },
    )
    max_freeze_thaw = fields.Integer(
        required=True,
        validate=validate.Range(0, requests.MAX_FREEZE_THAW),
        metadata={"description": "The most freeze-thaw cycles a tube may have had."},
    )
    collected_from = _day("The first collection day, in the biobank's time zone.", required=True)
    collected_to = _day("The last collection day (included).", required=True)
    sample_ids = _sample_ids(
        requests.MAX_TUBES,
        "The sample IDs the study named (each held at the protocol's biobank); leave out to "
        "let the system choose.",
    )
    notes = fields.String(
        allow_none=True, validate=validate.Length(max=2000), metadata={"description": "No names."}
    )


class RequestQuerySchema(PageArgsSchema):
    status = fields.Enum(RequestStatus, by_value=True)


# --- proposals and reservations -------------------------------------------------------------------


class ProposedTubeSchema(Schema):
    barcode = fields.String()
    display_barcode = fields.Function(lambda t: ids.display(t.barcode))
    participant_id = fields.String()
    freeze_thaw_count = fields.Integer()
    volume_ml = fields.Float(allow_none=True)
    collected_at = fields.AwareDateTime(allow_none=True)


class ProposalSchema(Schema):
    request = fields.Function(lambda p: p.request.id)
    tubes = fields.List(
        fields.Nested(ProposedTubeSchema),
        metadata={
            "description": "Participant by participant (complete sets first), fewest thaws "
            "first. Nothing is reserved until the request is approved."
        },
    )
    tubes_wanted = fields.Function(lambda p: p.request.tubes_wanted)
    participants_wanted = fields.Function(lambda p: p.request.participants_wanted)
    participants = fields.Integer(metadata={"description": "Participants the tubes come from."})
    participants_short = fields.Integer()
    tubes_short = fields.Integer()
    not_offered = fields.List(
        fields.String(),
        metadata={
            "description": "Sample IDs the study named that are not offered now (reserved, "
            "used, or not matching the request)."
        },
    )


class ApprovalCreateSchema(Schema):
    sample_ids = _sample_ids(
        requests.MAX_TUBES,
        "The tubes to reserve, chosen from the proposal; leave out to reserve the proposal "
        "as it stands now.",
    )


class ApprovalSchema(Schema):
    request = fields.Nested(RequestSchema)
    reserved = fields.List(fields.String(), metadata={"description": "Sample IDs reserved now."})
    taken = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Chosen tubes another request reserved meanwhile: sample ID → "
            "that request's id."
        },
    )
    unavailable = fields.List(
        fields.String(),
        metadata={
            "description": "Chosen tubes that no longer match (checked out, thawed, "
            "quarantined, withdrawn … since they were proposed)."
        },
    )
    message = fields.Function(lambda a: a.summary)


class ReleaseSchema(ReasonSchema):
    """``reason``: why the tubes go back to the shelf."""

    sample_ids = _sample_ids(
        requests.MAX_TUBES, "The reserved tubes to release; leave out to release them all."
    )


class ReleasedSchema(Schema):
    request = fields.Nested(RequestSchema)
    released = fields.List(fields.String(), metadata={"description": "Sample IDs released."})


# --- picking -------------------------------------------------------------------------------------


class PickRowSchema(Schema):
    barcode = fields.String()
    display_barcode = fields.String()
    tube_type = fields.String()
    volume_ml = fields.Float(allow_none=True)
    freezer = fields.String(allow_none=True)
    path = fields.List(
        fields.String(), metadata={"description": "Freezer › racks or shelves … › box."}
    )
    box = fields.String(allow_none=True)
    box_id = fields.Integer(allow_none=True)
    position = fields.String(allow_none=True)
    place = fields.String(metadata={"description": "Where to find it, as a person reads it."})
    picked = fields.Boolean()
    picked_at = fields.AwareDateTime(allow_none=True)
    picked_by = fields.String(allow_none=True)
    quarantined = fields.Boolean(metadata={"description": "Refused at picking until released."})


class PickListSchema(Schema):
    request = fields.Nested(RequestSchema)
    rows = fields.List(
        fields.Nested(PickRowSchema),
        metadata={
            "description": "The reserved tubes in walking order: freezer, racks or shelves, "
            "box, position row by row; none names a participant."
        },
    )
    picked = fields.Integer()
    remaining = fields.Function(lambda listed: len(listed.remaining))
    next = fields.Nested(
        PickRowSchema, allow_none=True, metadata={"description": "The next tube to pick."}
    )


class PickCreateSchema(BarcodeSchema):
    aliquot_ml = fields.Decimal(
        allow_none=True,
        metadata={
            "description": "Aliquot this volume (mL, above 0, at most what the tube holds) "
            "into a new child tube that goes to the study in the tube's place (technicians); "
            "the tube itself stays stored."
        },
    )


class PickedSchema(Schema):
    request = fields.Nested(RequestSchema)
    barcode = fields.Function(
        lambda p: p.tube.barcode,
        metadata={"description": "The tube that goes to the study (a new aliquot, if made)."},
    )
    display_barcode = fields.Function(lambda p: p.tube.display_barcode)
    parent = fields.Function(
        lambda p: p.parent.barcode if p.parent else None,
        allow_none=True,
        metadata={"description": "The tube the aliquot was made from, back to its freezer."},
    )
    already = fields.Boolean(metadata={"description": "Picked before: nothing recorded."})
    message = fields.String()
    next = fields.Nested(PickRowSchema, allow_none=True)
    remaining = fields.Integer()


# --- outbound shipments --------------------------------------------------------------------------


class OutboundShipmentSchema(Schema):
    id = fields.Integer()
    number = fields.Function(outbound.number, metadata={"description": "D and its id."})
    request = fields.Integer(attribute="request_id")
    protocol = fields.Function(lambda s: s.request.protocol_id)
    institution = fields.String()
    address = fields.String()
    responsible_person = fields.String()
    status = fields.Enum(
        OutboundStatus,
        by_value=True,
        metadata={
            "description": "open → dispatched → partly_returned → returned; or open → "
            "cancelled (before dispatch: its tubes stay picked for the request)."
        },
    )
    carrier = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    created_by = fields.Function(lambda s: s.created_by.username)
    dispatched_at = fields.AwareDateTime(allow_none=True)
    dispatched_by = fields.Function(lambda s: _username(s.dispatched_by), allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancelled_by = fields.Function(lambda s: _username(s.cancelled_by), allow_none=True)
    cancel_reason = fields.String(allow_none=True)


class ManifestTubeSchema(Schema):
    """A tube as the study knows it: under its study pseudonym, never the participant."""

    pseudonym = fields.String(metadata={"description": "SP-XXXX-XXXX-XXXX-XXXX"})
    barcode = fields.String()
    display_barcode = fields.String()
    tube_type = fields.String()
    volume_ml = fields.Float(allow_none=True)
    collected_on = fields.String(metadata={"description": "YYYY-MM-DD at the biobank."})
    returned = fields.Boolean()


class OutboundSchema(Schema):
    shipment = fields.Nested(OutboundShipmentSchema)
    tubes = fields.List(
        fields.Nested(ManifestTubeSchema),
        metadata={"description": "Packed tubes by pseudonym, then sample ID."},
    )


class OutboundDispatchSchema(DispatchSchema):
    """A shipment's dispatch, signed, but for the dry ice: a study's package is the biobank's
    to pack as it sees fit."""

    class Meta:
        exclude = ("dry_ice_kg",)


class DispatchedSchema(OutboundSchema):
    released = fields.List(
        fields.String(),
        metadata={"description": "The request's tubes never picked: released as it shipped."},
    )


class CancelledSchema(OutboundSchema):
    unpacked = fields.List(
        fields.String(),
        metadata={
            "description": "The tubes taken out of the shipment: still picked and reserved "
            "for the request, to pack into its next shipment or release."
        },
    )


class OutboundPackedSchema(Schema):
    barcode = fields.Function(lambda p: p.item.sample.barcode)
    display_barcode = fields.Function(lambda p: p.item.sample.display_barcode)
    pseudonym = fields.Function(lambda p: p.item.pseudonym)
    added = fields.Boolean(metadata={"description": "False when the tube was in already."})
    message = fields.String()


class ReturnCreateSchema(BarcodeSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why it came back, e.g. unused, study ended."},
    )


class ReturnedSchema(Schema):
    barcode = fields.Function(lambda r: r.sample.barcode)
    display_barcode = fields.Function(lambda r: r.sample.display_barcode)
    status = fields.Function(
        lambda r: str(r.sample.status), metadata={"description": "received: store it."}
    )
    already = fields.Boolean(metadata={"description": "Returned before: nothing recorded."})
    message = fields.String()


# --- the per-protocol report ---------------------------------------------------------------------


class FiguresSchema(Schema):
    requested = fields.Integer(metadata={"description": "Participants × tubes each."})
    reserved = fields.Integer(metadata={"description": "Every tube a request held."})
    picked = fields.Integer()
    shipped = fields.Integer()
    returned = fields.Integer(metadata={"description": "Came back unused from the study."})
    released = fields.Integer(metadata={"description": "Let go before shipping."})


class ReportLineSchema(Schema):
    request = fields.Nested(RequestSchema)
    figures = fields.Nested(FiguresSchema)


class ProtocolReportSchema(Schema):
    protocol = fields.Nested(ProtocolSchema)
    requests = fields.Integer(metadata={"description": "How many requests it took."})
    lines = fields.List(fields.Nested(ReportLineSchema), metadata={"description": "By request."})
    total = fields.Nested(FiguresSchema)


# --- after distribution: the studies to notify of a withdrawal -----------------------------------


class NotifiedProtocolSchema(ProtocolSchema):
    """The study's protocol, as the dispatch recorded it: whom to write to."""

    class Meta:
        fields = (
            "id",
            "title",
            "approval_number",
            "institution",
            "institution_address",
            "responsible_person",
        )


class StudyToNotifySchema(Schema):
    protocol = fields.Nested(NotifiedProtocolSchema)
    pseudonym = fields.String(
        metadata={
            "description": "How the study knows the participant (the pseudonym on its "
            "manifest): name this one to the study, never the participant ID."
        }
    )
    sent = fields.List(fields.String(), metadata={"description": "The sample IDs it received."})
    returned = fields.List(fields.String(), metadata={"description": "Those it sent back."})
    held = fields.List(fields.String(), metadata={"description": "Those it still has."})
    first_sent_at = fields.AwareDateTime()
    last_sent_at = fields.AwareDateTime()
    sent_after_withdrawal = fields.Boolean(
        metadata={"description": "A tube left for the study on or after the withdrawal."}
    )


class StudiesToNotifySchema(Schema):
    participant_id = fields.String()
    withdrawn_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "Null: not withdrawn, no study to notify."}
    )
    withdrawal_reason = fields.String(allow_none=True)
    studies = fields.List(
        fields.Nested(StudyToNotifySchema),
        metadata={"description": "By when each first received a tube; empty when none did."},
    )

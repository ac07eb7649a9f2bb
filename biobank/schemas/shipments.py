from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.models import PackageCondition, ShipmentStatus, TemperatureClass
from biobank.schemas.common import PageArgsSchema
from biobank.services.shipping.receiving import count_outcomes


def _counts(shipment):
    return count_outcomes((i.manifested, i.outcome, 1) for i in shipment.items).as_dict()


class ShipmentItemSchema(Schema):
    barcode = fields.String()
    tube_type = fields.String(attribute="tube_type_code")
    outcome = fields.String(allow_none=True)
    manifested = fields.Boolean()


class CountsSchema(Schema):
    expected = fields.Integer()
    received = fields.Integer()
    missing = fields.Integer()
    unexpected = fields.Integer()
    damaged = fields.Integer()
    elsewhere = fields.Integer(
        metadata={"description": "On the manifest, but received in another shipment."}
    )


class ShipmentSchema(Schema):
    id = fields.Integer()
    manifest_number = fields.String()
    origin = fields.Function(lambda s: s.origin.code)
    destination = fields.Function(lambda s: s.destination.code)
    temperature = fields.String()
    status = fields.String()
    carrier = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    dry_ice_kg = fields.Float(allow_none=True)
    created_at = fields.AwareDateTime()
    dispatched_at = fields.AwareDateTime(allow_none=True)
    receipt_opened_at = fields.AwareDateTime(allow_none=True)
    received_at = fields.AwareDateTime(allow_none=True)
    condition = fields.String(allow_none=True)
    arrival_temperature_c = fields.Float(allow_none=True)
    receipt_notes = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ShipmentItemSchema))
    counts = fields.Function(_counts, metadata={"description": "Receipt counts so far."})


class ShipmentCreateSchema(Schema):
    origin = fields.String(metadata={"description": "Site code; defaults to your own site."})
    destination = fields.String(required=True, validate=validate.Length(min=1, max=32))
    temperature = fields.Enum(TemperatureClass, by_value=True, required=True)


class ShipmentQuerySchema(PageArgsSchema):
    status = fields.Enum(ShipmentStatus, by_value=True)
    origin = fields.String()
    destination = fields.String()
    manifest_number = fields.String(metadata={"description": "A scanned manifest barcode."})


class BarcodeSchema(Schema):
    barcode = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The scanned tube ID (forgiving: case, hyphens, I/L/O)."},
    )


class PackResultSchema(Schema):
    barcode = fields.String()
    tube_type = fields.String()
    added = fields.Boolean(metadata={"description": "False when the tube was in already."})
    items = fields.Integer(metadata={"description": "Tubes in the shipment now."})


class DispatchSchema(Schema):
    carrier = fields.String(required=True, metadata={"description": "fedex, ups or courier."})
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    dry_ice_kg = fields.Decimal(allow_none=True, metadata={"description": "Required when frozen."})
    signature_password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "Electronic signature: the signer's password, re-entered."},
    )


class ReceiptScanSchema(BarcodeSchema):
    damaged = fields.Boolean(load_default=False)
    note = fields.String(allow_none=True, validate=validate.Length(max=500))


class ScanResultSchema(Schema):
    outcome = fields.String(metadata={"description": "expected, duplicate or unexpected."})
    # Read from the result, not its sample: the sample is expired once the scan commits.
    barcode = fields.String()
    tube_type = fields.String()
    late = fields.Boolean()
    flags = fields.List(fields.String())
    message = fields.String()
    counts = fields.Function(lambda r: r.counts.as_dict())


class UndoScanSchema(BarcodeSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why the scan is undone, e.g. the tube came from another box."},
    )


class UndoneScanSchema(Schema):
    barcode = fields.String()
    tube_type = fields.String()
    status = fields.String(metadata={"description": "The tube's status after the undo."})
    message = fields.String()
    counts = fields.Function(lambda r: r.counts.as_dict())


class MissingTubeSchema(Schema):
    barcode = fields.String()
    display_barcode = fields.String()
    tube_type = fields.Function(lambda s: s.tube_type.code)


class ReceiptSchema(Schema):
    shipment = fields.Nested(ShipmentSchema)
    counts = fields.Function(lambda r: r["counts"].as_dict())
    missing = fields.List(
        fields.Nested(MissingTubeSchema), metadata={"description": "Tubes still to scan."}
    )


class ReceiptCloseSchema(Schema):
    condition = fields.Enum(PackageCondition, by_value=True, required=True)
    temperature_c = fields.Decimal(allow_none=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    signature_password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "Electronic signature: the signer's password, re-entered."},
    )

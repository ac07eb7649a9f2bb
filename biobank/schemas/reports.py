from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.schemas.common import PageArgsSchema
from biobank.schemas.samples import SampleSchema
from biobank.services.reporting.reports import MAX_REPORT_DAYS


class OverdueQuerySchema(PageArgsSchema):
    site = fields.String(metadata={"description": "Collecting site code."})
    state = fields.String(validate=validate.OneOf(["overdue", "missing"]))


class OverdueRowSchema(Schema):
    sample = fields.Nested(SampleSchema)
    state = fields.String(metadata={"description": "overdue or missing."})
    hours_outstanding = fields.Integer()
    manifest_number = fields.Function(
        lambda r: r.shipment.manifest_number if r.shipment else None, allow_none=True
    )
    shipment_status = fields.Function(
        lambda r: str(r.shipment.status) if r.shipment else None, allow_none=True
    )


class DiscrepancyQuerySchema(PageArgsSchema):
    site = fields.String()


def _barcodes(attribute: str):
    return fields.Function(lambda row: [s.barcode for s in getattr(row, attribute)])


class ArrivedElsewhereSchema(Schema):
    barcode = fields.String()
    arrived_in = fields.String(metadata={"description": "The manifest it was received in."})


class DiscrepancySchema(Schema):
    manifest_number = fields.Function(lambda r: r.shipment.manifest_number)
    shipment_id = fields.Function(lambda r: r.shipment.id)
    origin = fields.Function(lambda r: r.shipment.origin.code)
    destination = fields.Function(lambda r: r.shipment.destination.code)
    received_at = fields.Function(lambda r: r.shipment.received_at.isoformat())
    condition = fields.Function(lambda r: str(r.shipment.condition))
    missing = _barcodes("missing")
    unexpected = _barcodes("unexpected")
    damaged = _barcodes("damaged")
    late = _barcodes("late")
    elsewhere = fields.List(
        fields.Nested(ArrivedElsewhereSchema),
        metadata={"description": "On the manifest, but received in another shipment."},
    )


class OccupancyQuerySchema(PageArgsSchema):
    site = fields.String()


class FreezerOccupancySchema(Schema):
    freezer_id = fields.Function(lambda r: r.freezer.id)
    freezer = fields.Function(lambda r: r.freezer.name)
    site = fields.Function(lambda r: r.freezer.site.code)
    temperature_c = fields.Function(
        lambda r: float(r.freezer.temperature_c) if r.freezer.temperature_c is not None else None
    )
    used = fields.Integer()
    capacity = fields.Integer()
    percent = fields.Integer()
    boxes = fields.Integer()
    full_boxes = fields.Integer()
    stored_last_30_days = fields.Integer()
    daily_intake = fields.Float()
    days_until_full = fields.Integer(
        allow_none=True, metadata={"description": "At the last 30 days' intake; null: no intake."}
    )


class DisposalQuerySchema(PageArgsSchema):
    site = fields.String(metadata={"description": "The biobank holding the tubes."})


class WindowQuerySchema(PageArgsSchema):
    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=MAX_REPORT_DAYS))


class ProcessingDeviationsSchema(Schema):
    site = fields.Function(lambda r: r.site.code)
    processed = fields.Integer(metadata={"description": "SST/PST tubes processed."})
    early = fields.Integer(metadata={"description": "SST spun within 30 min of the draw."})
    late = fields.Integer(metadata={"description": "SST/PST spun more than 4 h after it."})
    percent = fields.Float()


class FreezerTimesSchema(Schema):
    site = fields.Function(lambda r: r.site.code)
    stored = fields.Integer()
    mean_hours = fields.Float()
    buckets = fields.Dict(keys=fields.String(), values=fields.Integer())


class DownloadQuerySchema(Schema):
    site = fields.String()
    state = fields.String(validate=validate.OneOf(["overdue", "missing"]))
    days = fields.Integer(validate=validate.Range(min=1, max=MAX_REPORT_DAYS))

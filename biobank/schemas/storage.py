from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.models import ContainerKind, Specimen
from biobank.schemas.samples import SampleSchema
from biobank.services.storage.freezer_tree import path_text


class OccupancySchema(Schema):
    used = fields.Integer()
    capacity = fields.Integer()
    free = fields.Integer()
    percent = fields.Integer()


class ContainerSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    site = fields.Function(lambda c: c.site.code)
    parent = fields.Integer(attribute="parent_id", allow_none=True)
    path = fields.Function(path_text)
    barcode = fields.String(allow_none=True)
    temperature_c = fields.Float(allow_none=True)
    rows = fields.Integer(allow_none=True)
    cols = fields.Integer(allow_none=True)
    allowed_specimens = fields.Function(
        lambda c: c.allowed_specimens.split() if c.allowed_specimens else None, allow_none=True
    )
    active = fields.Boolean()


class ContainerDetailSchema(ContainerSchema):
    occupancy = fields.Nested(OccupancySchema)
    children = fields.List(fields.Nested(ContainerSchema))


class CellSchema(Schema):
    position = fields.String()
    barcode = fields.String(allow_none=True)
    tube_type = fields.String(attribute="tube_code", allow_none=True)
    status = fields.String(allow_none=True)
    reserved = fields.Boolean(metadata={"description": "Held for a tube, none in it yet."})


class BoxSchema(ContainerSchema):
    occupancy = fields.Nested(OccupancySchema)
    positions = fields.List(
        fields.Nested(CellSchema), metadata={"description": "Every position, row by row."}
    )


class FreezerCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    site = fields.String(metadata={"description": "Site code; defaults to your own site."})
    temperature_c = fields.Decimal(required=True, metadata={"description": "Set point, e.g. -80."})


class ContainerCreateSchema(Schema):
    parent = fields.Integer(required=True, metadata={"description": "Freezer, shelf or rack id."})
    kind = fields.Enum(ContainerKind, by_value=True, required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    rows = fields.Integer(validate=validate.Range(min=1, max=26))
    cols = fields.Integer(validate=validate.Range(min=1, max=99))
    allowed_specimens = fields.List(fields.Enum(Specimen, by_value=True))


class RenameSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class BoxQuerySchema(Schema):
    barcode = fields.String(required=True, metadata={"description": "A scanned box barcode (BX…)."})


class StoreSchema(Schema):
    barcode = fields.String(required=True, validate=validate.Length(min=1, max=64))
    position = fields.String(
        validate=validate.Length(min=1, max=4),
        metadata={"description": "e.g. A1; leave out for the first free position."},
    )


class StoreManySchema(Schema):
    barcodes = fields.List(
        fields.String(), required=True, validate=validate.Length(min=1, max=2000)
    )


class PlacementSchema(Schema):
    barcode = fields.Function(lambda p: p.sample.barcode)
    box = fields.Function(lambda p: p.box.id)
    box_name = fields.Function(lambda p: p.box.name)
    position = fields.String()


class RackScanQuerySchema(Schema):
    apply = fields.Boolean(
        load_default=False,
        metadata={"description": "false: report only; true: store every tube or none."},
    )


class RackScanFileSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class WellSchema(Schema):
    line = fields.Integer()
    position = fields.String()
    barcode = fields.String(allow_none=True)
    outcome = fields.String()
    message = fields.String()


class RackScanReportSchema(Schema):
    box = fields.Integer()
    applied = fields.Boolean()
    ok = fields.Boolean()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    wells = fields.List(fields.Nested(WellSchema))


class PlaceSeenSchema(Schema):
    box = fields.Integer(required=True, metadata={"description": "The box's id."})
    position = fields.String(
        required=True, validate=validate.Length(min=1, max=4), metadata={"description": "e.g. A1"}
    )


class MoveSchema(Schema):
    box = fields.Integer(required=True)
    position = fields.String(validate=validate.Length(min=1, max=4))
    moving_from = fields.Nested(
        PlaceSeenSchema,
        metadata={
            "description": "Optional: the box and position you saw the tube in. If it has "
            "moved since (someone else moved it a moment ago, or your page is stale), the move "
            "is refused with a 409 saying where it is now. Left out: the tube is moved from "
            "wherever it is."
        },
    )


class ThawSchema(Schema):
    cycles_seen = fields.Integer(
        validate=validate.Range(min=0),
        metadata={
            "description": "Optional: the freeze–thaw count you saw. If the tube was thawed "
            "since (someone else recorded the same thaw a moment ago), this thaw is refused "
            "with a 409 instead of counting the cycle twice. Left out: every request counts "
            "a cycle."
        },
    )


class AliquotSchema(Schema):
    count = fields.Integer(required=True, validate=validate.Range(min=1, max=50))
    volume_ml = fields.Decimal(required=True, metadata={"description": "Volume of each aliquot."})
    volume_seen_ml = fields.Decimal(
        metadata={
            "description": "Optional: the volume you saw in the tube, in mL. If it has changed "
            "since (someone else aliquoted it a moment ago), a 409 instead. Left out: the "
            "aliquots are taken from what the tube holds now (a 422 on volume_ml when it is "
            "not enough)."
        }
    )


class OptionalReasonSchema(Schema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class AliquotResultSchema(Schema):
    parent = fields.Nested(SampleSchema)
    children = fields.List(fields.Nested(SampleSchema))


class DisposeSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature_password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "Electronic signature: the signer's password, re-entered."},
    )

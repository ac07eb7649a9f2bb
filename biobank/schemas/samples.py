from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.models import FlagKind, SampleStatus
from biobank.schemas.common import PageArgsSchema
from biobank.services.reporting.sprec import sprec as sprec_of
from biobank.services.storage.storage_paths import location_of


class LocationSchema(Schema):
    freezer = fields.String()
    path = fields.List(fields.String(), metadata={"description": "Freezer › shelf … › box."})
    box = fields.String()
    box_id = fields.Integer()
    position = fields.String()


class SampleSchema(Schema):
    barcode = fields.String(dump_only=True)
    display_barcode = fields.String(dump_only=True)
    tube_type = fields.Function(lambda s: s.tube_type.code, dump_only=True)
    specimen = fields.Function(lambda s: str(s.tube_type.specimen), dump_only=True)
    status = fields.String(dump_only=True)
    site = fields.Function(lambda s: s.site.code, dump_only=True)
    custody_site = fields.Function(lambda s: s.custody_site.code, dump_only=True)
    collection_id = fields.Integer(dump_only=True, allow_none=True)
    parent = fields.Function(lambda s: s.parent.barcode if s.parent else None, dump_only=True)
    flags = fields.Function(lambda s: s.flag_kinds, dump_only=True)
    location = fields.Function(
        lambda s: LocationSchema().dump(loc) if (loc := location_of(s)) else None,
        dump_only=True,
        allow_none=True,
    )
    volume_ml = fields.Float(dump_only=True, allow_none=True)
    centrifuge = fields.String(dump_only=True, allow_none=True)
    collected_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    processed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    finalized_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    received_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    freeze_thaw_count = fields.Integer(dump_only=True)
    sprec = fields.Function(
        sprec_of,
        dump_only=True,
        metadata={
            "description": "ISBER Standard PREanalytical Code (SPREC v3.0, fluids), e.g. "
            "SER-SST-A-X-N-G-Y; X where the fact is not recorded."
        },
    )


class SampleQuerySchema(PageArgsSchema):
    status = fields.Enum(SampleStatus, by_value=True)
    site = fields.String(metadata={"description": "Site code (collecting or holding site)."})
    tube_type = fields.String()
    collection_id = fields.Integer()
    flag = fields.Enum(FlagKind, by_value=True)


class EventSchema(Schema):
    id = fields.Integer(dump_only=True)
    type = fields.String(dump_only=True)
    at = fields.AwareDateTime(dump_only=True)
    actor = fields.Function(lambda e: e.actor.username if e.actor else None, allow_none=True)
    site = fields.Function(lambda e: e.site.code if e.site else None, allow_none=True)
    reason = fields.String(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True)
    hash = fields.String(dump_only=True)


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))

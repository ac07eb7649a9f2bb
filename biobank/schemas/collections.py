from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from biobank.models import Centrifuge, CollectionStatus
from biobank.schemas.common import Moment, PageArgsSchema
from biobank.schemas.samples import SampleSchema
from biobank.services.collecting.collections import warnings_for


class WarningSchema(Schema):
    barcode = fields.String()
    flag = fields.String()
    message = fields.String()


class AmendmentSchema(Schema):
    at = fields.AwareDateTime()
    actor = fields.Function(lambda a: a.actor.username)
    reason = fields.String()
    changes = fields.Dict()


class CollectionSchema(Schema):
    id = fields.Integer(dump_only=True)
    participant_id = fields.String(dump_only=True)
    site = fields.Function(lambda c: c.site.code)
    kit = fields.Function(lambda c: c.kit.code if c.kit else None, allow_none=True)
    status = fields.String(dump_only=True)
    notes = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    created_by = fields.Function(lambda c: c.created_by.username)
    finalized_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    cancelled_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    cancel_reason = fields.String(dump_only=True, allow_none=True)
    restored_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    restore_reason = fields.String(dump_only=True, allow_none=True)
    amended_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    amend_reason = fields.String(dump_only=True, allow_none=True)
    samples = fields.List(fields.Nested(SampleSchema), dump_only=True)
    warnings = fields.Function(
        lambda c: [w.as_dict() for w in warnings_for(c)],
        metadata={"description": "Timing rules the recorded times break (kept as tube flags)."},
    )
    amendments = fields.List(fields.Nested(AmendmentSchema), dump_only=True)


class CollectionCreateSchema(Schema):
    participant_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    site = fields.String(metadata={"description": "Site code; defaults to your own site."})
    kit = fields.String(metadata={"description": "Kit code, e.g. BASELINE-ADULT."})
    tube_types = fields.List(
        fields.String(validate=validate.Length(min=1, max=16)),
        validate=validate.Length(min=1, max=30),
    )
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    claim_barcode = fields.String(
        metadata={"description": "Any label of a pre-labelled kit: the collection takes its tubes."}
    )


class CollectionQuerySchema(PageArgsSchema):
    status = fields.Enum(CollectionStatus, by_value=True)
    site = fields.String()
    participant_id = fields.String()


class CollectedSchema(Schema):
    at = Moment(required=True, metadata={"description": "When the tube was drawn."})


class ProcessedSchema(Schema):
    at = Moment(required=True, metadata={"description": "When centrifuging began."})
    centrifuge = fields.Enum(Centrifuge, by_value=True)


class FinalizeSchema(Schema):
    at = Moment(metadata={"description": "Defaults to now."})


class TubeCorrectionSchema(Schema):
    barcode = fields.String(required=True)
    collected_at = Moment()
    processed_at = Moment()


class AmendSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    samples = fields.List(fields.Nested(TubeCorrectionSchema), load_default=list)

    @validates_schema
    def something_to_change(self, data, **kwargs):
        if "notes" not in data and not data.get("samples"):
            raise ValidationError("Give corrected notes or tube times.", "samples")


class LabelQuerySchema(Schema):
    stock = fields.String(
        metadata={"description": "cryo-roll (default), cryo-sheet-letter, cap-2d."}
    )
    start_position = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1),
        metadata={"description": "First free label on a part-used sheet (sheet stocks)."},
    )
    reason = fields.String(
        validate=validate.Length(max=500), metadata={"description": "Required for a reprint."}
    )
    barcode = fields.List(
        fields.String(validate=validate.Length(max=16)),
        validate=validate.Length(max=30),
        metadata={"description": "Only these tubes (repeat the parameter)."},
    )


class LabelBatchCreateSchema(Schema):
    site = fields.String(required=True)
    kit = fields.String(required=True)
    count = fields.Integer(required=True, validate=validate.Range(min=1, max=200))


class LabelBatchSchema(Schema):
    id = fields.Integer()
    site = fields.Function(lambda b: b.site.code)
    kit = fields.Function(lambda b: b.kit.code)
    count = fields.Integer()
    created_at = fields.AwareDateTime()
    samples = fields.List(fields.Nested(SampleSchema))

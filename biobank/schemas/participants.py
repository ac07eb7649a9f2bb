from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.schemas.common import Moment


class ParticipantUpdateSchema(Schema):
    biospecimen_consent = fields.Boolean(required=True)
    withdrawn_at = Moment(allow_none=True, load_default=None)
    withdrawal_reason = fields.String(allow_none=True, validate=validate.Length(max=500))
    disposal_ceremony = fields.Boolean(load_default=False)


class ParticipantSchema(Schema):
    participant_id = fields.String()
    biospecimen_consent = fields.Boolean()
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    disposal_ceremony = fields.Boolean()
    updated_at = fields.AwareDateTime()

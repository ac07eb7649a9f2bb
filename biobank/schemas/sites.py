from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.models import SiteKind
from biobank.schemas.common import PageArgsSchema


class SiteSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=2, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.Enum(SiteKind, by_value=True, required=True)
    timezone = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "IANA time zone, e.g. America/Chicago."},
    )
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    active = fields.Boolean(dump_only=True)


class SiteQuerySchema(PageArgsSchema):
    kind = fields.Enum(SiteKind, by_value=True)

from __future__ import annotations

from marshmallow import Schema, fields


class TubeTypeSchema(Schema):
    code = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    specimen = fields.String(dump_only=True)
    volume_ml = fields.Float(dump_only=True)
    additive = fields.String(dump_only=True)
    cap_color = fields.String(dump_only=True)
    requires_processing = fields.Boolean(dump_only=True)
    labels_per_tube = fields.Integer(dump_only=True)
    ship_temperature = fields.String(dump_only=True)
    storage_temperature = fields.String(dump_only=True)
    protocol_version = fields.String(dump_only=True)


class KitSchema(Schema):
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    version = fields.String(dump_only=True)
    tube_types = fields.Function(lambda kit: [t.code for t in kit.tube_types], dump_only=True)

"""The custody log's published shapes (DESIGN §7a)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

BASE64_HASH = {"description": "A SHA-256 hash, base64."}


class ProvenEventSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    at = fields.AwareDateTime()
    leaf_index = fields.Integer(metadata={"description": "The event's place in the log."})
    leaf = fields.String(
        metadata={"description": "Base64 of the exact leaf bytes (canonical JSON) hashed."}
    )
    inclusion_proof = fields.List(fields.String(metadata=BASE64_HASH))


class PendingEventSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    at = fields.AwareDateTime()


class CustodyProofSchema(Schema):
    barcode = fields.String()
    checkpoint = fields.String(
        metadata={"description": "The signed C2SP checkpoint every proof is against."}
    )
    tree_size = fields.Integer()
    events = fields.List(fields.Nested(ProvenEventSchema))
    pending = fields.List(
        fields.Nested(PendingEventSchema),
        metadata={"description": "Events committed but not yet sequenced into the tree."},
    )


LOG_SIZE = validate.Range(min=1, error="Give a tree size of at least 1.")


class ConsistencyQuerySchema(Schema):
    from_ = fields.Integer(data_key="from", required=True, validate=LOG_SIZE)
    to = fields.Integer(required=True, validate=LOG_SIZE)


class ConsistencySchema(Schema):
    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    proof = fields.List(fields.String(metadata=BASE64_HASH))


class LogStatusSchema(Schema):
    tree_size = fields.Integer()
    sequenced_at = fields.AwareDateTime(allow_none=True)
    pending = fields.Integer(metadata={"description": "Committed events not yet sequenced."})
    oldest_pending_seconds = fields.Float(
        metadata={"description": "How long the oldest of them has waited: the sequencer's delay."}
    )


class HealthSchema(Schema):
    status = fields.String()
    sequencer_delay_seconds = fields.Float()

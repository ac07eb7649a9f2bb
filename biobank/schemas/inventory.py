"""The inventory import's request and report (``POST /api/v1/storage/inventory-import``)."""

from __future__ import annotations

from marshmallow import Schema, fields

from biobank.services.inventory.inventory_file import COLUMNS, REQUIRED


class InventoryImportQuerySchema(Schema):
    apply = fields.Boolean(
        load_default=False,
        metadata={
            "description": "false: the validation report only, nothing written; true: import "
            "every row or none (409 with the report when any row has an error)."
        },
    )


class InventoryFileSchema(Schema):
    file = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "description": "CSV with a header row naming its columns (any order, any case): "
            f"{', '.join(COLUMNS)}. Required: {', '.join(REQUIRED)}.",
        },
    )


class InventoryProblemSchema(Schema):
    column = fields.String(
        allow_none=True, metadata={"description": "The column at fault; null: the whole line."}
    )
    message = fields.String()


class InventoryRowSchema(Schema):
    line = fields.Integer(metadata={"description": "Line number in the file (the header is 1)."})
    barcode = fields.String(
        allow_none=True,
        metadata={
            "description": "The sample ID: as kept, as assigned once applied, or as written "
            "when it is not one; null before applying when a new ID is to be assigned."
        },
    )
    new_id = fields.Boolean(metadata={"description": "A new ID is (or was) assigned: relabel."})
    tube_type = fields.String()
    freezer = fields.String()
    box = fields.String(metadata={"description": "The box's path inside the freezer."})
    position = fields.String()
    outcome = fields.String(metadata={"enum": ["ok", "error"]})
    message = fields.String()
    errors = fields.List(fields.Nested(InventoryProblemSchema))


class InventoryNewBoxSchema(Schema):
    freezer = fields.String()
    box = fields.String()
    rows = fields.Integer()
    cols = fields.Integer()


class InventoryReportSchema(Schema):
    applied = fields.Boolean()
    ok = fields.Boolean(metadata={"description": "No row has an error."})
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "rows, ok, error, new_ids, new_boxes, collections."},
    )
    ignored_columns = fields.List(
        fields.String(), metadata={"description": "Header columns the import does not read."}
    )
    new_boxes = fields.List(
        fields.Nested(InventoryNewBoxSchema),
        metadata={"description": "Boxes the import creates (or created)."},
    )
    rows = fields.List(fields.Nested(InventoryRowSchema))

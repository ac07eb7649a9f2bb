from __future__ import annotations

from dataclasses import replace

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.schemas.inventory import (
    InventoryFileSchema,
    InventoryImportQuerySchema,
    InventoryReportSchema,
)
from biobank.schemas.storage import (
    BoxQuerySchema,
    BoxSchema,
    ContainerCreateSchema,
    ContainerDetailSchema,
    ContainerSchema,
    FreezerCreateSchema,
    PlacementSchema,
    RackScanFileSchema,
    RackScanQuerySchema,
    RackScanReportSchema,
    RenameSchema,
    StoreManySchema,
    StoreSchema,
)
from biobank.security import current_actor
from biobank.services.core.pages import page_of
from biobank.services.inventory import importer
from biobank.services.storage import box_positions, freezer_tree, placing, rack_import
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_storage", __name__, url_prefix=f"{API_PREFIX}/storage", description="Freezer storage"
)


class Described:
    """A container with figures computed for the answer; reads through to the container."""

    def __init__(self, container, *, with_positions: bool = False):
        self.container = container
        self.occupancy = freezer_tree.occupancy(container)
        if with_positions:
            self.positions = [cell for row in box_positions.box_grid(container) for cell in row]

    def __getattr__(self, name):
        return getattr(self.container, name)


def _detail(container):
    return Described(container)


def _box(box):
    return Described(box, with_positions=True)


@blp.get("/freezers")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(ContainerDetailSchema))
@blp.problems(401, 422)
def list_freezers(args):
    """Freezers at your site (every site for coordinators and admins), with occupancy."""
    page = page_of(freezer_tree.list_freezers(current_actor()), **args)
    return page_body(replace(page, items=[_detail(f) for f in page.items]))


@blp.post("/freezers")
@blp.arguments(FreezerCreateSchema)
@blp.response(201, ContainerSchema)
@blp.problems(401, 403, 409, 422)
def create_freezer(body):
    with unit_of_work():
        freezer = freezer_tree.create_freezer(current_actor(), **body)
    return freezer


@blp.post("/containers")
@blp.arguments(ContainerCreateSchema)
@blp.response(201, ContainerSchema)
@blp.problems(401, 403, 404, 409, 422)
def create_container(body):
    """A shelf, rack or box inside a freezer (boxes: rows x cols, optional specimen list)."""
    with unit_of_work():
        container = freezer_tree.create_container(
            current_actor(), parent_id=body.pop("parent"), **body
        )
    return container


@blp.get("/containers/<id:container_id>")
@blp.response(200, ContainerDetailSchema)
@blp.problems(401, 404)
def get_container(container_id: int):
    return _detail(freezer_tree.get_container(current_actor(), container_id))


@blp.patch("/containers/<id:container_id>")
@blp.arguments(RenameSchema)
@blp.response(200, ContainerSchema)
@blp.problems(401, 403, 404, 409, 422)
def rename_container(body, container_id: int):
    actor = current_actor()
    with unit_of_work():
        container = freezer_tree.rename_container(
            actor, freezer_tree.get_container(actor, container_id), body["name"]
        )
    return container


@blp.post("/containers/<id:container_id>/deactivate")
@blp.response(200, ContainerSchema)
@blp.problems(401, 403, 404, 409)
def deactivate_container(container_id: int):
    """Take out of use; only when nothing is stored inside."""
    actor = current_actor()
    with unit_of_work():
        container = freezer_tree.deactivate_container(
            actor, freezer_tree.get_container(actor, container_id)
        )
    return container


@blp.post("/containers/<id:container_id>/store")
@blp.arguments(StoreManySchema)
@blp.response(201, PlacementSchema(many=True))
@blp.problems(401, 403, 404, 409, 422)
def store_many(body, container_id: int):
    """Store many tubes into a box or a whole freezer, keeping collections together; all or
    nothing."""
    actor = current_actor()
    with unit_of_work():
        placements = placing.store_many(
            actor, freezer_tree.get_container(actor, container_id), body["barcodes"]
        )
    return placements


@blp.get("/boxes")
@blp.arguments(BoxQuerySchema, location="query")
@blp.response(200, BoxSchema)
@blp.problems(401, 404, 422)
def find_box(args):
    """The box whose barcode was scanned."""
    return _box(freezer_tree.find_box_by_barcode(current_actor(), args["barcode"]))


@blp.get("/boxes/<id:box_id>")
@blp.response(200, BoxSchema)
@blp.problems(401, 404)
def get_box(box_id: int):
    """A box and every one of its positions, row by row."""
    return _box(freezer_tree.get_box(current_actor(), box_id))


@blp.post("/boxes/<id:box_id>/positions")
@blp.arguments(StoreSchema)
@blp.response(201, PlacementSchema)
@blp.problems(401, 403, 404, 409, 422)
def store(body, box_id: int):
    """Store a tube: the given position or the first free one. Taken = 409 naming the next
    free position; outside the box = 422."""
    actor = current_actor()
    with unit_of_work():
        box = freezer_tree.get_box(actor, box_id)
        sample = placing.store_sample(actor, box, body["barcode"], body.get("position"))
        where = location_of(sample)
        assert where is not None  # stored a moment ago
        placed = placing.Placement(sample, box, where["position"])
    return placed


@blp.post("/boxes/<id:box_id>/rack-scan")
@blp.arguments(RackScanQuerySchema, location="query")
@blp.arguments(RackScanFileSchema, location="files")
@blp.response(200, RackScanReportSchema)
@blp.problems(401, 403, 404, 409, 413, 422)
def rack_scan(args, files, box_id: int):
    """Check a rack-scanner file against the box (`apply=false`), or store every tube in it
    (`apply=true`): all or nothing, a 409 with the report when any well does not match."""
    actor = current_actor()
    data = files["file"].read()
    with unit_of_work():
        box = freezer_tree.get_box(actor, box_id)
        report = rack_import.import_rack_scan(actor, box, data, apply=args["apply"])
        answer = report.as_dict()
    return answer


@blp.post("/inventory-import")
@blp.arguments(InventoryImportQuerySchema, location="query")
@blp.arguments(InventoryFileSchema, location="files")
@blp.response(200, InventoryReportSchema)
@blp.problems(401, 403, 409, 413, 422)
def inventory_import(args, files):
    """Import a biobank's existing inventory (tubes and their freezer positions) from CSV:
    `apply=false` checks every row and reports; `apply=true` imports every row or none, a 409
    with the report when any row has an error. An unreadable file is a 422 on `file`."""
    actor = current_actor()
    data = files["file"].read()
    with unit_of_work():
        report = importer.import_inventory(actor, data, apply=args["apply"])
        answer = report.as_dict()
    return answer

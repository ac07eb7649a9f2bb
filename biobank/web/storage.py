"""Freezer storage pages: the freezers, one freezer's tree, a box drawn as its grid, storing
by scanning, rack-scanner import, importing a whole inventory, and managing freezers, shelves,
racks and boxes.

Technicians and admins manage storage, coordinators read every site's, and the services say
who may do what: a role that may not gets the 403 page, another site's container is a 404.
Every POST parses its form, makes one service call in one unit of work and redirects
(POST/redirect/GET); a refusal shows the same page with the message beside its field (422)
or on top (409), what was typed kept.

Storing by scanning happens on the box page: ``static/js/box.js`` posts each scan to the JSON
API (``POST /api/v1/storage/boxes/<id>/positions``) and redraws the grid from
``storage.box_contents``, the same template the page draws it with. The form it enhances
posts to ``storage.store`` when scripts are off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.downloads import send_printable_pdf
from biobank.errors import Conflict, ValidationFailed
from biobank.models import Container, ContainerKind, SiteKind, User
from biobank.security import current_actor
from biobank.services.core import policy, sites
from biobank.services.inventory import importer, inventory_file
from biobank.services.storage import box_positions, freezer_tree, placing, rack_import
from biobank.services.storage.freezer_tree import Occupancy
from biobank.services.storage.storage_paths import container_path
from biobank.unit_of_work import unit_of_work
from biobank.web.forms import PageForm
from biobank.web.inventory_forms import InventoryApplyForm, InventoryForm
from biobank.web.pages import redirect_saying, submit
from biobank.web.storage_forms import (
    BoxPageForms,
    ConfirmForm,
    ContainerForm,
    FreezerForm,
    FreezerPageForms,
    RackApplyForm,
    RackScanForm,
    RenameForm,
    ScanLookupForm,
    StoreForm,
)

bp = Blueprint("storage", __name__, url_prefix="/storage")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for logged-in staff."""


# --- the tree as the pages draw it -------------------------------------------------------------


@dataclass
class Node:
    """A container with its occupancy and what it holds, for drawing a freezer's tree."""

    container: Container
    occupancy: Occupancy
    depth: int
    children: list[Node] = field(default_factory=list)

    @property
    def is_box(self) -> bool:
        return self.container.kind == ContainerKind.BOX

    @property
    def full(self) -> bool:
        return self.occupancy.full

    @property
    def nearly_full(self) -> bool:
        return self.occupancy.nearly_full

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def _tree(container: Container) -> Node:
    """The container and everything in it, each with its occupancy (a few queries in all)."""
    figures = freezer_tree.occupancy_by_container(container)
    children = freezer_tree.tree_of(container)

    def node(current: Container, depth: int) -> Node:
        return Node(
            current,
            figures[current.id],
            depth,
            [node(child, depth + 1) for child in children.get(current.id, [])],
        )

    return node(container, 0)


def _parents(tree: Node) -> list[tuple[int, str]]:
    """Where a shelf, rack or box may be added: the active non-box nodes, as paths."""
    found = []
    for node in tree.walk():
        if not node.is_box and node.container.active:
            found.append((node.container.id, freezer_tree.path_text(node.container)))
    return found


# --- the freezers ------------------------------------------------------------------------------


def _freezer_form(actor: User, **kwargs) -> FreezerForm:
    form = FreezerForm(**kwargs)
    # Those who act at every site choose the biobank; everyone else adds at their own site.
    if policy.sees_all_sites(actor):
        form.offer_sites([site.code for site in sites.list_sites(SiteKind.BIOBANK)])
        if not form.site.data:
            form.site.data = actor.site.code
    else:
        form.offer_sites(None)
    return form


def _box_finder(args=None) -> ScanLookupForm:
    return ScanLookupForm.labelled("Scan a box", args if args is not None else {})


def _render_index(
    actor: User, form: FreezerForm, finder: ScanLookupForm | None = None, status: int = 200
) -> ResponseReturnValue:
    listed = freezer_tree.list_freezers(actor)
    fills = freezer_tree.freezer_fills([freezer.id for freezer in listed])
    freezers = [(freezer, fills[freezer.id]) for freezer in listed]
    return render_template(
        "storage/index.html",
        freezers=freezers,
        form=form,
        finder=finder or _box_finder(),
    ), status


@bp.get("/")
def index():
    actor = current_actor()
    return _render_index(actor, _freezer_form(actor, formdata=None))


@bp.get("/find")
def find_box():
    """A scanned box barcode (BX…) opens that box."""
    if "barcode" not in request.args:
        return redirect(url_for(".index"))
    actor = current_actor()
    finder = _box_finder(request.args)
    try:
        box = freezer_tree.find_box_by_barcode(actor, finder.scanned)
    except ValidationFailed as refused:
        finder.barcode.errors = list((refused.errors or {}).get("box", [refused.detail]))
        return _render_index(actor, _freezer_form(actor, formdata=None), finder, 422)
    return redirect(url_for(".box", box_id=box.id))


@bp.post("/freezers")
def create_freezer():
    actor = current_actor()
    form = _freezer_form(actor)
    return submit(
        form,
        lambda: freezer_tree.create_freezer(
            actor,
            name=form.name.data,
            temperature_c=(form.temperature_c.data or "").strip(),
            site=form.site.data if form.site else None,
        ),
        done=lambda freezer: redirect_saying(
            f"Freezer {freezer.name} added at {freezer.site.code}: add its shelves and boxes.",
            url_for(".freezer", freezer_id=freezer.id),
        ),
        again=lambda status: _render_index(actor, form, status=status),
    )


# --- one freezer -------------------------------------------------------------------------------


def _freezer_of(container: Container) -> Container:
    return container_path(container)[0]


def _render_freezer(
    freezer: Container,
    keep: Callable[[FreezerPageForms], FreezerPageForms] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    tree = _tree(freezer)
    nodes = [node.container.id for node in tree.walk() if not node.is_box]
    forms = FreezerPageForms.blank(_parents(tree), nodes)
    if keep is not None:
        forms = keep(forms)
    boxes = [node for node in tree.walk() if node.is_box]
    return render_template(
        "storage/freezer.html",
        freezer=freezer,
        tree=tree,
        forms=forms,
        full=[node for node in boxes if node.full],
        nearly_full=[node for node in boxes if node.nearly_full],
        nearly_full_percent=freezer_tree.NEARLY_FULL_PERCENT,
    ), status


@bp.get("/freezers/<int:freezer_id>")
def freezer(freezer_id: int):
    container = freezer_tree.get_container(current_actor(), freezer_id)
    if container.kind != ContainerKind.FREEZER:
        abort(404)
    return _render_freezer(container)


@bp.post("/freezers/<int:freezer_id>/containers")
def add_container(freezer_id: int):
    actor = current_actor()
    freezer = freezer_tree.get_container(actor, freezer_id)
    if freezer.kind != ContainerKind.FREEZER:
        abort(404)
    form = ContainerForm()
    form.offer_parents(_parents(_tree(freezer)))

    def added(container: Container) -> ResponseReturnValue:
        what = f"{container.kind.value.capitalize()} {freezer_tree.path_text(container)} added"
        if container.kind == ContainerKind.BOX:
            return redirect_saying(
                f"{what} ({container.barcode}): scan tubes into it.",
                url_for(".box", box_id=container.id),
            )
        return redirect_saying(
            f"{what}.",
            url_for(".freezer", freezer_id=freezer.id, _anchor=f"container-{container.id}"),
        )

    rows, cols = form.grid
    return submit(
        form,
        lambda: freezer_tree.create_container(
            actor,
            parent_id=form.parent.data,
            kind=form.kind.data,
            name=form.name.data,
            rows=rows,
            cols=cols,
            allowed_specimens=form.allowed_specimens.data,
        ),
        done=added,
        again=lambda status: _render_freezer(
            freezer, lambda forms: forms.keep("add", form), status
        ),
    )


# --- rename and deactivate (a box on its own page, the rest on the freezer page) --------------


def _container_page(container: Container) -> str:
    if container.kind == ContainerKind.BOX:
        return url_for(".box", box_id=container.id)
    return url_for(
        ".freezer",
        freezer_id=_freezer_of(container).id,
        _anchor=f"container-{container.id}",
    )


def _container_again(
    container: Container, name: str, form: PageForm
) -> Callable[[int], ResponseReturnValue]:
    def again(status: int) -> ResponseReturnValue:
        if container.kind == ContainerKind.BOX:
            return _render_box(container, lambda forms: forms.keep(name, form), status=status)
        return _render_freezer(
            _freezer_of(container), lambda forms: forms.keep(name, form, container.id), status
        )

    return again


@bp.post("/containers/<int:container_id>/rename")
def rename(container_id: int):
    actor = current_actor()
    container = freezer_tree.get_container(actor, container_id)
    old_name = container.name
    form = RenameForm()
    return submit(
        form,
        lambda: freezer_tree.rename_container(actor, container, form.name.data),
        done=lambda renamed: redirect_saying(
            f"{old_name} is now called {renamed.name}.", _container_page(renamed)
        ),
        again=_container_again(container, "rename", form),
    )


@bp.post("/containers/<int:container_id>/deactivate")
def deactivate(container_id: int):
    actor = current_actor()
    container = freezer_tree.get_container(actor, container_id)
    form = ConfirmForm()
    return submit(
        form,
        lambda: freezer_tree.deactivate_container(actor, container),
        done=lambda gone: redirect_saying(
            f"{freezer_tree.path_text(gone)} is deactivated: nothing more goes into it.",
            _container_page(gone),
        ),
        again=_container_again(container, "deactivate", form),
    )


# --- one box -------------------------------------------------------------------------------


def _box(box_id: int) -> tuple[User, Container]:
    actor = current_actor()
    return actor, freezer_tree.get_box(actor, box_id)


def _box_contents(box: Container) -> dict:
    """What the grid template draws: every cell (one query), the occupancy, where the next
    scan goes."""
    grid = box_positions.box_grid(box)
    return {
        "box": box,
        "grid": grid,
        "occupancy": freezer_tree.occupancy(box),
        "target": box_positions.grid_target(box, grid),
    }


def _render_box(
    box: Container,
    keep: Callable[[BoxPageForms], BoxPageForms] | None = None,
    *,
    report: dict | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    contents = _box_contents(box)
    forms = BoxPageForms.blank(contents["target"])
    if keep is not None:
        forms = keep(forms)
    return render_template(
        "storage/box.html",
        **contents,
        path=container_path(box),
        forms=forms,
        report=report,
    ), status


@bp.get("/boxes/<int:box_id>")
def box(box_id: int):
    _, found = _box(box_id)
    return _render_box(found)


@bp.get("/boxes/<int:box_id>/label.pdf")
def box_label(box_id: int):
    """The box's label, opened in the browser to print."""
    actor, found = _box(box_id)
    return send_printable_pdf(freezer_tree.box_label_pdf(actor, found), f"box-{found.barcode}.pdf")


@bp.get("/boxes/<int:box_id>/contents")
def box_contents(box_id: int):
    """The grid alone, for the box page to redraw itself after each scan."""
    _, found = _box(box_id)
    response = make_response(render_template("storage/_box_contents.html", **_box_contents(found)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/boxes/<int:box_id>/store")
def store(box_id: int):
    """Store one scanned tube (the form box.js takes over when scripts run)."""
    actor, found = _box(box_id)
    form = StoreForm()
    return submit(
        form,
        lambda: placing.store_sample(
            actor, found, form.barcode.data or "", (form.position.data or "").strip() or None
        ),
        done=lambda sample: redirect_saying(
            f"Stored {sample.tube_type.code} {sample.display_barcode} in {sample.position.label}.",
            url_for(".box", box_id=found.id),
        ),
        again=lambda status: _render_box(
            found, lambda forms: forms.keep("store", form), status=status
        ),
    )


# --- rack-scanner import ---------------------------------------------------------------------


@bp.post("/boxes/<int:box_id>/rack-scan")
def rack_scan_preview(box_id: int):
    """Check a rack-scanner file against the box; nothing is written."""
    actor, found = _box(box_id)
    form = RackScanForm()
    data = form.content() if form.file.data else b""
    filename = form.file.data.filename if form.file.data else ""

    def preview(report: rack_import.RackScanReport) -> ResponseReturnValue:
        apply = RackApplyForm.keeping(data, filename) if report.ok else None
        return _render_box(
            found,
            lambda forms: forms.keep("apply", apply),
            report=report.as_dict(),
        )

    return submit(
        form,
        lambda: rack_import.import_rack_scan(actor, found, data, apply=False),
        done=preview,
        again=lambda status: _render_box(
            found, lambda forms: forms.keep("rack", form), status=status
        ),
    )


@bp.post("/boxes/<int:box_id>/rack-scan/apply")
def rack_scan_apply(box_id: int):
    """Store every tube of the previewed file, or none; a refusal shows the report again."""
    actor, found = _box(box_id)
    form = RackApplyForm()
    if not form.validate_on_submit():
        # Nothing to apply (the kept file is gone or damaged): say so above the upload form.
        upload = RackScanForm(formdata=None)
        upload.form_errors.extend([*form.form_errors, *(m for f in form for m in f.errors)])
        return _render_box(found, lambda forms: forms.keep("rack", upload), status=422)
    try:
        with unit_of_work():
            report = rack_import.import_rack_scan(actor, found, form.content(), apply=True)
            placed = report.counts[rack_import.WellOutcome.PLACED]
    except rack_import.RackScanRefused as refused:
        flash(refused.detail, "error")
        return _render_box(found, report=refused.extra.get("report"), status=refused.status)
    except ValidationFailed as unreadable:
        # The kept file could not be read after all: its sentence goes beside the upload field.
        upload = RackScanForm(formdata=None)
        if not upload.show_refusal(unreadable):
            flash(unreadable.detail, "error")
        return _render_box(found, lambda forms: forms.keep("rack", upload), status=422)
    except Conflict as refused:
        flash(refused.detail, "error")
        return _render_box(found, status=refused.status)
    name = form.filename.data or "the rack file"
    return redirect_saying(
        f"Stored {placed} tube{'s' if placed != 1 else ''} from {name}.",
        url_for(".box", box_id=found.id),
    )


# --- inventory import ----------------------------------------------------------------------------
#
# Upload → the report of every line (nothing written) → "Apply", which posts the checked bytes
# back as the rack-scan page does. The applied report is shown straight away rather than after a
# redirect: it is the one place that says which tube got which new ID. Sending the form again
# changes nothing (every position is taken by then: the whole file is refused).


def _render_inventory(
    upload: InventoryForm,
    *,
    report: dict | None = None,
    apply: InventoryApplyForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        "storage/inventory.html",
        upload=upload,
        report=report,
        apply=apply,
        max_rows=inventory_file.MAX_ROWS,
    ), status


@bp.get("/inventory")
def inventory_page():
    policy.require(current_actor(), policy.Action.MANAGE_STORAGE)
    return _render_inventory(InventoryForm(formdata=None))


@bp.post("/inventory")
def inventory_preview():
    """Check an inventory file line by line; nothing is written."""
    actor = current_actor()
    form = InventoryForm()
    data = form.content() if form.file.data else b""

    def preview(report: inventory_file.InventoryReport) -> ResponseReturnValue:
        apply = InventoryApplyForm.keeping(data, form.filename) if report.ok else None
        return _render_inventory(InventoryForm(formdata=None), report=report.as_dict(), apply=apply)

    return submit(
        form,
        lambda: importer.import_inventory(actor, data, apply=False),
        done=preview,
        again=lambda status: _render_inventory(form, status=status),
    )


@bp.post("/inventory/apply")
def inventory_apply():
    """Import every line of the checked file, or none; a refusal shows the report again."""
    actor = current_actor()
    form = InventoryApplyForm()
    upload = InventoryForm(formdata=None)
    if not form.validate_on_submit():
        # Nothing to apply (the kept file is gone or damaged): say so above the upload form.
        upload.form_errors.extend([*form.form_errors, *(m for f in form for m in f.errors)])
        return _render_inventory(upload, status=422)
    data = form.content()
    if not form.is_the_checked_file(data):
        upload.file.errors = [
            "This is not the file that was checked: check it first. Nothing was imported."
        ]
        return _render_inventory(upload, status=422)
    try:
        with unit_of_work():
            report = importer.import_inventory(actor, data, apply=True)
    except inventory_file.InventoryRefused as refused:
        flash(refused.detail, "error")
        return _render_inventory(upload, report=refused.extra.get("report"), status=refused.status)
    except ValidationFailed as unreadable:
        if not upload.show_refusal(unreadable):
            flash(unreadable.detail, "error")
        return _render_inventory(upload, status=422)
    except Conflict as refused:
        flash(refused.detail, "error")
        return _render_inventory(upload, status=refused.status)
    imported, relabel = report.counts["rows"], report.counts["new_ids"]
    name = form.filename.data or "the inventory file"
    message = f"Imported {imported} tube{'s' if imported != 1 else ''} from {name}."
    if relabel:
        message += f" {relabel} got a new ID: label them as listed below."
    flash(message, "success")
    return _render_inventory(upload, report=report.as_dict())

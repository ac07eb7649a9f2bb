"""Freezer storage: the container tree, allocation, storing, and the biobank-side lifecycle.

A box's positions are ``A1``… (row letter, column number). Only occupied (or reserved)
positions have a row in ``storage_positions``; its unique constraints are what make "one tube
per position, one position per tube" hold when technicians race.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

import labels
from biobank.db import get_record, utcnow
from biobank.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    PositionTaken,
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import (
    BoxFill,
    Container,
    ContainerKind,
    EventType,
    Sample,
    SampleFlag,
    SampleStatus,
    Site,
    Specimen,
    StoragePosition,
    TubeType,
    User,
    position_label,
)
from biobank.services import ids, policy
from biobank.services.custody import record_event
from biobank.services.locks import lock_box, lock_containers, lock_samples, who_and_when
from biobank.services.numbers import finite_decimal
from biobank.services.privacy import check_name
from biobank.services.rackscan import Well, parse_position, parse_rack_file
from biobank.services.samples import (
    get_sample,
    quarantine_refusal,
    samples_by_barcode,
    transition,
)
from biobank.services.sites import site_field
from biobank.services.storage_paths import container_path, location_of
from biobank.services.uploads import UnreadableUpload

# Which kinds may hold which: freezer → shelf / rack → box.
CHILD_KINDS = {
    ContainerKind.FREEZER: (ContainerKind.SHELF, ContainerKind.RACK, ContainerKind.BOX),
    ContainerKind.SHELF: (ContainerKind.RACK, ContainerKind.BOX),
    ContainerKind.RACK: (ContainerKind.BOX,),
    ContainerKind.BOX: (),
}
AUTO_PLACE_ATTEMPTS = 5
# A box this full is called out (freezer page, technician's dashboard).
NEARLY_FULL_PERCENT = 90


def path_text(container: Container) -> str:
    return " › ".join(c.name for c in container_path(container))


# --- the tree -------------------------------------------------------------------------------


def get_container(user: User, container_id: int) -> Container:
    return policy.ensure_visible(
        user, get_record(Container, container_id), f"storage container {container_id}"
    )


def get_box(user: User, box_id: int) -> Container:
    box = get_container(user, box_id)
    if box.kind != ContainerKind.BOX:
        raise NotFound(f"Container {box_id} is a {box.kind}, not a box.")
    return box


def box_label_pdf(user: User, box: Container) -> bytes:
    """The box's label: its code to scan and its place to read (a document, no event)."""
    policy.ensure_visible(user, box, f"box {box.id}")
    if box.barcode is None:
        raise Conflict(f"{box.name} has no barcode to print.")
    return labels.render_box_labels([labels.BoxLabelSpec(box.barcode, path_text(box))])


def find_box_by_barcode(user: User, text: str) -> Container:
    code = ids.parse_prefixed_code(text, ids.BOX_PREFIX)
    if code is None:
        raise ValidationFailed.for_field("box", f"{text.strip()!r} is not a box barcode (BX…).")
    box = db.session.scalar(sa.select(Container).where(Container.barcode == code))
    return policy.ensure_visible(user, box, f"box {code}")


def list_freezers(user: User, site: Site | None = None) -> list[Container]:
    stmt = sa.select(Container).where(Container.kind == ContainerKind.FREEZER)
    if site is not None:
        stmt = stmt.where(Container.site_id == site.id)
    return list(db.session.scalars(policy.scope_containers(stmt, user).order_by(Container.name)))


# A picker of a program's thousands of boxes helps nobody: it offers a few, and a scanned box
# barcode still names any box. The few are found among the site's newest boxes, so the cost
# stays the same however many full boxes the site has.
BOXES_OFFERED = 25
NEWEST_BOXES_LOOKED_AT = 200


def boxes_to_offer(user: User, sample: Sample, most: int = BOXES_OFFERED) -> list[Container]:
    """Boxes to offer for a tube at its biobank: the box it is in, then, of the site's
    newest active boxes that take its specimen, those with room; ``most`` in all."""
    current = sample.position.box if sample.position and sample.position.sample_id else None
    specimen = str(sample.tube_type.specimen)
    newest = policy.scope_containers(
        sa.select(Container.id).where(
            Container.kind == ContainerKind.BOX,
            Container.active.is_(True),
            Container.site_id == sample.custody_site_id,
            sa.or_(
                Container.allowed_specimens.is_(None),
                (" " + Container.allowed_specimens + " ").contains(f" {specimen} "),
            ),
        ),
        user,
    )
    if current is not None:
        newest = newest.where(Container.id != current.id)
    newest_ids = newest.order_by(Container.id.desc()).limit(NEWEST_BOXES_LOOKED_AT).subquery()
    used = box_used()
    offered = db.session.scalars(
        sa.select(Container)
        .join(newest_ids, newest_ids.c.id == Container.id)
        .where(used < Container.rows * Container.cols)
        .order_by(Container.id.desc())
        .limit(most - (current is not None))
    ).all()
    return [current, *offered] if current is not None else list(offered)


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed.for_field("name", "Give a name of 1 to 100 characters.")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise ValidationFailed.for_field(
            "name", "Give the name on one line, without tabs or control characters."
        )
    return check_name(name, "name")  # it prints on box labels: no personal data


def _sibling_named(site_id: int, parent_id: int | None, name: str) -> bool:
    stmt = sa.select(Container.id).where(Container.site_id == site_id, Container.name == name)
    stmt = stmt.where(
        Container.parent_id.is_(None) if parent_id is None else Container.parent_id == parent_id
    )
    return db.session.scalar(stmt) is not None


def create_freezer(
    actor: User, *, name: str, temperature_c: Decimal | float | str, site: str | None = None
) -> Container:
    target = site_field(site) if site else actor.site
    policy.require_own_site(actor, target, policy.Action.MANAGE_STORAGE)
    name = _name(name)
    temperature = finite_decimal(temperature_c)
    if temperature is None:
        raise ValidationFailed.for_field(
            "temperature_c", "Give the set temperature in °C, e.g. -80."
        )
    if not Decimal("-200") <= temperature <= Decimal("25"):
        raise ValidationFailed.for_field("temperature_c", "A set temperature is -200 to 25 °C.")
    if _sibling_named(target.id, None, name):
        raise Conflict(f"{target.code} has a freezer named {name!r} already.")
    freezer = Container(
        site_id=target.id, kind=ContainerKind.FREEZER, name=name, temperature_c=temperature
    )
    db.session.add(freezer)
    db.session.flush()
    record_event(
        EventType.CONTAINER_CHANGED,
        actor=actor,
        container=freezer,
        details={"created": "freezer", "name": name},
    )
    return freezer


def _specimens(values: Sequence[str] | None) -> str | None:
    if not values:
        return None
    try:
        return " ".join(sorted({str(Specimen(v.strip().lower())) for v in values}))
    except ValueError:
        raise ValidationFailed.for_field(
            "allowed_specimens", f"Choose among: {', '.join(s.value for s in Specimen)}."
        ) from None


def create_container(
    actor: User,
    *,
    parent_id: int,
    kind: ContainerKind | str,
    name: str,
    rows: int | None = None,
    cols: int | None = None,
    allowed_specimens: Sequence[str] | None = None,
) -> Container:
    """A shelf, rack or box inside a freezer (boxes carry a BX… barcode of their own)."""
    parent = get_container(actor, parent_id)
    policy.require_own_site(actor, parent.site, policy.Action.MANAGE_STORAGE)
    try:
        kind = ContainerKind(kind)
    except ValueError:
        raise ValidationFailed.for_field("kind", "Choose shelf, rack or box.") from None
    if kind not in CHILD_KINDS[parent.kind]:
        allowed = ", ".join(k.value for k in CHILD_KINDS[parent.kind]) or "nothing"
        raise ValidationFailed.for_field("kind", f"A {parent.kind} holds {allowed}, not a {kind}.")
    if not parent.active:
        raise InvalidTransition(f"{path_text(parent)} is deactivated: nothing goes into it.")
    name = _name(name)
    errors: dict[str, list[str]] = {}
    if kind == ContainerKind.BOX:
        if not (isinstance(rows, int) and 1 <= rows <= 26):
            errors["rows"] = ["A box has 1 to 26 rows (A to Z)."]
        if not (isinstance(cols, int) and 1 <= cols <= 99):
            errors["cols"] = ["A box has 1 to 99 columns."]
    elif rows is not None or cols is not None:
        errors["rows"] = [f"Only boxes have rows and columns; a {kind} does not."]
    if errors:
        raise ValidationFailed.for_fields(errors)
    if _sibling_named(parent.site_id, parent.id, name):
        raise Conflict(f"{path_text(parent)} holds something named {name!r} already.")
    barcode = None
    if kind == ContainerKind.BOX:

        def taken(candidates: list[str]) -> set[str]:
            return set(
                db.session.scalars(
                    sa.select(Container.barcode).where(Container.barcode.in_(candidates))
                )
            )

        [barcode] = ids.unique_codes(1, lambda: ids.new_prefixed_code(ids.BOX_PREFIX), taken)
    container = Container(
        site_id=parent.site_id,
        parent_id=parent.id,
        freezer_id=parent.freezer_id or parent.id,
        kind=kind,
        name=name,
        barcode=barcode,
        rows=rows if kind == ContainerKind.BOX else None,
        cols=cols if kind == ContainerKind.BOX else None,
        allowed_specimens=_specimens(allowed_specimens) if kind == ContainerKind.BOX else None,
    )
    db.session.add(container)
    db.session.flush()
    record_event(
        EventType.CONTAINER_CHANGED,
        actor=actor,
        container=container,
        details={"created": str(kind), "name": name, "parent": parent.id},
    )
    return container


def rename_container(actor: User, container: Container, name: str) -> Container:
    policy.require_own_site(actor, container.site, policy.Action.MANAGE_STORAGE)
    name = _name(name)
    if name != container.name and _sibling_named(container.site_id, container.parent_id, name):
        raise Conflict(f"Something named {name!r} is there already.")
    old, container.name = container.name, name
    record_event(
        EventType.CONTAINER_CHANGED,
        actor=actor,
        container=container,
        details={"renamed": {"from": old, "to": name}},
    )
    db.session.flush()
    return container


def recount_box_fills() -> int:
    """Count every box's positions again into its kept fill (``BoxFill``), the positions
    locked against writers meanwhile; the number of boxes whose kept fill was wrong. Only
    someone writing to the database by hand (or switching off its triggers) makes one wrong."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE storage_positions IN SHARE MODE"))
    counted = dict(
        db.session.execute(
            sa.select(StoragePosition.box_id, sa.func.count()).group_by(StoragePosition.box_id)
        ).all()
    )
    kept = dict(db.session.execute(sa.select(BoxFill.box_id, BoxFill.used)).all())
    wrong = {box for box in counted.keys() | kept.keys() if counted.get(box, 0) != kept.get(box, 0)}
    if wrong:
        db.session.execute(sa.delete(BoxFill).where(BoxFill.box_id.in_(list(wrong))))
        refill = [{"box_id": box, "used": counted[box]} for box in wrong if counted.get(box)]
        if refill:
            db.session.execute(sa.insert(BoxFill), refill)
    db.session.flush()
    return len(wrong)


def box_used() -> sa.ColumnElement[int]:
    """Positions in use in the box a query's ``Container`` row is: the fill the database
    keeps (``BoxFill``), read in place of counting the box's positions."""
    kept = sa.select(BoxFill.used).where(BoxFill.box_id == Container.id).correlate(Container)
    return sa.func.coalesce(kept.scalar_subquery(), 0)


def subtree_ids(container: Container) -> list[int]:
    """This container and everything below it (one recursive query)."""
    return list(db.session.scalars(sa.select(subtrees([container.id]).c.id)))


def deactivate_container(actor: User, container: Container) -> Container:
    """Take a container out of use: only when nothing is stored anywhere inside it.

    Everything inside is locked first (in id order): a tube being stored in one of its boxes
    at this moment is either counted here, or waits and then finds the box out of use."""
    policy.require_own_site(actor, container.site, policy.Action.MANAGE_STORAGE)
    inside = subtree_ids(container)
    lock_containers(inside)
    if not container.active:
        by = who_and_when(actor, [EventType.CONTAINER_CHANGED], container=container)
        raise InvalidTransition(
            f"{path_text(container)} is deactivated already (changed {by}). Reload the page to "
            "see where it stands.",
        )
    stored = db.session.scalar(
        sa.select(sa.func.count(StoragePosition.id)).where(StoragePosition.box_id.in_(inside))
    )
    if stored:
        raise InvalidTransition(
            f"{path_text(container)} still holds {stored} tube(s): move them out before "
            "deactivating it."
        )
    for node in db.session.scalars(sa.select(Container).where(Container.id.in_(inside))):
        node.active = False
    record_event(
        EventType.CONTAINER_CHANGED, actor=actor, container=container, details={"deactivated": True}
    )
    db.session.flush()
    return container


@dataclass(frozen=True)
class Occupancy:
    used: int
    capacity: int

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def full(self) -> bool:
        return self.capacity > 0 and self.free <= 0

    @property
    def nearly_full(self) -> bool:
        """Called out so a new box is set up before the bench runs out of room mid-shipment."""
        return (
            not self.full
            and self.capacity > 0
            and 100 * self.used >= NEARLY_FULL_PERCENT * self.capacity
        )

    @property
    def percent(self) -> int:
        return round(100 * self.used / self.capacity) if self.capacity else 0


def occupancy(container: Container) -> Occupancy:
    """Positions used and available in this container and everything inside it (one query:
    the subtree's boxes and their kept fills)."""
    tree = subtrees([container.id])
    capacity, used = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Container.rows * Container.cols), 0),
            sa.func.coalesce(sa.func.sum(BoxFill.used), 0),
        )
        .join(tree, tree.c.id == Container.id)
        .outerjoin(BoxFill, BoxFill.box_id == Container.id)
        .where(Container.kind == ContainerKind.BOX)
    ).one()
    return Occupancy(int(used or 0), int(capacity or 0))  # SUM() is NUMERIC on PostgreSQL


def subtrees(root_ids: Sequence[int]) -> sa.CTE:
    """(root, id) for every container under each root, the root included: one recursive
    query serves many freezers at once."""
    tree = (
        sa.select(Container.id.label("root"), Container.id.label("id"))
        .where(Container.id.in_(list(root_ids)))
        .cte("subtrees", recursive=True)
    )
    child = aliased(Container)
    return tree.union_all(sa.select(tree.c.root, child.id).where(child.parent_id == tree.c.id))


@dataclass(frozen=True)
class FreezerFill(Occupancy):
    boxes: int
    full_boxes: int


def freezer_fills(freezer_ids: Sequence[int]) -> dict[int, FreezerFill]:
    """The fill of each listed freezer's active boxes, all freezers in one query over their
    boxes (by ``freezer_id``) and the boxes' kept fills."""
    if not freezer_ids:
        return {}
    used = sa.func.coalesce(BoxFill.used, 0)
    capacity = Container.rows * Container.cols
    rows = db.session.execute(
        sa.select(
            Container.freezer_id,
            sa.func.sum(used),
            sa.func.sum(capacity),
            sa.func.count(),
            sa.func.sum(sa.case((used >= capacity, 1), else_=0)),
        )
        .outerjoin(BoxFill, BoxFill.box_id == Container.id)
        .where(
            Container.freezer_id.in_(list(freezer_ids)),
            Container.kind == ContainerKind.BOX,
            Container.active.is_(True),
        )
        .group_by(Container.freezer_id)
    ).all()
    # SUM() is NUMERIC on PostgreSQL: whole numbers here, whatever the database.
    fills = {
        root: FreezerFill(int(used), int(capacity), int(boxes), int(full))
        for root, used, capacity, boxes, full in rows
    }
    return {f: fills.get(f, FreezerFill(0, 0, 0, 0)) for f in freezer_ids}


def tree_of(container: Container) -> dict[int | None, list[Container]]:
    """Everything under the container, loaded in one query, as parent id → children."""
    inside = subtree_ids(container)
    nodes = db.session.scalars(
        sa.select(Container).where(Container.id.in_(inside)).order_by(Container.id)
    ).all()
    children: dict[int | None, list[Container]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    return children


def occupancy_by_container(container: Container) -> dict[int, Occupancy]:
    """The occupancy of the container and of every container inside it, in two queries
    (the tree, and the boxes' kept fills), summed up the tree."""
    children = tree_of(container)
    nodes = {node.id: node for kids in children.values() for node in kids}
    nodes[container.id] = container
    used_by_box = dict(
        db.session.execute(
            sa.select(BoxFill.box_id, BoxFill.used).where(BoxFill.box_id.in_(list(nodes)))
        ).all()
    )

    def total(node: Container) -> Occupancy:
        if node.kind == ContainerKind.BOX:
            figures = Occupancy(used_by_box.get(node.id, 0), node.capacity)
        else:
            parts = [total(child) for child in children.get(node.id, [])]
            figures = Occupancy(sum(p.used for p in parts), sum(p.capacity for p in parts))
        result[node.id] = figures
        return figures

    result: dict[int, Occupancy] = {}
    total(container)
    return result


# --- positions ------------------------------------------------------------------------------


def all_positions(box: Container) -> list[tuple[int, int]]:
    """Row by row: A1, A2, … then B1 …"""
    rows, cols = box.grid
    return [(row, col) for row in range(1, rows + 1) for col in range(1, cols + 1)]


def box_range(box: Container) -> str:
    return f"A1–{position_label(*box.grid)}"


def position_field(box: Container, text: str, field: str = "position") -> tuple[int, int]:
    grid = parse_position(text or "")
    if grid is None:
        raise ValidationFailed.for_field(
            field, f"{text!r} is not a position: use a row letter and a column number, e.g. A1."
        )
    row, col = grid
    if row > box.grid[0] or col > box.grid[1]:
        raise ValidationFailed.for_field(
            field,
            f"{position_label(row, col)} is outside box {box.name} ({box.rows} x "
            f"{box.cols}, {box_range(box)}).",
        )
    return grid


def occupied_positions(box: Container) -> dict[tuple[int, int], StoragePosition]:
    return {
        (p.row, p.col): p
        for p in db.session.scalars(
            sa.select(StoragePosition).where(StoragePosition.box_id == box.id)
        )
    }


def next_free(
    box: Container,
    after: tuple[int, int] | None = None,
    *,
    taken: Collection[tuple[int, int]] | None = None,
) -> tuple[int, int] | None:
    """The position a tube goes to when none is chosen: the first free one row by row (after
    ``after``, wrapping round), with ``taken`` read from the box unless given."""
    if taken is None:
        taken = occupied_positions(box).keys()
    for grid in all_positions(box):
        if grid not in taken and (after is None or grid > after):
            return grid
    if after is not None:
        return next_free(box, taken=taken)
    return None


@dataclass(frozen=True)
class Cell:
    position: str
    barcode: str | None = None
    tube_code: str | None = None
    status: str | None = None
    reserved: bool = False
    # The tube's flags (damaged, unexpected, …) by kind, and how often it was thawed: what a
    # technician checks before taking a tube out, visible without opening each one.
    flags: tuple[str, ...] = ()
    thaws: int = 0


def box_grid(box: Container) -> list[list[Cell]]:
    """The box as rows of cells, for drawing it: two queries, whatever the box holds."""
    rows = db.session.execute(
        sa.select(
            StoragePosition.row,
            StoragePosition.col,
            StoragePosition.sample_id,
            Sample.barcode,
            TubeType.code,
            Sample.status,
            Sample.freeze_thaw_count,
        )
        .outerjoin(Sample, Sample.id == StoragePosition.sample_id)
        .outerjoin(TubeType, TubeType.id == Sample.tube_type_id)
        .where(StoragePosition.box_id == box.id)
    ).all()
    flags: dict[int, list[str]] = {}
    if any(row.sample_id is not None for row in rows):
        for sample_id, kind in db.session.execute(
            sa.select(SampleFlag.sample_id, SampleFlag.kind)
            .join(StoragePosition, StoragePosition.sample_id == SampleFlag.sample_id)
            .where(StoragePosition.box_id == box.id)
            .order_by(SampleFlag.sample_id, SampleFlag.kind)
        ):
            flags.setdefault(sample_id, []).append(str(kind))
    contents = {
        (row, col): Cell(
            position_label(row, col),
            barcode,
            tube_code,
            str(status) if status else None,
            reserved=sample_id is None,
            flags=tuple(flags.get(sample_id, ())) if sample_id is not None else (),
            thaws=thaws or 0,
        )
        for row, col, sample_id, barcode, tube_code, status, thaws in rows
    }
    return [
        [contents.get((r, c), Cell(position_label(r, c))) for c in range(1, box.grid[1] + 1)]
        for r in range(1, box.grid[0] + 1)
    ]


def grid_target(box: Container, grid: list[list[Cell]]) -> str | None:
    """Where the next scan into a drawn box goes (``next_free``, read off its grid)."""
    taken = {
        (row_number, col_number)
        for row_number, row in enumerate(grid, start=1)
        for col_number, cell in enumerate(row, start=1)
        if cell.barcode is not None or cell.reserved
    }
    free = next_free(box, taken=taken)
    return position_label(*free) if free else None


def takes_specimen(allowed_specimens: str | None, sample: Sample) -> bool:
    """A box restricted to some specimens (space-separated) takes only those; others any."""
    return not allowed_specimens or str(sample.tube_type.specimen) in allowed_specimens.split()


def accepts(box: Container, sample: Sample) -> bool:
    return takes_specimen(box.allowed_specimens, sample)


# --- storing ------------------------------------------------------------------------------


def check_box(box: Container) -> None:
    if box.kind != ContainerKind.BOX:
        raise ValidationFailed.for_field("box", f"{box.name} is a {box.kind}: tubes go in boxes.")
    if not box.active:
        raise InvalidTransition(f"Box {path_text(box)} is deactivated: choose another box.")


def storage_refusal(site: Site, sample: Sample, box: Container | None = None) -> DomainError | None:
    """Why this tube cannot go into a box at ``site`` (and into ``box``, when given), or None."""
    if sample.custody_site_id != site.id:
        return Conflict(f"Tube {sample.display_barcode} is not at {site.code}: receive it first.")
    if sample.position is not None:
        where = location_of(sample)
        shown = " › ".join([*where["path"], where["position"]]) if where else "a box"
        return Conflict(
            f"Tube {sample.display_barcode} is stored at {shown} already: move it instead.",
            location=where,
        )
    if sample.status != SampleStatus.RECEIVED:
        status = str(sample.status).replace("_", " ")
        return InvalidTransition(
            f"Tube {sample.display_barcode} is {status}: only received tubes are stored.",
            sample_status=str(sample.status),
        )
    refusal = quarantine_refusal(sample, "storing it")
    if refusal is not None:
        return refusal
    return specimen_refusal(box, sample) if box is not None else None


def specimen_refusal(box: Container, sample: Sample) -> Conflict | None:
    if accepts(box, sample):
        return None
    return Conflict(
        f"Box {box.name} takes {(box.allowed_specimens or '').replace(' ', ', ')} only; tube "
        f"{sample.display_barcode} is {str(sample.tube_type.specimen).replace('_', ' ')}."
    )


def _storable_sample(actor: User, site: Site, text: str, box: Container | None = None) -> Sample:
    """A tube that may be stored (locked against a racing store), or the refusal raised."""
    sample = get_sample(actor, text, lock=True)
    refusal = storage_refusal(site, sample, box)
    if refusal is not None:
        raise refusal
    return sample


def _storable(actor: User, box: Container, text: str) -> Sample:
    """The tube locked, then the box locked for share (a tube before its box, as every writer
    does) and checked after the lock: a box being deactivated takes no tube meanwhile."""
    policy.require_own_site(actor, box.site, policy.Action.STORE)
    check_box(box)
    sample = _storable_sample(actor, box.site, text, box)
    check_box(lock_box(box, share=True))
    return sample


def _mark_stored(
    actor: User,
    sample: Sample,
    box: Container,
    position: StoragePosition,
    *,
    at: datetime,
    **details: Any,
) -> None:
    """The tube in its new position is stored: its status, when, and its stored event (with
    the box, position and path, and what else the caller says, e.g. the rack-scan line)."""
    transition(sample, SampleStatus.STORED)
    sample.stored_at = at
    record_event(
        EventType.STORED,
        actor=actor,
        sample=sample,
        container=box,
        at=at,
        details={"box": box.name, "position": position.label, "path": path_text(box), **details},
    )


def _place(
    actor: User,
    box: Container,
    sample: Sample,
    grid: tuple[int, int],
    *,
    at: datetime,
    event: EventType = EventType.STORED,
) -> StoragePosition:
    """Insert the position row inside a savepoint: a taken position raises IntegrityError
    without spoiling the rest of the transaction."""
    position = StoragePosition(
        box_id=box.id,
        row=grid[0],
        col=grid[1],
        sample_id=sample.id,
        stored_at=at,
        stored_by_id=actor.id,
    )
    with db.session.begin_nested():
        db.session.add(position)
        db.session.flush()
    sample.position = position
    return position


def position_taken(box: Container, grid: tuple[int, int]) -> PositionTaken:
    free = next_free(box, after=grid)
    hint = f"; the next free position is {position_label(*free)}" if free else "; the box is full"
    return PositionTaken(
        f"{position_label(*grid)} in box {box.name} is taken{hint}.",
        position=position_label(*grid),
        next_free=position_label(*free) if free else None,
    )


def store_sample(actor: User, box: Container, text: str, position: str | None = None) -> Sample:
    """Put a received tube in a position of a box (or the first free one, row by row)."""
    sample = _storable(actor, box, text)
    now = utcnow()
    if position:
        grid = position_field(box, position)
        if grid in occupied_positions(box):
            raise position_taken(box, grid)
        try:
            placed = _place(actor, box, sample, grid, at=now)
        except IntegrityError:
            raise position_taken(box, grid) from None
    else:
        placed = None
        for _ in range(AUTO_PLACE_ATTEMPTS):
            free = next_free(box)
            if free is None:
                raise Conflict(f"Box {box.name} is full: choose another box.")
            try:
                placed = _place(actor, box, sample, free, at=now)
                break
            except IntegrityError:
                continue  # a colleague took it a moment ago: take the next one
        if placed is None:
            raise Conflict(f"Box {box.name} is filling up as you store: scan the tube again.")
    assert placed is not None
    _mark_stored(actor, sample, box, placed, at=now)
    db.session.flush()
    return sample


@dataclass(frozen=True)
class BoxRoom:
    """A box with space left, as read for allocation (no ORM object: freezers hold
    thousands of boxes)."""

    id: int
    rows: int
    cols: int
    allowed_specimens: str | None
    used: int

    def takes(self, sample: Sample) -> bool:
        return takes_specimen(self.allowed_specimens, sample)


def boxes_with_room(container: Container) -> list[BoxRoom]:
    """Active boxes in the container (or the box itself) that are not full, in order.

    One statement: walk the subtree, read each box's kept fill, keep the boxes with room.
    Full boxes never leave the database.
    """
    tree = subtrees([container.id])
    used = box_used()
    stmt = (
        sa.select(Container.id, Container.rows, Container.cols, Container.allowed_specimens, used)
        .join(tree, tree.c.id == Container.id)
        .where(
            Container.kind == ContainerKind.BOX,
            Container.active.is_(True),
            used < Container.rows * Container.cols,
        )
        .order_by(Container.id)
    )
    return [BoxRoom(*row) for row in db.session.execute(stmt)]  # type: ignore[arg-type]


def _free_grids(room: BoxRoom) -> list[tuple[int, int]]:
    taken = {
        (row, col)
        for row, col in db.session.execute(
            sa.select(StoragePosition.row, StoragePosition.col).where(
                StoragePosition.box_id == room.id
            )
        )
    }
    return [
        (row, col)
        for row in range(1, room.rows + 1)
        for col in range(1, room.cols + 1)
        if (row, col) not in taken
    ]


def free_slots(container: Container, wanted: int) -> list[tuple[Container, tuple[int, int]]]:
    """The first ``wanted`` free positions in the container's boxes: boxes in order, each
    row by row. Only the boxes that are needed are looked into, and only they are loaded."""
    slots: list[tuple[Container, tuple[int, int]]] = []
    for room in boxes_with_room(container):
        if len(slots) >= wanted:
            break
        box = db.session.get_one(Container, room.id)
        slots += [(box, grid) for grid in _free_grids(room)[: wanted - len(slots)]]
    return slots


@dataclass(frozen=True)
class Placement:
    sample: Sample
    box: Container
    position: str


def plan_placements(
    container: Container, samples: Sequence[Sample]
) -> list[tuple[Sample, Container, tuple[int, int]]]:
    """Where each tube goes: boxes filled in order, a collection's tubes kept in one box
    where they fit, every tube in a box that accepts its specimen. All or nothing.

    Homes are chosen from the per-box counts; free positions are read only for the boxes
    that receive tubes.
    """
    rooms = boxes_with_room(container)
    left = {room.id: room.rows * room.cols - room.used for room in rooms}
    grids: dict[int, list[tuple[int, int]]] = {}

    def take(room: BoxRoom) -> tuple[int, int]:
        if room.id not in grids:
            grids[room.id] = _free_grids(room)
        left[room.id] -= 1
        return grids[room.id].pop(0)

    groups: OrderedDict[object, list[Sample]] = OrderedDict()
    for sample in samples:
        groups.setdefault(sample.collection_id or ("tube", sample.id), []).append(sample)
    plan = []
    unplaced = []
    for group in groups.values():
        home = next(
            (r for r in rooms if left[r.id] >= len(group) and all(r.takes(s) for s in group)),
            None,
        )
        for sample in group:
            room = home or next((r for r in rooms if left[r.id] and r.takes(sample)), None)
            if room is None:
                unplaced.append(sample)
                continue
            plan.append((sample, db.session.get_one(Container, room.id), take(room)))
    if unplaced:
        names = ", ".join(s.display_barcode for s in unplaced[:10])
        raise Conflict(
            f"No room for {len(unplaced)} tube(s) in {path_text(container)} ({names}"
            f"{'…' if len(unplaced) > 10 else ''}): add a box; nothing was stored."
        )
    return plan


def store_many(actor: User, container: Container, barcodes: Sequence[str]) -> list[Placement]:
    """Store many tubes into a box or a whole freezer, all or nothing."""
    if not barcodes:
        raise ValidationFailed.for_field("barcodes", "Scan at least one tube.")
    policy.require_own_site(actor, container.site, policy.Action.STORE)
    seen: set[str] = set()
    samples = []
    for text in barcodes:
        barcode = ids.sample_id_field(text, "barcodes")
        if barcode in seen:
            raise ValidationFailed.for_field("barcodes", f"{ids.display(barcode)} is listed twice.")
        seen.add(barcode)
        samples.append(barcode)
    # Every tube locked in id order (the order every writer uses), then checked.
    lock_samples(s.id for s in samples_by_barcode(samples).values())
    checked = [_storable_sample(actor, container.site, barcode) for barcode in samples]
    placements = []
    now = utcnow()
    plan = plan_placements(container, checked)
    for box in sorted({box.id: box for _, box, _ in plan}.values(), key=lambda b: b.id):
        check_box(lock_box(box, share=True))
    for sample, box, grid in plan:
        placed = _place(actor, box, sample, grid, at=now)
        _mark_stored(actor, sample, box, placed, at=now)
        placements.append(Placement(sample, box, placed.label))
    db.session.flush()
    return placements


# --- rack-scanner import -------------------------------------------------------------------


class WellOutcome(StrEnum):
    PLACED = "placed"
    ALREADY_THERE = "already_there"
    EMPTY = "empty"
    UNKNOWN_TUBE = "unknown_tube"
    OUTSIDE_BOX = "outside_box"
    DUPLICATE_TUBE = "duplicate_tube"
    DIFFERS = "differs"
    NOT_STORABLE = "not_storable"


# Any of these stops the whole import: nothing is written until the rack matches.
BLOCKING = frozenset(
    {
        WellOutcome.UNKNOWN_TUBE,
        WellOutcome.OUTSIDE_BOX,
        WellOutcome.DUPLICATE_TUBE,
        WellOutcome.DIFFERS,
        WellOutcome.NOT_STORABLE,
    }
)


@dataclass(frozen=True)
class WellReport:
    line: int
    position: str
    barcode: str | None
    outcome: WellOutcome
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "position": self.position,
            "barcode": self.barcode,
            "outcome": str(self.outcome),
            "message": self.message,
        }


@dataclass(frozen=True)
class RackScanReport:
    box: Container
    wells: list[WellReport]
    applied: bool

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(outcome): 0 for outcome in WellOutcome}
        for well in self.wells:
            counts[str(well.outcome)] += 1
        return counts

    @property
    def ok(self) -> bool:
        return not any(well.outcome in BLOCKING for well in self.wells)

    def as_dict(self) -> dict[str, object]:
        return {
            "box": self.box.id,
            "applied": self.applied,
            "ok": self.ok,
            "counts": self.counts,
            "wells": [well.as_dict() for well in self.wells],
        }


class RackScanRefused(Conflict):
    title = "Rack scan does not match"
    slug = "rack-scan-refused"


Verdict = tuple[WellOutcome, str, Sample | None]


def _judge_wells(
    actor: User, box: Container, wells: list[Well]
) -> list[tuple[WellReport, Sample | None]]:
    occupied = occupied_positions(box)
    parsed: dict[int, str | None] = {}
    for well in wells:
        try:
            parsed[well.line] = ids.parse_sample_id(well.barcode) if well.barcode else None
        except ids.InvalidCode:
            parsed[well.line] = None
    known = samples_by_barcode([b for b in parsed.values() if b])
    reads = Counter(b for b in parsed.values() if b)
    judged = []
    for well in wells:
        sample_id = parsed[well.line]
        outcome, message, sample = _judge_well(
            actor,
            box,
            well,
            occupied,
            known.get(sample_id) if sample_id else None,
            reads[sample_id] if sample_id else 0,
        )
        judged.append(
            (WellReport(well.line, well.position, well.barcode, outcome, message), sample)
        )
    return judged


def _judge_well(
    actor: User,
    box: Container,
    well: Well,
    occupied: dict[tuple[int, int], StoragePosition],
    sample: Sample | None,
    reads: int,
) -> Verdict:
    if well.row is None or well.col is None or well.row > box.grid[0] or well.col > box.grid[1]:
        return (
            WellOutcome.OUTSIDE_BOX,
            f"{well.position!r} is not a position of this {box.rows} x {box.cols} box "
            f"({box_range(box)}).",
            None,
        )
    grid = (well.row, well.col)
    label = position_label(*grid)
    holder = occupied.get(grid)
    if well.barcode is None:
        if holder is not None and holder.sample is not None:
            return (
                WellOutcome.DIFFERS,
                f"The scanner saw {label} empty, but {holder.sample.display_barcode} should be "
                "there.",
                None,
            )
        return WellOutcome.EMPTY, f"{label} is empty.", None
    if sample is None or not policy.may_see(actor, sample):
        return (
            WellOutcome.UNKNOWN_TUBE,
            f"{well.barcode} in {label} is not a tube this biobank knows: take it out and check "
            "its label.",
            None,
        )
    if reads > 1:
        return (
            WellOutcome.DUPLICATE_TUBE,
            f"{sample.display_barcode} is read in more than one well: rescan the rack.",
            sample,
        )
    if sample.position is not None:
        here = (sample.position.box_id, sample.position.row, sample.position.col)
        if here == (box.id, *grid):
            return (
                WellOutcome.ALREADY_THERE,
                f"{sample.display_barcode} is in {label} already.",
                sample,
            )
        return (
            WellOutcome.DIFFERS,
            f"{sample.display_barcode} should be at {_stored_at(sample)}, not in {label}.",
            sample,
        )
    if holder is not None:
        other = holder.sample.display_barcode if holder.sample else "a reservation"
        return (
            WellOutcome.DIFFERS,
            f"{label} should hold {other}, not {sample.display_barcode}.",
            sample,
        )
    refusal = storage_refusal(box.site, sample, box)
    if refusal is not None:
        return WellOutcome.NOT_STORABLE, refusal.detail, sample
    return WellOutcome.PLACED, f"{sample.display_barcode} goes into {label}.", sample


def _stored_at(sample: Sample) -> str:
    where = location_of(sample)
    return " › ".join([*where["path"], where["position"]]) if where else "another box"


def import_rack_scan(actor: User, box: Container, data: bytes, *, apply: bool) -> RackScanReport:
    """Check a rack-scanner file against the box; with ``apply``, store every tube or none."""
    policy.require_own_site(actor, box.site, policy.Action.STORE)
    check_box(box)
    try:
        wells = parse_rack_file(data)
    except UnreadableUpload as unreadable:
        raise ValidationFailed.for_field("file", str(unreadable)) from None
    judged = _judge_wells(actor, box, wells)
    report = RackScanReport(box, [well for well, _ in judged], applied=False)
    if not apply:
        return report
    if not report.ok:
        raise RackScanRefused(
            "Nothing was stored: the rack does not match what the system expects in "
            f"{sum(report.counts[str(o)] for o in BLOCKING)} well(s). Fix those and scan again.",
            report=report.as_dict(),
        )
    now = utcnow()
    to_place = [
        (well, sample)
        for well, sample in judged
        if well.outcome == WellOutcome.PLACED and sample is not None
    ]
    rows = []
    for well, sample in to_place:
        grid = parse_position(well.position)
        assert grid is not None  # a well to place has a position in the box
        rows.append(
            StoragePosition(
                box_id=box.id,
                row=grid[0],
                col=grid[1],
                sample_id=sample.id,
                stored_at=now,
                stored_by_id=actor.id,
            )
        )
    try:
        with db.session.begin_nested():
            db.session.add_all(rows)
            db.session.flush()
    except IntegrityError:
        raise RackScanRefused(
            "The box changed while the file was being imported (someone stored a tube in it): "
            "nothing was stored; upload the file again.",
        ) from None
    for (well, sample), position in zip(to_place, rows, strict=True):
        sample.position = position
        _mark_stored(actor, sample, box, position, at=now, source="rack scan", line=well.line)
    db.session.flush()
    return RackScanReport(box, report.wells, applied=True)

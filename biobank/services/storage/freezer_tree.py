"""The freezer tree: freezers, racks, shelves and boxes, their names and paths, and how full each
is."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased

import labels
from biobank.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import (
    BoxFill,
    Container,
    ContainerKind,
    EventType,
    Sample,
    Site,
    Specimen,
    StoragePosition,
    User,
)
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import lock_containers, who_and_when
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.privacy import check_name
from biobank.services.core.sites import site_field
from biobank.services.storage.storage_paths import container_path
from biobank.unit_of_work import get_record

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

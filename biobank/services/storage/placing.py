"""Putting received tubes into boxes: one scan, or many at once into a container, each into a free
position (a colleague's race lost is a 409 that names the next free)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from biobank.db import utcnow
from biobank.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    PositionTaken,
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import (
    Container,
    ContainerKind,
    EventType,
    Sample,
    SampleStatus,
    Site,
    StoragePosition,
    User,
    position_label,
)
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import lock_box, lock_samples
from biobank.services.core.samples import (
    get_sample,
    quarantine_refusal,
    samples_by_barcode,
    transition,
)
from biobank.services.storage.box_positions import (
    accepts,
    next_free,
    occupied_positions,
    position_field,
    takes_specimen,
)

# Which kinds may hold which: freezer → shelf / rack → box.
from biobank.services.storage.freezer_tree import AUTO_PLACE_ATTEMPTS, box_used, path_text, subtrees
from biobank.services.storage.storage_paths import location_of

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

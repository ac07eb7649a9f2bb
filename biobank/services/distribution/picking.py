"""Picking an approved request's tubes out of the freezers.

The **pick list** is the request's reserved tubes where each sits *now*, in the order a
technician walks: freezer, then the racks or shelves down to the box, then the box, then the
position row by row (A1, A2 … B1); ties by tube id, so the same freezers give the same list.
It comes as rows (``pick_list``), CSV (``pick_list_csv``) and PDF (``pick_list_pdf``); none
of them names a participant.

**Picking** (``pick``) is scanning a tube as it is taken out. The tube must be one of this
request's reserved tubes: it is marked picked (who, when) and **checked out** of its freezer
(status ``checked_out``, a ``checked_out`` custody event naming the request). Its position
stays held, as for any checked-out tube, until the shipment is dispatched: then it leaves the
position, which is freed for new tubes (``outbound.dispatch``). A wrong tube is refused with
what it is and where the next tube to pick is; the same tube scanned again answers "already
picked" and records nothing. The request moves from approved to picking at its first pick.

Optionally a set volume is aliquoted at picking (``aliquot_ml``): a new child tube of that
volume is made (``storage.lifecycle.aliquot``: its own ID, to label), and it is the child
that goes to the study, reserved and picked in the parent's place. The parent's reservation
is released ("aliquoted at picking") and the parent stays stored where it is, with what is
left in it. Aliquoting follows the aliquot service's rules, so only technicians do it.

Writes lock the request's row first and then the tube's (the order approvals and
cancellations use), and read both after the lock: two technicians scanning the same tube
take turns, and the second is told it is picked already.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from biobank.db import utcnow
from biobank.errors import Conflict, InvalidTransition, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Container,
    DistributionItem,
    DistributionRequest,
    EventType,
    FlagKind,
    RequestStatus,
    Sample,
    SampleFlag,
    SampleStatus,
    StoragePosition,
    TubeType,
    User,
    position_label,
)
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import lock_sample
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.samples import quarantine_refusal, transition
from biobank.services.core.spreadsheet import csv_writer
from biobank.services.core.timebounds import in_zone
from biobank.services.core.transitions import REQUESTS
from biobank.services.distribution import requests
from biobank.services.distribution.requests import lock_request
from biobank.services.storage import lifecycle
from biobank.services.storage.storage_paths import container_path
from labels.distribution import PickListRow, PickListSpec, render_pick_list

# Where picking happens: an approved request, and one whose picking has begun.
PICKABLE = (RequestStatus.APPROVED, RequestStatus.PICKING)

PICK_LIST_COLUMNS = (
    "sample_id",
    "tube_type",
    "volume_ml",
    "freezer",
    "path",
    "box",
    "position",
    "picked",
)


def ml(volume: Decimal | None) -> str:
    """4.000 → 4, 0.500 → 0.5, None → empty."""
    if volume is None:
        return ""
    text = f"{volume:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- the pick list ------------------------------------------------------------------------


@dataclass(frozen=True)
class PickRow:
    """One reserved tube on the pick list, where it sits now.

    ``path``: the containers from the freezer down to the box, box included (names);
    ``place``: the same joined with the position, as a technician reads it. A tube in no box
    (aliquoted at picking) has no freezer, box or position and comes last."""

    sample_id: int
    barcode: str
    tube_type: str
    volume_ml: Decimal | None
    freezer: str | None
    path: tuple[str, ...]
    box: str | None
    box_id: int | None
    position: str | None
    picked: bool
    picked_at: datetime | None
    picked_by: str | None
    quarantined: bool

    @property
    def display_barcode(self) -> str:
        return ids.display(self.barcode)

    @property
    def place(self) -> str:
        if self.position is None:
            return "not in a box"
        return " › ".join([*self.path, self.position])


@dataclass(frozen=True)
class PickList:
    request: DistributionRequest
    rows: list[PickRow]

    @property
    def picked(self) -> int:
        return sum(row.picked for row in self.rows)

    @property
    def remaining(self) -> list[PickRow]:
        return [row for row in self.rows if not row.picked]

    @property
    def next(self) -> PickRow | None:
        """The next tube to pick, in walking order."""
        return next(iter(self.remaining), None)


def _paths(box_ids: set[int]) -> dict[int, list[Container]]:
    """Each box's path from its freezer, its containers read once."""
    if not box_ids:
        return {}
    boxes = db.session.scalars(
        sa.select(Container)
        .where(Container.id.in_(sorted(box_ids)))
        .options(selectinload(Container.parent).selectinload(Container.parent))
    )
    return {box.id: container_path(box) for box in boxes}


def _rows(request: DistributionRequest) -> list[PickRow]:
    """The request's reserved tubes with their current positions, in walking order."""
    stmt = (
        sa.select(
            Sample.id,
            Sample.barcode,
            Sample.volume_ml,
            TubeType.code.label("tube_type"),
            StoragePosition.box_id,
            StoragePosition.row,
            StoragePosition.col,
            DistributionItem.picked_at,
            User.full_name,
            sa.exists()
            .where(SampleFlag.sample_id == Sample.id, SampleFlag.kind == FlagKind.QUARANTINED)
            .label("quarantined"),
        )
        .join(
            DistributionItem,
            sa.and_(
                DistributionItem.sample_id == Sample.id,
                DistributionItem.request_id == request.id,
                DistributionItem.released_at.is_(None),
            ),
        )
        .join(TubeType, TubeType.id == Sample.tube_type_id)
        .outerjoin(StoragePosition, StoragePosition.sample_id == Sample.id)
        .outerjoin(User, User.id == DistributionItem.picked_by_id)
        .where(Sample.reserved_for_request_id == request.id)
    )
    found = db.session.execute(stmt).all()
    paths = _paths({row.box_id for row in found if row.box_id is not None})
    rows = []
    for row in found:
        path = paths.get(row.box_id, []) if row.box_id is not None else []
        rows.append(
            (
                _walking_order(path, row.row, row.col, row.id),
                PickRow(
                    sample_id=row.id,
                    barcode=row.barcode,
                    tube_type=row.tube_type,
                    volume_ml=row.volume_ml,
                    freezer=path[0].name if path else None,
                    path=tuple(c.name for c in path),
                    box=path[-1].name if path else None,
                    box_id=row.box_id,
                    position=position_label(row.row, row.col) if path else None,
                    picked=row.picked_at is not None,
                    picked_at=row.picked_at,
                    picked_by=row.full_name,
                    quarantined=bool(row.quarantined),
                ),
            )
        )
    return [pick_row for _, pick_row in sorted(rows, key=lambda pair: pair[0])]


def _walking_order(
    path: list[Container], row: int | None, col: int | None, sample_id: int
) -> tuple:
    """Freezer, each container down to the box (by name, then id: two racks of one name in
    different freezers never interleave), position row by row, then tube id. Tubes in no box
    last."""
    if not path:
        return (1, (), 0, 0, sample_id)
    steps = tuple((container.name, container.id) for container in path)
    return (0, steps, row or 0, col or 0, sample_id)


def _place(sample: Sample) -> str | None:
    """Freezer › … › box › position of a tube read after its lock, or None."""
    if sample.position is None:
        return None
    names = [c.name for c in container_path(sample.position.box)]
    return " › ".join([*names, sample.position.label])


def _require_pickable(request: DistributionRequest) -> None:
    if request.status in PICKABLE:
        return
    hint = {
        RequestStatus.DRAFT: "approve it first, which reserves its tubes",
        RequestStatus.SHIPPED: "its tubes have left; nothing is left to pick",
        RequestStatus.CANCELLED: "its tubes were released",
    }[request.status]
    raise InvalidTransition(
        f"Request {request.id} is {request.status}: {hint}.",
        distribution_request=request.id,
        request_status=str(request.status),
    )


def pick_list(actor: User, request: DistributionRequest) -> PickList:
    """The pick list of an approved (or half-picked) request: its reserved tubes in the order
    to walk the freezers, each marked picked or not. Technicians and coordinators of the
    protocol's biobank."""
    policy.require_own_site(actor, request.protocol.site, policy.Action.PICK_AND_SHIP)
    _require_pickable(request)
    return PickList(request, _rows(request))


def pick_list_csv(actor: User, request: DistributionRequest) -> str:
    """The pick list as CSV (``PICK_LIST_COLUMNS``), formula-safe like every export."""
    listed = pick_list(actor, request)
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(PICK_LIST_COLUMNS)
    for row in listed.rows:
        writer.writerow(
            [
                row.barcode,
                row.tube_type,
                ml(row.volume_ml),
                row.freezer or "",
                " › ".join(row.path[1:-1]),
                row.box or "",
                row.position or "",
                "yes" if row.picked else "",
            ]
        )
    return buffer.getvalue()


def printed_at(request: DistributionRequest) -> str:
    zone = ZoneInfo(request.protocol.site.timezone)
    return in_zone(utcnow(), zone).strftime("%Y-%m-%d %H:%M %Z")


def pick_list_pdf(actor: User, request: DistributionRequest) -> bytes:
    """The pick list as a printable PDF: sample ID, tube type, volume, freezer path, box,
    position and a check box per tube; no participant ID."""
    listed = pick_list(actor, request)
    protocol = request.protocol
    spec = PickListSpec(
        request_id=request.id,
        protocol=f"{protocol.approval_number} · {protocol.title}",
        site=protocol.site.code,
        printed_at=printed_at(request),
        rows=tuple(
            PickListRow(
                sample_id=row.barcode,
                tube_code=row.tube_type,
                volume_ml=ml(row.volume_ml),
                path=" › ".join(row.path[:-1]) if row.path else "not in a box",
                box=row.box or "",
                position=row.position or "",
                picked=row.picked,
            )
            for row in listed.rows
        ),
    )
    return render_pick_list(spec)


# --- picking by scan ----------------------------------------------------------------------


@dataclass(frozen=True)
class Picked:
    """What a scan did: ``tube`` is the tube that goes to the study (the new aliquot when
    one was made, ``parent`` then being the tube it came from); ``already`` when it was
    picked before (nothing recorded); ``next`` the next tube to pick, None when all are."""

    request: DistributionRequest
    tube: Sample
    already: bool
    message: str
    next: PickRow | None
    remaining: int
    parent: Sample | None = None


def lock_request_for_picking(actor: User, request: DistributionRequest) -> DistributionRequest:
    """The request's row locked and read again, for a picking, packing or shipping write by
    a technician or coordinator of the protocol's biobank."""
    return lock_request(actor, request, policy.Action.PICK_AND_SHIP)


def open_item(request: DistributionRequest, sample: Sample) -> DistributionItem | None:
    """The tube's item on this request while it holds the tube (not released), read fresh."""
    return db.session.scalar(
        sa.select(DistributionItem)
        .where(
            DistributionItem.request_id == request.id,
            DistributionItem.sample_id == sample.id,
            DistributionItem.released_at.is_(None),
        )
        .execution_options(populate_existing=True)
    )


def _next_words(listed: PickList) -> str:
    upcoming = listed.next
    if upcoming is None:
        return f"Every tube of request {listed.request.id} is picked: pack them."
    return (
        f"The next tube to pick is {upcoming.display_barcode} at {upcoming.place} "
        f"(box {upcoming.box}, position {upcoming.position})."
        if upcoming.position
        else f"The next tube to pick is {upcoming.display_barcode}."
    )


def _wrong_tube(request: DistributionRequest, barcode: str, sample: Sample | None) -> Conflict:
    """A refusal saying what the scanned tube is and where the right next tube is."""
    listed = PickList(request, _rows(request))
    shown = ids.display(barcode)
    if sample is None:
        what = f"Tube {shown} is not a tube held here"
    elif sample.reserved_for_request_id is not None:
        what = (
            f"Tube {shown} is reserved for another request "
            f"({sample.reserved_for_request_id}), not request {request.id}"
        )
    else:
        status = str(sample.status).replace("_", " ")
        where = ""
        if sample.position is not None:
            where = f" at {_place(sample)}"
        what = f"Tube {shown} ({status}{where}) is not on request {request.id}'s pick list"
    return Conflict(
        f"{what}: put it back. {_next_words(listed)}",
        barcode=barcode,
        distribution_request=request.id,
        next=listed.next.barcode if listed.next else None,
    )


def _aliquot_sent_instead(request: DistributionRequest, sample: Sample) -> Sample | None:
    """The aliquot of ``sample`` made for this request at picking, if there is one."""
    return db.session.scalar(
        sa.select(Sample)
        .where(Sample.parent_id == sample.id, Sample.reserved_for_request_id == request.id)
        .order_by(Sample.id)
        .limit(1)
    )


def _aliquot_volume(request: DistributionRequest, sample: Sample, value: object) -> Decimal:
    volume = finite_decimal(value)
    if volume is None or volume <= 0:
        raise ValidationFailed.for_field(
            "aliquot_ml", "Give the volume to aliquot for the study in mL, above zero."
        )
    if volume < request.min_volume_ml:
        raise ValidationFailed.for_field(
            "aliquot_ml",
            f"Request {request.id} asks for at least {ml(request.min_volume_ml)} mL a tube: "
            f"aliquot {ml(request.min_volume_ml)} mL or more.",
        )
    held = sample.volume_ml or Decimal(0)
    if volume > held:
        raise ValidationFailed.for_field(
            "aliquot_ml",
            f"Tube {sample.display_barcode} holds {ml(held)} mL: aliquot at most that.",
        )
    return volume


def tube_event(
    kind: EventType,
    actor: User,
    request: DistributionRequest,
    sample: Sample,
    now: datetime,
    *,
    reason: str | None = None,
    **details: object,
) -> None:
    """A custody event about a tube and this request, at the protocol's biobank."""
    record_event(
        kind,
        actor=actor,
        sample=sample,
        site=request.protocol.site,
        reason=reason,
        details={
            "request": request.id,
            "protocol": request.protocol_id,
            "approval_number": request.protocol.approval_number,
            **details,
        },
        at=now,
    )


def _aliquot_for_study(
    actor: User,
    request: DistributionRequest,
    sample: Sample,
    item: DistributionItem,
    volume: Decimal,
    now: datetime,
) -> Sample:
    """Release the parent, aliquot ``volume`` out of it, and reserve and pick the child."""
    sample.reserved_for_request_id = None
    item.released_at, item.released_by_id = now, actor.id
    item.release_reason = "aliquoted at picking: its aliquot goes to the study instead"
    tube_event(EventType.RELEASED, actor, request, sample, now, reason=item.release_reason)
    db.session.flush()
    made = lifecycle.aliquot(actor, sample.barcode, count=1, volume_ml=volume)
    [child] = made.children
    child.reserved_for_request_id = request.id
    db.session.add(
        DistributionItem(
            request_id=request.id,
            sample_id=child.id,
            reserved_at=now,
            reserved_by_id=actor.id,
            picked_at=now,
            picked_by_id=actor.id,
        )
    )
    reason = f"aliquoted from {sample.display_barcode} at picking"
    tube_event(
        EventType.RESERVED, actor, request, child, now, reason=reason, aliquot_of=sample.barcode
    )
    return child


def pick(
    actor: User,
    request: DistributionRequest,
    scanned_text: str,
    *,
    aliquot_ml: Decimal | float | str | None = None,
) -> Picked:
    """Pick a scanned tube for an approved request: marked picked and checked out of its
    freezer (its position held until dispatch). The same tube again answers "already
    picked" and records nothing; a tube not reserved for this request is refused (409) with
    what it is and where the next tube to pick is; a quarantined one is refused until
    released.

    ``aliquot_ml``: aliquot that volume into a new child tube, which goes to the study in the
    parent's place (reserved and picked); the parent is released and stays stored. The
    answer's ``tube`` is then the child (print its label), ``parent`` the parent."""
    barcode = ids.sample_id_field(scanned_text)
    request = lock_request_for_picking(actor, request)
    _require_pickable(request)
    sample = lock_sample(barcode)
    if sample is not None and not policy.may_see(actor, sample):
        sample = None
    item = open_item(request, sample) if sample is not None else None
    if sample is not None and item is None:
        aliquot = _aliquot_sent_instead(request, sample)
        if aliquot is not None:  # the parent scanned again after aliquoting at picking
            listed = PickList(request, _rows(request))
            return Picked(
                request=request,
                tube=aliquot,
                already=True,
                message=(
                    f"Tube {sample.display_barcode} was aliquoted at picking: its aliquot "
                    f"{aliquot.display_barcode} goes to the study instead. Put "
                    f"{sample.display_barcode} back at {_place(sample) or 'its place'}. "
                    f"{_next_words(listed)}"
                ),
                next=listed.next,
                remaining=len(listed.remaining),
                parent=sample,
            )
    if (
        sample is None
        or item is None
        or sample.reserved_for_request_id != request.id
        or sample.custody_site_id != request.protocol.site_id
    ):
        raise _wrong_tube(request, barcode, sample)
    if item.picked_at is not None:
        listed = PickList(request, _rows(request))
        who = db.session.get(User, item.picked_by_id) if item.picked_by_id else None
        by = f" by {who.full_name}" if who else ""
        return Picked(
            request=request,
            tube=sample,
            already=True,
            message=(
                f"Tube {sample.display_barcode} is already picked{by} at "
                f"{item.picked_at:%Y-%m-%d %H:%M} UTC: nothing more to do. {_next_words(listed)}"
            ),
            next=listed.next,
            remaining=len(listed.remaining),
        )
    refusal = quarantine_refusal(sample, "picking it") or requests.consent_refusal(
        sample, request, "picking it"
    )
    if refusal is not None:
        raise refusal
    now = utcnow()
    parent = None
    if aliquot_ml is not None:
        volume = _aliquot_volume(request, sample, aliquot_ml)
        parent, sample = sample, _aliquot_for_study(actor, request, sample, item, volume, now)
        done = (
            f"Aliquoted {ml(volume)} mL of {parent.display_barcode} into {sample.display_barcode}"
            f" for request {request.id}: label and pack {sample.display_barcode}, and put "
            f"{parent.display_barcode} back."
        )
    else:
        where = _place(sample)
        transition(sample, SampleStatus.CHECKED_OUT)
        sample.checked_out_at = now
        item.picked_at, item.picked_by_id = now, actor.id
        reason = f"picked for distribution request {request.id}"
        tube_event(
            EventType.CHECKED_OUT,
            actor,
            request,
            sample,
            now,
            reason=reason,
            position=where,
            picked=True,
        )
        done = f"Picked {sample.display_barcode} for request {request.id}."
    if request.status == RequestStatus.APPROVED:
        REQUESTS.move(request, RequestStatus.PICKING, name=f"Request {request.id}")
    db.session.flush()
    listed = PickList(request, _rows(request))
    return Picked(
        request=request,
        tube=sample,
        already=False,
        message=f"{done} {_next_words(listed)}",
        next=listed.next,
        remaining=len(listed.remaining),
        parent=parent,
    )

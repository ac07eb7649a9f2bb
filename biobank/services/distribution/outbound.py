"""Outbound shipments to a study: the package that takes a request's picked tubes to the
protocol's institution, and the unused tubes that come back.

``open_shipment`` opens the request's one shipment (the institution, its address and the
responsible person copied from the protocol). ``pack`` adds a scanned tube: only a picked tube
of this request, not quarantined; the same tube again changes nothing. Each packed tube is
listed under its **study pseudonym** (``pseudonyms.study_pseudonym`` of its participant and
the protocol), fixed at packing; the manifest (``manifest_rows``, ``manifest_csv``,
``manifest_pdf``) never shows a participant ID.

``dispatch`` is signed (the person re-enters their password, as for a clinic's dispatch) and
does everything in one transaction: every packed tube leaves its storage position (the
position is freed for new tubes; the box's fill count follows, kept by the database), its
status becomes ``distributed`` through the samples' state table, its reservation is cleared
and it gets a ``distributed`` custody event (protocol, request, shipment, pseudonym, where it
was, the signature); tubes still reserved but never picked are released; the request becomes
shipped. It locks the request's row, then the shipment's, then the tubes' in id order (the
order picking and approval use), and reads them after the locks: of two dispatches at once,
one wins and the other is told (409) who dispatched it.

``cancel_shipment`` calls off a shipment not dispatched yet, with a reason: its packed tubes
are taken out (an ``unpacked`` event each) and stay picked and reserved for the request, which
may open another shipment; it locks as dispatch does, so of a cancel and a dispatch at once
one wins and the other is told (409).

``receive_return`` takes back a tube of a dispatched shipment that the study did not use:
received again at the biobank (``distributed → received``) with a reason and a ``received``
event, to be stored through the normal storage flow.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from biobank.db import utcnow
from biobank.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    DistributionItem,
    DistributionRequest,
    DistributionShipment,
    DistributionShipmentItem,
    EventType,
    OutboundStatus,
    RequestStatus,
    Sample,
    SampleStatus,
    StoragePosition,
    TubeType,
    User,
)
from biobank.services.core import accounts, ids, policy
from biobank.services.core.locks import lock_sample, lock_samples, locked
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import quarantine_refusal, transition
from biobank.services.core.spreadsheet import csv_writer
from biobank.services.core.timebounds import in_zone
from biobank.services.core.transitions import OUTBOUND, REQUESTS
from biobank.services.distribution import requests
from biobank.services.distribution.picking import (
    lock_request_for_picking,
    ml,
    open_item,
    printed_at,
    tube_event,
)
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.services.shipping.sending import carrier_fields, carrier_name
from biobank.services.storage.storage_paths import container_path
from biobank.unit_of_work import get_record
from labels.distribution import (
    DistributedTube,
    DistributionManifestSpec,
    render_distribution_manifest,
)

MANIFEST_COLUMNS = (
    "study_pseudonym",
    "sample_id",
    "tube_type",
    "volume_ml",
    "collected_on",
    "returned",
)
# Statuses a packed tube may leave the biobank from: in its box, checked out at picking, or at
# the bench (an aliquot made at picking).
LEAVING = (SampleStatus.STORED, SampleStatus.CHECKED_OUT, SampleStatus.RECEIVED)


def number(shipment: DistributionShipment) -> str:
    return DistributionShipment.number_of(shipment.id)


# --- reading -------------------------------------------------------------------------------


def get_shipment(actor: User, shipment_id: int) -> DistributionShipment:
    """An outbound shipment whose protocol the actor's site may see (otherwise 404)."""
    shipment = get_record(DistributionShipment, shipment_id)
    if shipment is None or not policy.may_see_protocol(actor, shipment.request.protocol):
        raise NotFound("No distribution shipment with that identifier is visible to you.")
    return shipment


def shipment_of(request: DistributionRequest) -> DistributionShipment | None:
    """The request's outbound shipment, if one was opened (and not cancelled)."""
    return db.session.scalar(
        sa.select(DistributionShipment).where(
            DistributionShipment.request_id == request.id,
            DistributionShipment.status != OutboundStatus.CANCELLED,
        )
    )


def cancelled_shipments(request: DistributionRequest) -> list[DistributionShipment]:
    """The request's shipments cancelled before dispatch, the latest first."""
    return list(
        db.session.scalars(
            sa.select(DistributionShipment)
            .where(
                DistributionShipment.request_id == request.id,
                DistributionShipment.status == OutboundStatus.CANCELLED,
            )
            .order_by(DistributionShipment.id.desc())
        )
    )


def _lock(actor: User, shipment: DistributionShipment) -> DistributionShipment:
    """The request's row, then the shipment's, locked and read again."""
    lock_request_for_picking(actor, shipment.request)
    stmt = sa.select(DistributionShipment).where(DistributionShipment.id == shipment.id)
    fresh = db.session.scalar(locked(stmt, DistributionShipment))
    if fresh is None:
        raise NotFound(f"Distribution shipment {number(shipment)} is gone: reload the page.")
    return fresh


def _refuse_unless(shipment: DistributionShipment, doing: str, *allowed: OutboundStatus) -> None:
    if shipment.status in allowed:
        return
    status = str(shipment.status).replace("_", " ")
    by = ""
    if shipment.dispatched_by is not None and shipment.dispatched_at is not None:
        by = (
            f" (dispatched by {shipment.dispatched_by.full_name} at "
            f"{shipment.dispatched_at:%Y-%m-%d %H:%M} UTC)"
        )
    raise InvalidTransition(
        f"Shipment {number(shipment)} is {status}{by}: {doing} is only possible while it is "
        f"{' or '.join(str(s).replace('_', ' ') for s in allowed)}. Reload the shipment.",
        shipment_status=str(shipment.status),
    )


# --- opening and packing -------------------------------------------------------------------


def open_shipment(actor: User, request: DistributionRequest) -> DistributionShipment:
    """The request's outbound shipment to its protocol's institution, opened now or the one
    already open (one per request). The request must be picking: pick a tube first."""
    request = lock_request_for_picking(actor, request)
    existing = shipment_of(request)
    if existing is not None:
        return existing
    if request.status != RequestStatus.PICKING:
        hint = {
            RequestStatus.DRAFT: "approve it and pick its tubes first",
            RequestStatus.APPROVED: "pick its tubes first (scan them off the pick list)",
        }.get(request.status, "it has nothing to ship")
        raise InvalidTransition(
            f"Request {request.id} is {request.status}: {hint}.",
            distribution_request=request.id,
            request_status=str(request.status),
        )
    protocol = request.protocol
    shipment = DistributionShipment(
        request_id=request.id,
        request=request,
        institution=protocol.institution,
        address=protocol.institution_address,
        responsible_person=protocol.responsible_person,
        status=OutboundStatus.OPEN,
        created_by_id=actor.id,
    )
    db.session.add(shipment)
    db.session.flush()
    return shipment


@dataclass(frozen=True)
class Packed:
    item: DistributionShipmentItem
    added: bool
    message: str


def _packed_item(shipment: DistributionShipment, sample: Sample) -> DistributionShipmentItem | None:
    return db.session.scalar(
        sa.select(DistributionShipmentItem).where(
            DistributionShipmentItem.shipment_id == shipment.id,
            DistributionShipmentItem.sample_id == sample.id,
        )
    )


def _participant(sample: Sample) -> str | None:
    return db.session.scalar(
        sa.select(Collection.participant_id).where(Collection.id == sample.collection_id)
    )


def pack(actor: User, shipment: DistributionShipment, scanned_text: str) -> Packed:
    """Pack a scanned tube: a picked tube of this shipment's request, not quarantined. The
    same tube again answers "already packed" (``added`` False) and records nothing."""
    barcode = ids.sample_id_field(scanned_text)
    shipment = _lock(actor, shipment)
    _refuse_unless(shipment, "packing", OutboundStatus.OPEN)
    request = shipment.request
    sample = lock_sample(barcode, position=False)
    if sample is None or not policy.may_see(actor, sample):
        raise NotFound(f"Tube {ids.display(barcode)} is not a tube held here: check the label.")
    existing = _packed_item(shipment, sample)
    if existing is not None:
        return Packed(
            existing, False, f"Tube {sample.display_barcode} is packed already: nothing to do."
        )
    if sample.reserved_for_request_id != request.id:
        held = (
            f"reserved for request {sample.reserved_for_request_id}"
            if sample.reserved_for_request_id is not None
            else "not reserved for any request"
        )
        raise Conflict(
            f"Tube {sample.display_barcode} is {held}, not request {request.id}: it does not "
            f"go in shipment {number(shipment)}. Put it back.",
            barcode=barcode,
        )
    item = open_item(request, sample)
    if item is None or item.picked_at is None:
        raise Conflict(
            f"Tube {sample.display_barcode} is not picked yet: pick it off request "
            f"{request.id}'s pick list first, then pack it.",
            barcode=barcode,
        )
    refusal = quarantine_refusal(sample, "packing it") or requests.consent_refusal(
        sample, request, "packing it"
    )
    if refusal is not None:
        raise refusal
    participant = _participant(sample)
    if participant is None:
        raise Conflict(
            f"Tube {sample.display_barcode} belongs to no participant's collection: it has no "
            "study pseudonym and cannot go to a study.",
            barcode=barcode,
        )
    now = utcnow()
    packed = DistributionShipmentItem(
        shipment_id=shipment.id,
        sample_id=sample.id,
        pseudonym=study_pseudonym(participant, request.protocol_id),
        packed_at=now,
        packed_by_id=actor.id,
    )
    db.session.add(packed)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # packed a moment ago by the same scan from another device
        again = _packed_item(shipment, sample)
        if again is None:
            raise
        return Packed(again, False, f"Tube {sample.display_barcode} is packed already.")
    tube_event(
        EventType.PACKED,
        actor,
        request,
        sample,
        now,
        distribution_shipment=shipment.id,
        pseudonym=packed.pseudonym,
    )
    db.session.flush()
    return Packed(packed, True, f"Packed {sample.display_barcode} into {number(shipment)}.")


def unpack(actor: User, shipment: DistributionShipment, scanned_text: str) -> None:
    """Take a tube out of an open shipment (it stays picked for the request)."""
    barcode = ids.sample_id_field(scanned_text)
    shipment = _lock(actor, shipment)
    _refuse_unless(shipment, "removing tubes", OutboundStatus.OPEN)
    sample = lock_sample(barcode, position=False)
    item = _packed_item(shipment, sample) if sample is not None else None
    if sample is None or item is None:
        raise NotFound(f"Tube {ids.display(barcode)} is not in shipment {number(shipment)}.")
    db.session.delete(item)
    tube_event(
        EventType.UNPACKED,
        actor,
        shipment.request,
        sample,
        utcnow(),
        distribution_shipment=shipment.id,
    )
    db.session.flush()


@dataclass(frozen=True)
class Cancelled:
    """A shipment cancelled before dispatch, and the tubes taken out of it (still picked for
    the request)."""

    shipment: DistributionShipment
    unpacked: list[str]


def cancel_shipment(actor: User, shipment: DistributionShipment, reason: str | None) -> Cancelled:
    """Call off an open shipment, with a reason: every packed tube is taken out of it (an
    ``unpacked`` custody event each, naming the reason) and stays picked and reserved for the
    request, which may open another shipment or be released. Locks as dispatch does (the
    request's row, the shipment's, then the tubes' in id order) and reads the status after
    the locks: of a cancel and a dispatch at once, one wins and the other is a 409 saying
    what happened. A shipment dispatched (or cancelled) already is a 409."""
    policy.require_own_site(actor, shipment.request.protocol.site, policy.Action.PICK_AND_SHIP)
    why = check_free_text(reason, "reason")
    if not why:
        raise ValidationFailed.for_field(
            "reason", "Give a reason to cancel the shipment (e.g. courier booking cancelled)."
        )
    shipment = _lock(actor, shipment)
    _refuse_unless(shipment, "cancelling", OutboundStatus.OPEN)
    request = shipment.request
    items = packed_items(shipment)
    tubes = {sample.id: sample for sample in lock_samples(item.sample_id for item in items)}
    now = utcnow()
    for item in items:
        db.session.delete(item)
        tube_event(
            EventType.UNPACKED,
            actor,
            request,
            tubes[item.sample_id],
            now,
            reason=why,
            distribution_shipment=shipment.id,
            shipment_cancelled=True,
        )
    OUTBOUND.move(shipment, OutboundStatus.CANCELLED, name=f"Shipment {number(shipment)}")
    shipment.cancelled_at, shipment.cancelled_by_id = now, actor.id
    shipment.cancel_reason = why
    db.session.flush()
    return Cancelled(shipment, sorted(tubes[item.sample_id].barcode for item in items))


def packed_items(shipment: DistributionShipment) -> list[DistributionShipmentItem]:
    """The shipment's tubes in the order they were packed."""
    return list(
        db.session.scalars(
            sa.select(DistributionShipmentItem)
            .where(DistributionShipmentItem.shipment_id == shipment.id)
            .order_by(DistributionShipmentItem.id)
        )
    )


# --- dispatch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatched:
    """A dispatched shipment, its tubes, and the request's tubes that did not go (reserved
    but never picked: released)."""

    shipment: DistributionShipment
    tubes: list[str]
    released: list[str]


def _dispatch_fields(
    shipment: DistributionShipment, carrier: str, tracking_number: str
) -> tuple[str, str, dict[str, list[str]]]:
    carrier, tracking, errors = carrier_fields(carrier, tracking_number)
    if not packed_items(shipment) and _status_now(shipment) == OutboundStatus.OPEN:
        errors["items"] = ["The shipment is empty: scan the picked tubes into it first."]
    return carrier, tracking, errors


def _status_now(shipment: DistributionShipment) -> OutboundStatus | None:
    """The shipment's status as committed now. Read after its packed tubes: a shipment found
    empty because it was cancelled meanwhile is then found cancelled, and its dispatch told
    so (409) once it holds the lock, not that it is empty."""
    return db.session.scalar(
        sa.select(DistributionShipment.status).where(DistributionShipment.id == shipment.id)
    )


def _place(position: StoragePosition | None) -> str | None:
    if position is None:
        return None
    return " › ".join([*(c.name for c in container_path(position.box)), position.label])


def dispatch(
    actor: User,
    shipment: DistributionShipment,
    *,
    carrier: str,
    tracking_number: str,
    signature_password: str | None = None,
    client_address: str | None = None,
) -> Dispatched:
    """Hand the package to the carrier, signed: every packed tube leaves its position (freed
    for new tubes), becomes distributed with its custody event, and is no longer reserved;
    the request's tubes never picked are released; the request is shipped. All in the
    caller's one transaction. A second dispatch of the same shipment is a 409."""
    policy.require_own_site(actor, shipment.request.protocol.site, policy.Action.PICK_AND_SHIP)
    carrier, tracking, errors = _dispatch_fields(shipment, carrier, tracking_number)
    # Signed before any lock: a password hash takes a while, and nobody need wait for it.
    signature = accounts.sign_after_checks(
        actor,
        signature_password,
        accounts.Meaning.DISTRIBUTION,
        errors,
        client_address=client_address,
    )
    shipment = _lock(actor, shipment)
    _refuse_unless(shipment, "dispatching", OutboundStatus.OPEN)
    request = shipment.request
    if request.status != RequestStatus.PICKING:
        raise InvalidTransition(
            f"Request {request.id} is {request.status}: its tubes cannot be shipped.",
            distribution_request=request.id,
        )
    items = packed_items(shipment)
    if not items:
        raise ValidationFailed.for_field(
            "items", "The shipment is empty: scan the picked tubes into it first."
        )
    tubes = {sample.id: sample for sample in lock_samples(item.sample_id for item in items)}
    positions = {
        position.sample_id: position
        for position in db.session.scalars(
            sa.select(StoragePosition)
            .where(StoragePosition.sample_id.in_(sorted(tubes)))
            .execution_options(populate_existing=True)
        )
    }
    blocked = []
    for sample in tubes.values():
        refusal = quarantine_refusal(sample, "shipping it")
        withdrawn = requests.consent_refusal(sample, request, "shipping it")
        if (
            refusal is not None
            or withdrawn is not None
            or sample.reserved_for_request_id != request.id
            or sample.status not in LEAVING
        ):
            why = "quarantined" if refusal else str(sample.status).replace("_", " ")
            if withdrawn is not None:
                why = "its participant withdrew: release it from the request"
            if sample.reserved_for_request_id != request.id:
                why = "no longer reserved for this request"
            blocked.append(f"{sample.display_barcode} ({why})")
    if blocked:
        raise Conflict(
            "Take these tubes out of the shipment before dispatch, they cannot go: "
            f"{', '.join(blocked)}.",
            shipment=number(shipment),
        )
    picked_unpacked = db.session.scalars(
        sa.select(Sample.barcode)
        .join(DistributionItem, DistributionItem.sample_id == Sample.id)
        .where(
            DistributionItem.request_id == request.id,
            DistributionItem.released_at.is_(None),
            DistributionItem.picked_at.is_not(None),
            Sample.reserved_for_request_id == request.id,
            Sample.id.not_in(sorted(tubes)),
        )
        .order_by(Sample.barcode)
    ).all()
    if picked_unpacked:
        raise Conflict(
            "These tubes were picked for the request but are not packed: pack them, or "
            "release them from the request, before dispatch: "
            f"{', '.join(ids.display(b) for b in picked_unpacked)}.",
            shipment=number(shipment),
        )
    now = utcnow()
    protocol = request.protocol
    for item in items:
        sample = tubes[item.sample_id]
        position = positions.get(sample.id)
        where = _place(position)
        if position is not None:
            # The position row goes: the place is free for a new tube, and the box's fill
            # count (kept by the database's triggers) goes down with it.
            db.session.delete(position)
            sample.position = None
        transition(sample, SampleStatus.DISTRIBUTED)
        sample.reserved_for_request_id = None
        sample.checked_out_at = None
        tube_event(
            EventType.DISTRIBUTED,
            actor,
            request,
            sample,
            now,
            distribution_shipment=shipment.id,
            pseudonym=item.pseudonym,
            institution=protocol.institution,
            carrier=carrier,
            tracking_number=tracking,
            position=where,
            signature=signature,
        )
    released = _release_unpicked(actor, request, now)
    OUTBOUND.move(shipment, OutboundStatus.DISPATCHED, name=f"Shipment {number(shipment)}")
    shipment.carrier, shipment.tracking_number = carrier, tracking
    shipment.dispatched_at, shipment.dispatched_by_id = now, actor.id
    shipment.signature = signature
    REQUESTS.move(request, RequestStatus.SHIPPED, name=f"Request {request.id}")
    db.session.flush()
    return Dispatched(shipment, [tubes[item.sample_id].barcode for item in items], released)


def _release_unpicked(actor: User, request: DistributionRequest, now: datetime) -> list[str]:
    """The request's tubes reserved but never picked: released as the request ships."""
    left = list(
        db.session.execute(
            sa.select(Sample.id, DistributionItem.id.label("item_id"))
            .join(DistributionItem, DistributionItem.sample_id == Sample.id)
            .where(
                Sample.reserved_for_request_id == request.id,
                DistributionItem.request_id == request.id,
                DistributionItem.released_at.is_(None),
                DistributionItem.picked_at.is_(None),
            )
        )
    )
    reason = f"not picked when request {request.id} shipped"
    released = []
    for sample in lock_samples(row.id for row in left):
        sample.reserved_for_request_id = None
        tube_event(EventType.RELEASED, actor, request, sample, now, reason=reason)
        released.append(sample.barcode)
    if left:
        db.session.execute(
            sa.update(DistributionItem)
            .where(DistributionItem.id.in_([row.item_id for row in left]))
            .values(released_at=now, released_by_id=actor.id, release_reason=reason)
        )
    return sorted(released)


# --- returns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Returned:
    sample: Sample
    already: bool
    message: str


def receive_return(
    actor: User, shipment: DistributionShipment, scanned_text: str, reason: str | None
) -> Returned:
    """Take back a tube of this dispatched shipment that the study did not use: received at
    the biobank again (to be stored through the normal storage flow), with the reason and a
    ``received`` event. The same tube again answers "already returned" and records nothing."""
    why = check_free_text(reason, "reason")
    if not why:
        raise ValidationFailed.for_field(
            "reason", "Give a reason for the return (e.g. unused, study ended)."
        )
    barcode = ids.sample_id_field(scanned_text)
    shipment = _lock(actor, shipment)
    _refuse_unless(
        shipment,
        "receiving returns",
        OutboundStatus.DISPATCHED,
        OutboundStatus.PARTLY_RETURNED,
        OutboundStatus.RETURNED,
    )
    sample = lock_sample(barcode)
    item = _packed_item(shipment, sample) if sample is not None else None
    if sample is None or item is None:
        raise Conflict(
            f"Tube {ids.display(barcode)} did not travel in shipment {number(shipment)}: check "
            "the label, or the shipment it came back from.",
            barcode=barcode,
        )
    if item.returned_at is not None:
        return Returned(
            sample,
            True,
            f"Tube {sample.display_barcode} was returned already "
            f"({item.returned_at:%Y-%m-%d %H:%M} UTC): store it.",
        )
    now = utcnow()
    transition(sample, SampleStatus.RECEIVED)
    sample.received_at = now
    item.returned_at, item.returned_by_id, item.return_reason = now, actor.id, why
    tube_event(
        EventType.RECEIVED,
        actor,
        shipment.request,
        sample,
        now,
        reason=why,
        returned_from=shipment.institution,
        distribution_shipment=shipment.id,
    )
    db.session.flush()
    left = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(DistributionShipmentItem)
        .where(
            DistributionShipmentItem.shipment_id == shipment.id,
            DistributionShipmentItem.returned_at.is_(None),
        )
    )
    target = OutboundStatus.RETURNED if left == 0 else OutboundStatus.PARTLY_RETURNED
    if shipment.status != target:
        OUTBOUND.move(shipment, target, name=f"Shipment {number(shipment)}")
    db.session.flush()
    return Returned(
        sample,
        False,
        f"Received {sample.display_barcode} back from {shipment.institution}: store it.",
    )


# --- the manifest --------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestRow:
    """A tube as the study knows it: its pseudonym, never the participant."""

    pseudonym: str
    barcode: str
    tube_type: str
    volume_ml: Decimal | None
    collected_on: str
    returned: bool

    @property
    def display_barcode(self) -> str:
        return ids.display(self.barcode)


def manifest_rows(actor: User, shipment: DistributionShipment) -> list[ManifestRow]:
    """The shipment's tubes by pseudonym, then sample ID (a participant's tubes together)."""
    shipment = get_shipment(actor, shipment.id)
    zone = ZoneInfo(shipment.request.protocol.site.timezone)
    rows = db.session.execute(
        sa.select(
            DistributionShipmentItem.pseudonym,
            Sample.barcode,
            TubeType.code,
            Sample.volume_ml,
            Sample.collected_at,
            DistributionShipmentItem.returned_at,
        )
        .join(Sample, Sample.id == DistributionShipmentItem.sample_id)
        .join(TubeType, TubeType.id == Sample.tube_type_id)
        .where(DistributionShipmentItem.shipment_id == shipment.id)
        .order_by(DistributionShipmentItem.pseudonym, Sample.barcode)
    ).all()
    return [
        ManifestRow(
            pseudonym=row.pseudonym,
            barcode=row.barcode,
            tube_type=row.code,
            volume_ml=row.volume_ml,
            collected_on=in_zone(row.collected_at, zone).date().isoformat()
            if row.collected_at
            else "",
            returned=row.returned_at is not None,
        )
        for row in rows
    ]


def manifest_csv(actor: User, shipment: DistributionShipment) -> str:
    """The manifest as CSV (``MANIFEST_COLUMNS``), formula-safe like every export."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(MANIFEST_COLUMNS)
    for row in manifest_rows(actor, shipment):
        writer.writerow(
            [
                row.pseudonym,
                row.barcode,
                row.tube_type,
                ml(row.volume_ml),
                row.collected_on,
                "yes" if row.returned else "",
            ]
        )
    return buffer.getvalue()


def manifest_pdf(actor: User, shipment: DistributionShipment) -> bytes:
    """The manifest to print and send with the tubes: each under its study pseudonym."""
    rows = manifest_rows(actor, shipment)
    request = shipment.request
    protocol, site = request.protocol, request.protocol.site
    zone = ZoneInfo(site.timezone)
    spec = DistributionManifestSpec(
        shipment_id=shipment.id,
        request_id=request.id,
        protocol=f"{protocol.approval_number} · {protocol.title}",
        origin=f"{site.code} · {site.name}",
        origin_address=site.address,
        institution=shipment.institution,
        institution_address=shipment.address,
        responsible_person=shipment.responsible_person,
        status=str(shipment.status),
        printed_at=printed_at(request),
        carrier=carrier_name(shipment.carrier),
        tracking_number=shipment.tracking_number,
        dispatched_at=in_zone(shipment.dispatched_at, zone).strftime("%Y-%m-%d %H:%M %Z")
        if shipment.dispatched_at
        else None,
        dispatched_by=shipment.dispatched_by.full_name if shipment.dispatched_by else None,
        tubes=tuple(
            DistributedTube(
                pseudonym=row.pseudonym,
                sample_id=row.barcode,
                tube_code=row.tube_type,
                volume_ml=ml(row.volume_ml),
                collection_date=row.collected_on or "—",
            )
            for row in rows
        ),
    )
    return render_distribution_manifest(spec)

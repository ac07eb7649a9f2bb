"""Receiving at the biobank: scan the manifest, scan every tube, record the package, close.

Scans are idempotent: the same tube twice is ``duplicate`` and records nothing new. Two
technicians scanning one tube at the same moment get one ``expected`` and one ``duplicate``
(the tube's row is locked while it is received). A scan made in error (a tube from the wrong
box) is undone with a reason while the receipt is open: the tube, its item and its flags go
back to what they were, and the undoing is its own custody event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased, lazyload

from biobank.db import table_of, utcnow
from biobank.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Event,
    EventType,
    FlagKind,
    ItemOutcome,
    PackageCondition,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    TubeType,
    User,
)
from biobank.services.core import accounts, ids, policy
from biobank.services.core.custody import record_event, record_events_in_bulk
from biobank.services.core.locks import (
    by_whom,
    latest_event,
    lock_sample,
    lock_samples,
    lock_shipment,
    who_and_when,
)
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import add_flag, can_transition, clear_flag, has_flag, transition
from biobank.services.core.settings import setting
from biobank.services.core.transitions import SAMPLES, SHIPMENTS
from biobank.unit_of_work import expire_loaded

RECEIVED_OUTCOMES = (ItemOutcome.RECEIVED, ItemOutcome.DAMAGED)
# A closed receipt: what was not scanned by then is missing.
CLOSED = (ShipmentStatus.RECEIVED, ShipmentStatus.RECEIVED_WITH_DISCREPANCIES)
# Where a receipt can take scans: on the way, or closed (a missing tube found later).
SCANNABLE = (
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.RECEIVED,
    ShipmentStatus.RECEIVED_WITH_DISCREPANCIES,
)
# Tubes that can arrive; one already received, stored or used stays as it is.
ON_THE_WAY = (
    SampleStatus.FINALIZED,
    SampleStatus.IN_TRANSIT,
    SampleStatus.CANCELLED,
    SampleStatus.MISSING,
)
# Conditions on arrival that put every tube's temperature in doubt.
TEMPERATURE_DOUBT = (PackageCondition.WARM, PackageCondition.DRY_ICE_GONE)


class ScanOutcome(StrEnum):
    EXPECTED = "expected"
    DUPLICATE = "duplicate"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class ReceiptCounts:
    expected: int
    received: int
    missing: int
    unexpected: int = 0
    damaged: int = 0
    # On this manifest, received in another shipment: neither awaited here nor missing.
    elsewhere: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "expected": self.expected,
            "received": self.received,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "damaged": self.damaged,
            "elsewhere": self.elsewhere,
        }


@dataclass(frozen=True)
class ScanResult:
    """What a scan did. Made inside the scan's transaction, from what it read or wrote there:
    the answer needs nothing from the database after the commit."""

    outcome: ScanOutcome
    barcode: str
    tube_type: str
    counts: ReceiptCounts
    late: bool = False
    flags: list[str] = field(default_factory=list)
    message: str = ""

    @classmethod
    def of(cls, outcome: ScanOutcome, sample: Sample, counts: ReceiptCounts, **rest) -> ScanResult:
        return cls(outcome, sample.barcode, sample.tube_type.code, counts, **rest)


def count_outcomes(rows: Iterable[tuple[bool, ItemOutcome | None, int]]) -> ReceiptCounts:
    """Counts from (manifested, outcome, how many) rows: one rule for SQL and loaded items."""
    rows = list(rows)
    expected = sum(n for manifested, _, n in rows if manifested)
    received = sum(n for manifested, o, n in rows if manifested and o in RECEIVED_OUTCOMES)
    elsewhere = sum(n for _, o, n in rows if o == ItemOutcome.ARRIVED_ELSEWHERE)
    return ReceiptCounts(
        expected=expected,
        received=received,
        missing=expected - received - elsewhere,
        unexpected=sum(n for manifested, _, n in rows if not manifested),
        damaged=sum(n for _, o, n in rows if o == ItemOutcome.DAMAGED),
        elsewhere=elsewhere,
    )


_COUNT_OUTCOMES = (
    sa.select(ShipmentItem.manifested, ShipmentItem.outcome, sa.func.count())
    .where(ShipmentItem.shipment_id == sa.bindparam("shipment_id"))
    .group_by(ShipmentItem.manifested, ShipmentItem.outcome)
)


def receipt_counts(shipment: Shipment) -> ReceiptCounts:
    """Live counts without loading every item (the scan hot path)."""
    return count_outcomes(db.session.execute(_COUNT_OUTCOMES, {"shipment_id": shipment.id}).all())


def unscanned_are_missing(shipment: Shipment) -> bool:
    """Whether a manifest's tubes not scanned in count as missing: once the receipt is closed,
    or once the shipment has been on its way ``BIOBANK_MISSING_DAYS`` (the reports' rule).
    Until then they are still to scan, not lost."""
    if shipment.status in CLOSED:
        return True
    dispatched = shipment.dispatched_at
    return (
        shipment.status == ShipmentStatus.IN_TRANSIT
        and dispatched is not None
        and utcnow() - dispatched >= timedelta(days=setting("BIOBANK_MISSING_DAYS"))
    )


class ArrivedElsewhere(NamedTuple):
    """A manifest's tube that was received in another shipment (``arrived_in``)."""

    sample: Sample
    arrived_in: str

    @property
    def barcode(self) -> str:
        return self.sample.barcode


def arrived_elsewhere(shipment: Shipment) -> list[ArrivedElsewhere]:
    """The manifest's tubes received in another shipment, each with that shipment's manifest
    number, in the order they were packed."""
    found = aliased(ShipmentItem)
    return [
        ArrivedElsewhere(sample, manifest_number)
        for sample, manifest_number in db.session.execute(
            sa.select(Sample, Shipment.manifest_number)
            .join(ShipmentItem, ShipmentItem.sample_id == Sample.id)
            .join(found, found.sample_id == Sample.id)
            .join(Shipment, Shipment.id == found.shipment_id)
            .where(
                ShipmentItem.shipment_id == shipment.id,
                ShipmentItem.outcome == ItemOutcome.ARRIVED_ELSEWHERE,
                found.shipment_id != shipment.id,
                found.outcome == ItemOutcome.UNEXPECTED,
            )
            .order_by(ShipmentItem.id, found.id)
        )
    ]


def _meant_for(sample: Sample, shipment: Shipment, now, actor: User) -> str | None:
    """A tube that arrived unexpected in ``shipment``: its items on other manifests still
    waiting for it (or calling it missing) now say it arrived elsewhere. Answers the manifest
    number it was meant for, if any. The tube is locked, so no receipt closes it meanwhile."""
    waiting = db.session.execute(
        sa.select(ShipmentItem, Shipment.manifest_number)
        .join(Shipment, Shipment.id == ShipmentItem.shipment_id)
        .where(
            ShipmentItem.sample_id == sample.id,
            ShipmentItem.shipment_id != shipment.id,
            ShipmentItem.manifested.is_(True),
            sa.or_(ShipmentItem.outcome.is_(None), ShipmentItem.outcome == ItemOutcome.MISSING),
            Shipment.status.in_(SCANNABLE),
        )
        .options(lazyload(ShipmentItem.sample))
        .order_by(ShipmentItem.id)
    ).all()
    for item, _ in waiting:
        item.outcome = ItemOutcome.ARRIVED_ELSEWHERE
        item.scanned_at = now
        item.scanned_by_id = actor.id
    return waiting[-1][1] if waiting else None


def tubes_still_missing(shipment: Shipment) -> list[Sample]:
    return list(
        db.session.scalars(
            sa.select(Sample)
            .join(ShipmentItem, ShipmentItem.sample_id == Sample.id)
            .where(
                ShipmentItem.shipment_id == shipment.id,
                ShipmentItem.manifested.is_(True),
                sa.or_(ShipmentItem.outcome.is_(None), ShipmentItem.outcome == ItemOutcome.MISSING),
            )
            .order_by(ShipmentItem.id)
        )
    )


def may_receive(actor: User, shipment: Shipment) -> bool:
    """Whether this user scans this shipment in: its destination's receiving staff, while its
    receipt can take scans."""
    return (
        policy.can(actor, policy.Action.RECEIVE)
        and shipment.destination_site_id == actor.site_id
        and shipment.status in SCANNABLE
    )


def _require_receiver(actor: User, shipment: Shipment) -> None:
    policy.require_own_site(actor, shipment.destination, policy.Action.RECEIVE)


def open_receipt(actor: User, shipment: Shipment) -> Shipment:
    """Start receiving (scanning the manifest barcode does this); safe to repeat.

    Locks the shipment for the rest of the unit of work: its scans take turns, so the receipt
    is opened once and a scan never lands in a receipt being closed at that moment."""
    _require_receiver(actor, shipment)
    shipment = lock_shipment(shipment, with_items=False)
    if shipment.status not in SCANNABLE:
        status = str(shipment.status).replace("_", " ")
        raise InvalidTransition(
            f"Shipment {shipment.manifest_number} is {status}: only a dispatched shipment can "
            "be received."
        )
    if shipment.receipt_opened_at is None:
        shipment.receipt_opened_at = utcnow()
        shipment.receipt_opened_by_id = actor.id
        record_event(
            EventType.RECEIPT_OPENED,
            actor=actor,
            shipment=shipment,
            details={"manifest_number": shipment.manifest_number},
        )
        db.session.flush()
    return shipment


def _arrive(actor: User, shipment: Shipment, sample: Sample, *, late: bool) -> list[str]:
    """The tube is physically here: receive it, flagging what is unusual."""
    flags: list[str] = []
    was = sample.status
    if was == SampleStatus.CANCELLED:
        add_flag(
            sample,
            FlagKind.RECEIVED_AFTER_CANCEL,
            actor=actor,
            note="its collection was cancelled, but the tube arrived",
        )
        flags.append(str(FlagKind.RECEIVED_AFTER_CANCEL))
    if late:
        add_flag(
            sample,
            FlagKind.LATE,
            actor=actor,
            note=f"found after the receipt of {shipment.manifest_number} was closed",
        )
        flags.append(str(FlagKind.LATE))
    # The event first, so the sample's received_at is the event's own time to the microsecond.
    event = record_event(
        EventType.RECEIVED,
        actor=actor,
        sample=sample,
        shipment=shipment,
        details={
            "manifest_number": shipment.manifest_number,
            "previous_status": str(was),
            "late": late,
        },
    )
    if sample.status in ON_THE_WAY and can_transition(sample, SampleStatus.RECEIVED):
        transition(sample, SampleStatus.RECEIVED)
        sample.custody_site_id = shipment.destination_site_id
        sample.received_at = event.at
    return flags


def receive_scan(
    actor: User, shipment: Shipment, text: str, *, damaged: bool = False, note: str | None = None
) -> ScanResult:
    """One scanned tube: ``expected`` (on the manifest), ``duplicate`` or ``unexpected``."""
    open_receipt(actor, shipment)
    barcode = ids.sample_id_field(text)
    note = check_free_text(note, "note")
    if not damaged:
        arrived = _arrived_as_sent(actor, shipment, barcode)
        if arrived is not None:
            return arrived
    sample = lock_sample(barcode, position=False)
    if sample is None:
        raise NotFound(
            f"{ids.display(barcode)} is not known to this system: set the tube aside and report "
            "it. Nothing was recorded."
        )
    # The tube is loaded already: joining it again would load its flags a second time.
    item = db.session.scalar(
        sa.select(ShipmentItem)
        .where(ShipmentItem.shipment_id == shipment.id, ShipmentItem.sample_id == sample.id)
        .options(lazyload(ShipmentItem.sample))
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if item is not None and item.outcome in (*RECEIVED_OUTCOMES, ItemOutcome.UNEXPECTED):
        return ScanResult.of(
            ScanOutcome.DUPLICATE,
            sample,
            receipt_counts(shipment),
            message=f"{sample.display_barcode} was scanned already.",
        )
    meant_for = None  # for a tube not on this manifest: the manifest it is on
    if item is not None:
        late = item.outcome == ItemOutcome.MISSING
        flags = _arrive(actor, shipment, sample, late=late)
        item.outcome = ItemOutcome.DAMAGED if damaged else ItemOutcome.RECEIVED
        item.scanned_at = now
        item.scanned_by_id = actor.id
        outcome = ScanOutcome.EXPECTED
    else:
        late = False
        item = ShipmentItem(
            shipment_id=shipment.id,
            sample_id=sample.id,
            manifested=False,
            outcome=ItemOutcome.UNEXPECTED,
            added_by_id=actor.id,
            scanned_at=now,
            scanned_by_id=actor.id,
        )
        db.session.add(item)
        meant_for = _meant_for(sample, shipment, now, actor)
        add_flag(
            sample,
            FlagKind.UNEXPECTED,
            actor=actor,
            shipment=shipment.manifest_number,
            note=f"arrived in {shipment.manifest_number} without being on its manifest"
            + (f" (it is on the manifest of {meant_for})" if meant_for else ""),
        )
        flags = [str(FlagKind.UNEXPECTED)]
        if sample.status in ON_THE_WAY:
            flags += _arrive(actor, shipment, sample, late=False)
        outcome = ScanOutcome.UNEXPECTED
    if damaged:
        add_flag(sample, FlagKind.DAMAGED, actor=actor, note=note or "damaged on arrival")
        flags.append(str(FlagKind.DAMAGED))
    db.session.flush()
    return ScanResult.of(
        outcome,
        sample,
        receipt_counts(shipment),
        late=late,
        flags=flags,
        message=_scan_message(outcome, sample, late, meant_for),
    )


# A tube on the manifest, dispatched with this shipment and not scanned yet: nearly every scan
# on a receipt day. It is received by guarded UPDATEs (the row changes only if it is still in
# that state, and stays locked until commit) instead of load, check and flush; anything else
# (a second scan, a stray, a late or cancelled tube, damage) goes the full way below.
AS_SENT = SampleStatus.IN_TRANSIT
assert SAMPLES.allows(AS_SENT, SampleStatus.RECEIVED) and AS_SENT in ON_THE_WAY


# Built once: a statement made afresh on every scan costs more CPU than running it.
_SAMPLES, _ITEMS = table_of(Sample), table_of(ShipmentItem)
_RECEIVE_TUBE_AS_SENT = (
    sa.update(_SAMPLES)
    .where(
        _SAMPLES.c.barcode == sa.bindparam("the_barcode"),
        _SAMPLES.c.status == AS_SENT,
        _SAMPLES.c.id.in_(
            sa.select(_ITEMS.c.sample_id).where(
                _ITEMS.c.shipment_id == sa.bindparam("the_shipment_id"),
                _ITEMS.c.manifested.is_(True),
                _ITEMS.c.outcome.is_(None),
            )
        ),
    )
    .values(
        status=SampleStatus.RECEIVED,
        custody_site_id=sa.bindparam("the_destination_site_id"),
        received_at=sa.bindparam("the_now"),
    )
    .returning(
        _SAMPLES.c.id,
        sa.select(TubeType.code).where(TubeType.id == _SAMPLES.c.tube_type_id).scalar_subquery(),
    )
)
_RECEIVE_ITEM_AS_SENT = (
    sa.update(_ITEMS)
    .where(
        _ITEMS.c.shipment_id == sa.bindparam("the_shipment_id"),
        _ITEMS.c.sample_id == sa.bindparam("the_sample_id"),
        _ITEMS.c.outcome.is_(None),
    )
    .values(
        outcome=ItemOutcome.RECEIVED,
        scanned_at=sa.bindparam("the_now"),
        scanned_by_id=sa.bindparam("the_actor_id"),
    )
    .returning(_ITEMS.c.id)
)


def _arrived_as_sent(actor: User, shipment: Shipment, barcode: str) -> ScanResult | None:
    now = utcnow()
    connection = db.session.connection()
    received = connection.execute(
        _RECEIVE_TUBE_AS_SENT,
        {
            "the_barcode": barcode,
            "the_shipment_id": shipment.id,
            "the_destination_site_id": shipment.destination_site_id,
            "the_now": now,
        },
    ).one_or_none()
    if received is None:
        return None
    sample_id, tube_type = received
    item_id = connection.scalar(
        _RECEIVE_ITEM_AS_SENT,
        {
            "the_shipment_id": shipment.id,
            "the_sample_id": sample_id,
            "the_now": now,
            "the_actor_id": actor.id,
        },
    )
    record_events_in_bulk(
        [
            {
                "type": EventType.RECEIVED,
                "sample_id": sample_id,
                "sample_barcode": barcode,
                "shipment_id": shipment.id,
                "details": {
                    "manifest_number": shipment.manifest_number,
                    "previous_status": str(AS_SENT),
                    "late": False,
                },
            }
        ],
        actor=actor,
        at=now,
    )
    expire_loaded((Sample, sample_id), (ShipmentItem, item_id))
    return ScanResult(
        ScanOutcome.EXPECTED,
        barcode,
        tube_type,
        receipt_counts(shipment),
        message=f"{ids.display(barcode)} ({tube_type}) received.",
    )


def _scan_message(
    outcome: ScanOutcome, sample: Sample, late: bool, meant_for: str | None = None
) -> str:
    if outcome == ScanOutcome.UNEXPECTED and sample.status != SampleStatus.RECEIVED:
        # It was never dispatched (or is already stored): recorded and flagged, not received.
        status = str(sample.status).replace("_", " ")
        return (
            f"{sample.display_barcode} ({sample.tube_type.code}) is not on this manifest and is "
            f"{status} at {sample.site.code}: flagged, not received. Set it aside and tell the "
            "site."
        )
    if outcome == ScanOutcome.UNEXPECTED and meant_for:
        return (
            f"{sample.display_barcode} ({sample.tube_type.code}) is not on this manifest but on "
            f"the manifest of {meant_for}: received here and flagged; {meant_for} no longer "
            "waits for it."
        )
    if outcome == ScanOutcome.UNEXPECTED:
        return (
            f"{sample.display_barcode} ({sample.tube_type.code}) is not on this manifest: "
            "received and flagged."
        )
    if late:
        return f"{sample.display_barcode} was missing: received now and flagged late."
    return f"{sample.display_barcode} ({sample.tube_type.code}) received."


# --- undoing a scan made in error --------------------------------------------------------------

# The flags a receiving scan raises: undoing the scan clears those it raised.
SCAN_FLAGS = (
    FlagKind.UNEXPECTED,
    FlagKind.DAMAGED,
    FlagKind.LATE,
    FlagKind.RECEIVED_AFTER_CANCEL,
)
# What may follow a scan and still leave it undoable: flags and labels, not a change of place
# or state.
_NOT_A_CHANGE = (EventType.FLAGGED, EventType.LABEL_REPRINTED)


@dataclass(frozen=True)
class UndoneScan:
    """A scan undone: the tube's status now, and the receipt's counts after it."""

    barcode: str
    tube_type: str
    status: SampleStatus
    counts: ReceiptCounts
    message: str


def _undo_reason(reason: str | None) -> str:
    reason = check_free_text(reason, "reason")
    if not reason:
        raise ValidationFailed.for_field(
            "reason", "Say why the scan is undone, e.g. the tube came from another shipment's box."
        )
    return reason


def _refuse_if_changed_since(actor: User, sample: Sample, received_event_id: int) -> None:
    """A scan is undone only while nothing but flags followed it: a tube stored, moved or
    aliquoted since is handled from its own page."""
    followed = db.session.scalar(
        sa.select(Event)
        .where(
            Event.sample_id == sample.id,
            Event.id > received_event_id,
            Event.type.not_in([str(t) for t in _NOT_A_CHANGE]),
        )
        .order_by(Event.id.desc())
        .limit(1)
    )
    if followed is not None:
        done = followed.type.replace("_", " ")
        raise InvalidTransition(
            f"Tube {sample.display_barcode} was {done} {by_whom(actor, followed)}, after it was "
            "scanned in: only a scan that nothing followed can be undone. Correct the tube from "
            "its own page.",
            barcode=sample.barcode,
            sample_status=str(sample.status),
        )


def undo_scan(actor: User, shipment: Shipment, text: str, reason: str | None) -> UndoneScan:
    """Undo a receiving scan made in error, while the receipt is open.

    The tube goes back to the status it had before the scan (in transit, or where it was if it
    was never dispatched), its item back to waiting (or away, if it was not on the manifest),
    the manifests that stopped waiting for it wait again, and the flags the scan raised are
    cleared, each with the reason. Refused once the receipt is closed, or once something
    other than a flag happened to the tube after the scan."""
    _require_receiver(actor, shipment)
    reason = _undo_reason(reason)
    barcode = ids.sample_id_field(text)
    shipment = lock_shipment(shipment, with_items=False)
    if shipment.status != ShipmentStatus.IN_TRANSIT:
        status = str(shipment.status).replace("_", " ")
        raise InvalidTransition(
            f"Shipment {shipment.manifest_number} is {status}: scans are undone only while its "
            "receipt is open. Quarantine or flag the tube from its page instead.",
            shipment_status=str(shipment.status),
        )
    # A tube that arrived here unexpected made other manifests stop waiting for it: those
    # shipments are locked before the tube (shipments before tubes, as every writer locks),
    # so none of them closes its receipt while its item is put back.
    for other_id in db.session.scalars(
        sa.select(ShipmentItem.shipment_id)
        .join(Sample, Sample.id == ShipmentItem.sample_id)
        .where(
            Sample.barcode == barcode,
            ShipmentItem.shipment_id != shipment.id,
            ShipmentItem.outcome == ItemOutcome.ARRIVED_ELSEWHERE,
        )
        .order_by(ShipmentItem.shipment_id)
    ):
        lock_shipment(db.session.get_one(Shipment, other_id), with_items=False)
    sample = lock_sample(barcode, position=False)
    item = (
        db.session.scalar(
            sa.select(ShipmentItem)
            .where(
                ShipmentItem.shipment_id == shipment.id,
                ShipmentItem.sample_id == sample.id,
                ShipmentItem.outcome.in_([*RECEIVED_OUTCOMES, ItemOutcome.UNEXPECTED]),
            )
            .options(lazyload(ShipmentItem.sample))
            .execution_options(populate_existing=True)
        )
        if sample is not None
        else None
    )
    if sample is None or item is None:
        raise Conflict(
            f"{ids.display(barcode)} was not scanned into {shipment.manifest_number}: there is "
            "no scan of it to undo here.",
            barcode=barcode,
        )
    if has_flag(sample, FlagKind.QUARANTINED):
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is quarantined: release it from quarantine on its "
            "page before undoing its scan.",
            barcode=sample.barcode,
        )
    # The scan received the tube (it was on its way), or only flagged it (it was not).
    latest = latest_event(
        [EventType.RECEIVED, EventType.RECEIPT_SCAN_UNDONE], sample=sample, shipment=shipment
    )
    received = latest if latest is not None and latest.type == EventType.RECEIVED else None
    target = sample.status
    if received is not None:
        _refuse_if_changed_since(actor, sample, received.id)
        target = SampleStatus(received.details.get("previous_status", SampleStatus.IN_TRANSIT))
    scanned_at = item.scanned_at
    custody_site_id = sample.site_id
    if item.manifested:
        item.outcome = None
        item.scanned_at = None
        item.scanned_by_id = None
        custody_site_id = shipment.destination_site_id
    else:
        db.session.delete(item)
        # The manifests that stopped waiting for the tube when it turned up here wait again;
        # one whose receipt has closed meanwhile now calls it missing.
        for other, other_status, destination in db.session.execute(
            sa.select(ShipmentItem, Shipment.status, Shipment.destination_site_id)
            .join(Shipment, Shipment.id == ShipmentItem.shipment_id)
            .where(
                ShipmentItem.sample_id == sample.id,
                ShipmentItem.outcome == ItemOutcome.ARRIVED_ELSEWHERE,
            )
            .options(lazyload(ShipmentItem.sample))
            .order_by(ShipmentItem.id)
            .execution_options(populate_existing=True)
        ):
            custody_site_id = destination
            if other_status in CLOSED:
                other.outcome = ItemOutcome.MISSING
                if target in (SampleStatus.IN_TRANSIT, SampleStatus.MISSING):
                    target = SampleStatus.MISSING
            else:
                other.outcome = None
                other.scanned_at = None
                other.scanned_by_id = None
    if target != sample.status:
        transition(sample, target)
        sample.custody_site_id = custody_site_id
        sample.received_at = None
    for kind in SCAN_FLAGS:
        raised = next((f for f in sample.flags if f.kind == kind), None)
        if raised is not None and scanned_at is not None and raised.created_at >= scanned_at:
            clear_flag(sample, kind, actor=actor, why=f"scan undone: {reason}")
    record_event(
        EventType.RECEIPT_SCAN_UNDONE,
        actor=actor,
        sample=sample,
        shipment=shipment,
        reason=reason,
        details={
            "manifest_number": shipment.manifest_number,
            "status": str(sample.status),
            "was_on_manifest": item.manifested,
        },
    )
    db.session.flush()
    status = str(sample.status).replace("_", " ")
    return UndoneScan(
        sample.barcode,
        sample.tube_type.code,
        sample.status,
        receipt_counts(shipment),
        f"Scan of {sample.display_barcode} ({sample.tube_type.code}) undone: the tube is "
        f"{status} again.",
    )


def close_receipt(
    actor: User,
    shipment: Shipment,
    *,
    condition: PackageCondition | str,
    temperature_c: Decimal | float | str | None = None,
    notes: str | None = None,
    signature_password: str | None = None,
    client_address: str | None = None,
) -> Shipment:
    """Unscanned tubes become missing; the shipment is received, or received with discrepancies."""
    _require_receiver(actor, shipment)
    shipment = lock_shipment(shipment, with_items=False)  # its items are queried below
    if shipment.status != ShipmentStatus.IN_TRANSIT:
        status = str(shipment.status).replace("_", " ")
        closed = (
            f" (closed {who_and_when(actor, [EventType.RECEIPT_CLOSED], shipment=shipment)})"
            if shipment.status in CLOSED
            else ""
        )
        raise InvalidTransition(
            f"Shipment {shipment.manifest_number} is {status}{closed}: its receipt cannot be "
            "closed. Reload the shipment to see where it stands.",
            shipment_status=str(shipment.status),
        )
    errors: dict[str, list[str]] = {}
    package = None
    try:
        package = PackageCondition(condition)
    except ValueError:
        errors["condition"] = [
            "Say how the package arrived: good, damaged, leaking, warm, or with the dry ice gone."
        ]
    temperature = None
    if temperature_c not in (None, ""):
        temperature = finite_decimal(temperature_c)
        if temperature is None:
            errors["temperature_c"] = ["Give the arrival temperature as a number of °C."]
        elif not Decimal("-200") <= temperature <= Decimal("60"):
            errors["temperature_c"] = ["Give the arrival temperature in °C (-200 to 60)."]
    signature = accounts.sign_after_checks(
        actor,
        signature_password,
        accounts.Meaning.RECEIPT,
        errors,
        client_address=client_address,
    )
    assert package is not None  # refused above otherwise
    notes = check_free_text(notes, "notes")
    now = utcnow()
    unscanned_stmt = sa.select(ShipmentItem).where(
        ShipmentItem.shipment_id == shipment.id,
        ShipmentItem.manifested.is_(True),
        ShipmentItem.outcome.is_(None),
    )
    lock_samples(item.sample_id for item in db.session.scalars(unscanned_stmt).all())
    # Read again under the tubes' locks: one may have turned up in another shipment since.
    unscanned = db.session.scalars(unscanned_stmt.execution_options(populate_existing=True)).all()
    for item in unscanned:
        item.outcome = ItemOutcome.MISSING
        transition(item.sample, SampleStatus.MISSING)
    db.session.flush()  # the tubes first, then their events
    for item in unscanned:
        record_event(
            EventType.MISSING,
            actor=actor,
            sample=item.sample,
            shipment=shipment,
            details={"manifest_number": shipment.manifest_number},
            at=now,
        )
    if package in TEMPERATURE_DOUBT:
        arrived = db.session.scalars(
            sa.select(Sample)
            .join(ShipmentItem, ShipmentItem.sample_id == Sample.id)
            .where(
                ShipmentItem.shipment_id == shipment.id,
                ShipmentItem.outcome.in_([*RECEIVED_OUTCOMES, ItemOutcome.UNEXPECTED]),
            )
        ).all()
        for sample in arrived:
            add_flag(
                sample,
                FlagKind.TEMPERATURE_EXCURSION,
                actor=actor,
                note=f"package arrived {package.value.replace('_', ' ')}",
            )
    counts = receipt_counts(shipment)
    discrepant = (
        counts.missing
        or counts.unexpected
        or counts.damaged
        or counts.elsewhere
        or (package != PackageCondition.GOOD)
    )
    SHIPMENTS.move(
        shipment,
        ShipmentStatus.RECEIVED_WITH_DISCREPANCIES if discrepant else ShipmentStatus.RECEIVED,
        name=f"Shipment {shipment.manifest_number}",
    )
    shipment.condition = package
    shipment.arrival_temperature_c = temperature
    shipment.receipt_notes = notes
    shipment.received_at = now
    shipment.received_by_id = actor.id
    if shipment.receipt_opened_at is None:
        shipment.receipt_opened_at = now
        shipment.receipt_opened_by_id = actor.id
    record_event(
        EventType.RECEIPT_CLOSED,
        actor=actor,
        shipment=shipment,
        at=now,
        reason=notes,
        details={
            "condition": str(package),
            "temperature_c": temperature,
            "status": str(shipment.status),
            "signature": signature,
            **counts.as_dict(),
        },
    )
    db.session.flush()
    return shipment

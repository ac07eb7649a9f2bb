"""Shipments from a clinic: open, pack by scanning, unpack, dispatch, cancel; the manifest.

Packing does not change a tube's status (it stays ``finalized``); dispatch moves every packed
tube to ``in_transit`` with its custody passing to the destination, in one transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload, selectinload

import labels
from biobank.db import utcnow
from biobank.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    EventType,
    ItemOutcome,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    Site,
    SiteKind,
    TemperatureClass,
    TubeType,
    User,
)
from biobank.services.core import accounts, ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import (
    lock_sample,
    lock_samples,
    lock_shipment,
    locked,
    mark_held,
    on_postgres,
    who_and_when,
)
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import transition
from biobank.services.core.sites import site_field
from biobank.services.core.timebounds import in_zone
from biobank.services.core.transitions import SHIPMENTS
from biobank.unit_of_work import get_record, is_record_id

CARRIERS = ("fedex", "ups", "courier")
CARRIER_NAMES = {"fedex": "FedEx", "ups": "UPS", "courier": "Courier"}
FEDEX_TRACKING = re.compile(r"^\d{12,14}$")
UPS_TRACKING = re.compile(r"^1Z[0-9A-Z]{16}$")
# Shipments a tube may be in at most one of at a time.
LIVE_SHIPMENTS = (ShipmentStatus.OPEN, ShipmentStatus.IN_TRANSIT)


# --- reading -----------------------------------------------------------------------------


def _shipment_options(with_items: bool) -> list[Any]:
    if with_items:
        return [selectinload(Shipment.items)]
    return [lazyload(Shipment.origin), lazyload(Shipment.destination)]


@functools.cache
def _locked_shipment(with_items: bool, postgres: bool) -> sa.Select[Any]:
    """A shipment read past the identity map under its row lock, built once per shape: every
    receipt scan locks its shipment, and a statement made afresh (its options, its lock) costs
    more CPU than running it."""
    return locked(
        sa.select(Shipment)
        .where(Shipment.id == sa.bindparam("id"))
        .options(*_shipment_options(with_items)),
        Shipment,
        postgres=postgres,
    )


def get_shipment(
    user: User, shipment_id: int, *, lock: bool = False, with_items: bool = True
) -> Shipment:
    """The shipment, if visible. ``with_items=False`` for the scan path: a receipt of a
    thousand tubes must not load a thousand items for every scan, nor join its two sites
    (the receiving one is the user's own, loaded already; the other is read if used)."""
    shipment: Shipment | None
    if lock:
        shipment = (
            db.session.scalars(_locked_shipment(with_items, on_postgres()), {"id": shipment_id})
            .unique()
            .one_or_none()
            if is_record_id(shipment_id)
            else None
        )
    else:
        shipment = get_record(Shipment, shipment_id, options=_shipment_options(with_items))
    shipment = policy.ensure_visible(user, shipment, f"shipment {shipment_id}")
    if lock:  # the services' lock_shipment then costs nothing more
        mark_held(shipment, with_children=with_items)
    return shipment


def find_by_manifest(user: User, text: str) -> Shipment:
    """The shipment whose manifest barcode was scanned."""
    code = ids.parse_prefixed_code(text, ids.MANIFEST_PREFIX)
    if code is None:
        raise ValidationFailed.for_field(
            "manifest_number",
            f"{text.strip()!r} is not a manifest number (MN followed by 9 characters, as printed "
            "under the manifest's barcode).",
        )
    shipment = db.session.scalar(sa.select(Shipment).where(Shipment.manifest_number == code))
    return policy.ensure_visible(user, shipment, f"shipment with manifest {code}")


class ItemRow(NamedTuple):
    """A shipment's tube as lists show it."""

    barcode: str
    tube_type_code: str
    outcome: ItemOutcome | None
    manifested: bool


@dataclass(frozen=True)
class ListedShipment:
    """A shipment with its tubes as plain rows, read for a whole page in one query: a page of
    full shipments holds thousands of tubes, too many to load as objects."""

    shipment: Shipment
    items: list[ItemRow]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shipment, name)


def listed_items(shipment_ids: Sequence[int]) -> dict[int, list[ItemRow]]:
    """Each shipment's tubes, in the order they were added."""
    found: dict[int, list[ItemRow]] = {shipment_id: [] for shipment_id in shipment_ids}
    if not found:
        return found
    for shipment_id, *row in db.session.execute(
        sa.select(
            ShipmentItem.shipment_id,
            Sample.barcode,
            TubeType.code,
            ShipmentItem.outcome,
            ShipmentItem.manifested,
        )
        .join(Sample, Sample.id == ShipmentItem.sample_id)
        .join(TubeType, TubeType.id == Sample.tube_type_id)
        .where(ShipmentItem.shipment_id.in_(list(found)))
        .order_by(ShipmentItem.id)
    ):
        found[shipment_id].append(ItemRow(*row))  # type: ignore[arg-type]
    return found


def list_shipments(
    user: User,
    *,
    status: ShipmentStatus | None = None,
    origin: Site | None = None,
    destination: Site | None = None,
    page: int = 1,
    per_page: int = 50,
    with_items: bool = True,
) -> Page[Shipment]:
    """A page of shipments, newest first; ``with_items`` adds every tube of each as a plain
    row (``ListedShipment``: the API lists them), otherwise a page costs the same whatever the
    shipments hold (see ``manifested_counts``)."""
    stmt = policy.scope_shipments(sa.select(Shipment), user)
    if status is not None:
        stmt = stmt.where(Shipment.status == status)
    if origin is not None:
        stmt = stmt.where(Shipment.origin_site_id == origin.id)
    if destination is not None:
        stmt = stmt.where(Shipment.destination_site_id == destination.id)
    found = paginate(stmt.order_by(Shipment.id.desc()), page=page, per_page=per_page)
    if not with_items:
        return found
    items = listed_items([shipment.id for shipment in found.items])
    return replace(
        found, items=[ListedShipment(shipment, items[shipment.id]) for shipment in found.items]
    )


def carrier_name(code: str | None) -> str | None:
    """A carrier as people write it (``fedex`` is stored, FedEx is shown and printed)."""
    return CARRIER_NAMES.get(code, code) if code else code


def items_page(shipment: Shipment, *, page: int = 1, per_page: int = 100) -> Page[ShipmentItem]:
    """A page of the shipment's tubes in the order they were added, each with its sample and
    tube type: a received shipment of hundreds of tubes is read a page at a time."""
    return paginate(
        sa.select(ShipmentItem)
        .where(ShipmentItem.shipment_id == shipment.id)
        .options(joinedload(ShipmentItem.sample).joinedload(Sample.tube_type))
        .order_by(ShipmentItem.id),
        page=page,
        per_page=per_page,
    )


def manifested_counts(shipments: Sequence[Shipment]) -> dict[int, int]:
    """Tubes on each shipment's manifest, counted in one query (not loaded)."""
    wanted = [shipment.id for shipment in shipments]
    if not wanted:
        return {}
    counted = dict(
        db.session.execute(
            sa.select(ShipmentItem.shipment_id, sa.func.count())
            .where(ShipmentItem.shipment_id.in_(wanted), ShipmentItem.manifested.is_(True))
            .group_by(ShipmentItem.shipment_id)
        ).all()
    )
    return {shipment_id: counted.get(shipment_id, 0) for shipment_id in wanted}


def live_item_of(sample: Sample) -> ShipmentItem | None:
    """The tube's place in an open or in-transit shipment, read fresh from the database."""
    return db.session.scalar(
        sa.select(ShipmentItem)
        .join(Shipment, ShipmentItem.shipment_id == Shipment.id)
        .where(ShipmentItem.sample_id == sample.id, Shipment.status.in_(LIVE_SHIPMENTS))
        .execution_options(populate_existing=True)
    )


# --- packing -----------------------------------------------------------------------------


def open_shipment(
    actor: User,
    *,
    destination: str,
    temperature: TemperatureClass | str,
    origin: Site | None = None,
) -> Shipment:
    origin = origin or actor.site
    policy.require_own_site(actor, origin, policy.Action.PACK)
    target = site_field(destination, "destination")
    if target.kind != SiteKind.BIOBANK:
        raise ValidationFailed.for_field(
            "destination", f"{target.code} is not a biobank: ship tubes to a biobank."
        )
    try:
        temperature = TemperatureClass(temperature)
    except ValueError:
        raise ValidationFailed.for_field(
            "temperature", "Choose ambient, refrigerated or frozen."
        ) from None

    def taken(candidates: list[str]) -> set[str]:
        return set(
            db.session.scalars(
                sa.select(Shipment.manifest_number).where(Shipment.manifest_number.in_(candidates))
            )
        )

    [manifest_number] = ids.unique_codes(
        1, lambda: ids.new_prefixed_code(ids.MANIFEST_PREFIX), taken
    )
    shipment = Shipment(
        manifest_number=manifest_number,
        origin_site_id=origin.id,
        destination_site_id=target.id,
        temperature=temperature,
        status=ShipmentStatus.OPEN,
        created_by_id=actor.id,
    )
    db.session.add(shipment)
    db.session.flush()
    record_event(
        EventType.CREATED,
        actor=actor,
        shipment=shipment,
        details={
            "manifest_number": manifest_number,
            "destination": target.code,
            "temperature": str(temperature),
        },
    )
    db.session.refresh(shipment)
    return shipment


# The event that put a shipment in each status, to say who did it when a write is refused.
STATUS_EVENTS = {
    ShipmentStatus.OPEN: (EventType.CREATED,),
    ShipmentStatus.IN_TRANSIT: (EventType.DISPATCHED,),
    ShipmentStatus.CANCELLED: (EventType.CANCELLED,),
    ShipmentStatus.RECEIVED: (EventType.RECEIPT_CLOSED,),
    ShipmentStatus.RECEIVED_WITH_DISCREPANCIES: (EventType.RECEIPT_CLOSED,),
}


def refused_in_state(actor: User, shipment: Shipment, doing: str, *, allowed: str) -> None:
    """Why ``doing`` is refused now: the shipment's status, who put it there and when."""
    status = str(shipment.status).replace("_", " ")
    became = SHIPMENTS.becoming.get(shipment.status)  # how it got there
    by = ""
    if became:
        when = who_and_when(actor, STATUS_EVENTS[shipment.status], shipment=shipment)
        by = f" (it was {became} {when})"
    raise InvalidTransition(
        f"Shipment {shipment.manifest_number} is {status}{by}: {doing} is only possible while "
        f"{allowed}. Reload the shipment to see where it stands.",
        shipment_status=str(shipment.status),
    )


def may_pack(actor: User, shipment: Shipment) -> bool:
    """Whether this user packs this shipment now: its origin's packing staff, while it is
    open (the writes check it again, under the shipment's lock)."""
    return (
        shipment.status == ShipmentStatus.OPEN
        and policy.can(actor, policy.Action.PACK)
        and shipment.origin_site_id == actor.site_id
    )


def _require_open(
    actor: User, shipment: Shipment, doing: str, *, with_items: bool = False
) -> Shipment:
    """The shipment locked and read again (its items too when the write reads them), refused
    unless it is still open."""
    shipment = lock_shipment(shipment, with_items=with_items)
    if shipment.status != ShipmentStatus.OPEN:
        refused_in_state(actor, shipment, doing, allowed="it is open")
    return shipment


@dataclass(frozen=True)
class PackResult:
    item: ShipmentItem
    added: bool


def pack_sample(actor: User, shipment: Shipment, text: str) -> PackResult:
    """Add a scanned tube; scanning it again changes nothing (``added`` is False)."""
    policy.require_own_site(actor, shipment.origin, policy.Action.PACK)
    _require_open(actor, shipment, "packing")
    barcode = ids.sample_id_field(text)
    sample = lock_sample(barcode, position=False)
    if (
        sample is None
        or sample.site_id != shipment.origin_site_id
        or not policy.may_see(actor, sample)
    ):
        raise NotFound(
            f"Tube {ids.display(barcode)} is not a tube of {shipment.origin.code}: check the label."
        )
    # Read after the lock, never from what was loaded before it: a colleague may just have
    # packed this tube.
    current = live_item_of(sample)
    if current is not None and current.shipment_id == shipment.id:
        return PackResult(current, added=False)
    if current is not None:
        other = current.shipment
        raise Conflict(
            f"Tube {sample.display_barcode} is in shipment {other.manifest_number} "
            f"({str(other.status).replace('_', ' ')}) already: remove it from there first.",
            shipment=other.manifest_number,
        )
    if sample.status != SampleStatus.FINALIZED:
        status = str(sample.status).replace("_", " ")
        hint = {
            SampleStatus.PENDING: "record its times and finalize its collection first",
            SampleStatus.COLLECTED: "finalize its collection first",
            SampleStatus.PROCESSED: "finalize its collection first",
        }.get(sample.status, "only finalized tubes are shipped")
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is {status}: {hint}.", sample_status=str(sample.status)
        )
    if sample.tube_type.ship_temperature != shipment.temperature:
        raise Conflict(
            f"{sample.tube_type.code} tubes ship {sample.tube_type.ship_temperature}; shipment "
            f"{shipment.manifest_number} is {shipment.temperature}. Pack it in a "
            f"{sample.tube_type.ship_temperature} shipment."
        )
    item = ShipmentItem(shipment=shipment, sample=sample, manifested=True, added_by_id=actor.id)
    db.session.add(item)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # Someone packed the same tube into this shipment between our read and our write.
        existing = live_item_of(sample)
        if existing is None:
            raise
        return PackResult(existing, added=False)
    record_event(
        EventType.PACKED,
        actor=actor,
        sample=sample,
        shipment=shipment,
        details={"manifest_number": shipment.manifest_number},
    )
    return PackResult(item, added=True)


def unpack_sample(actor: User, shipment: Shipment, text: str) -> None:
    policy.require_own_site(actor, shipment.origin, policy.Action.PACK)
    _require_open(actor, shipment, "removing tubes", with_items=True)
    barcode = ids.sample_id_field(text)
    item = next((i for i in shipment.items if i.sample.barcode == barcode), None)
    if item is None:
        raise NotFound(
            f"Tube {ids.display(barcode)} is not in shipment {shipment.manifest_number}."
        )
    shipment.items.remove(item)
    db.session.delete(item)
    record_event(
        EventType.UNPACKED,
        actor=actor,
        sample=item.sample,
        shipment=shipment,
        details={"manifest_number": shipment.manifest_number},
    )
    db.session.flush()


def carrier_fields(
    carrier: str | None, tracking_number: str | None
) -> tuple[str, str, dict[str, list[str]]]:
    """The carrier (``fedex``) and tracking number (spaces dropped, upper case) as given at
    dispatch, and what is wrong with them by field."""
    carrier = (carrier or "").strip().lower()
    tracking = re.sub(r"\s+", "", tracking_number or "").upper()
    errors: dict[str, list[str]] = {}
    if carrier not in CARRIERS:
        errors["carrier"] = [f"Choose one of: {', '.join(CARRIERS)}."]
    elif problem := tracking_problem(carrier, tracking):
        errors["tracking_number"] = [problem]
    return carrier, tracking, errors


def tracking_problem(carrier: str, tracking: str) -> str | None:
    """What is wrong with a tracking number for this carrier, or None."""
    if carrier == "fedex" and not FEDEX_TRACKING.match(tracking):
        return "A FedEx tracking number has 12 to 14 digits."
    if carrier == "ups" and not UPS_TRACKING.match(tracking):
        return "A UPS tracking number is 1Z followed by 16 letters and digits."
    if carrier == "courier" and not 1 <= len(tracking) <= 64:
        return "Give the courier's reference (up to 64 characters)."
    return None


def dispatch_shipment(
    actor: User,
    shipment: Shipment,
    *,
    carrier: str,
    tracking_number: str,
    dry_ice_kg: Decimal | float | str | None = None,
    at: datetime | None = None,
    signature_password: str | None = None,
    client_address: str | None = None,
) -> Shipment:
    """Hand the package to the carrier: every tube goes in transit to the destination.

    Signed electronically: the person re-enters their password, and the signature goes on
    every dispatched event."""
    policy.require_own_site(actor, shipment.origin, policy.Action.PACK)
    _require_open(actor, shipment, "dispatching", with_items=True)
    carrier, tracking, errors = carrier_fields(carrier, tracking_number)
    dry_ice = None
    if dry_ice_kg not in (None, ""):
        dry_ice = finite_decimal(dry_ice_kg)
        if dry_ice is None:
            errors["dry_ice_kg"] = ["Give the dry ice weight in kilograms, e.g. 2.5."]
    if shipment.temperature == TemperatureClass.FROZEN and "dry_ice_kg" not in errors:
        if dry_ice is None or not Decimal("0") < dry_ice <= Decimal("200"):
            errors["dry_ice_kg"] = [
                "A frozen shipment travels on dry ice: give its weight in kg (UN1845)."
            ]
    elif dry_ice is not None and shipment.temperature != TemperatureClass.FROZEN:
        errors["dry_ice_kg"] = ["Only frozen shipments carry dry ice."]
    if not shipment.items:
        errors["items"] = ["The shipment is empty: scan the tubes into it first."]
    signature = accounts.sign_after_checks(
        actor,
        signature_password,
        accounts.Meaning.DISPATCH,
        errors,
        client_address=client_address,
    )
    lock_samples(item.sample_id for item in shipment.items)
    blocked = [i.sample for i in shipment.items if i.sample.status != SampleStatus.FINALIZED]
    if blocked:
        names = ", ".join(f"{s.display_barcode} ({s.status})" for s in blocked)
        raise InvalidTransition(
            f"Remove these tubes before dispatch, they can no longer be shipped: {names}."
        )
    now = at or utcnow()
    SHIPMENTS.move(shipment, ShipmentStatus.IN_TRANSIT, name=f"Shipment {shipment.manifest_number}")
    shipment.carrier = carrier
    shipment.tracking_number = tracking
    shipment.dry_ice_kg = dry_ice
    shipment.dispatched_at = now
    shipment.dispatched_by_id = actor.id
    details = {
        "manifest_number": shipment.manifest_number,
        "carrier": carrier,
        "tracking_number": tracking,
        "destination": shipment.destination.code,
        "signature": signature,
    }
    for item in shipment.items:
        transition(item.sample, SampleStatus.IN_TRANSIT)
        item.sample.custody_site_id = shipment.destination_site_id
        record_event(
            EventType.DISPATCHED,
            actor=actor,
            sample=item.sample,
            shipment=shipment,
            details=details,
            at=now,
        )
    record_event(
        EventType.DISPATCHED,
        actor=actor,
        shipment=shipment,
        details={**details, "tubes": len(shipment.items)},
        at=now,
    )
    db.session.flush()
    return shipment


def cancel_shipment(actor: User, shipment: Shipment, reason: str | None) -> Shipment:
    """Abandon an open shipment; its tubes are free to go in another."""
    policy.require_own_site(actor, shipment.origin, policy.Action.PACK)
    _require_open(actor, shipment, "cancelling")
    reason = check_free_text(reason, "reason")
    if not reason:
        raise ValidationFailed.for_field("reason", "Give a reason to cancel the shipment.")
    SHIPMENTS.move(shipment, ShipmentStatus.CANCELLED, name=f"Shipment {shipment.manifest_number}")
    shipment.cancelled_at = utcnow()
    shipment.cancel_reason = reason
    record_event(EventType.CANCELLED, actor=actor, shipment=shipment, reason=reason)
    db.session.flush()
    return shipment


# --- manifest ----------------------------------------------------------------------------


def _party(site: Site) -> labels.ManifestParty:
    return labels.ManifestParty(
        code=site.code, name=site.name, address=site.address, phone=site.phone
    )


def manifest_spec(shipment: Shipment, *, printed_at: datetime | None = None) -> labels.ManifestSpec:
    zone = ZoneInfo(shipment.origin.timezone)

    def local(value: datetime | None) -> str | None:
        return in_zone(value, zone).strftime("%Y-%m-%d %H:%M %Z") if value else None

    manifested = [item for item in shipment.items if item.manifested]
    responsible = shipment.dispatched_by or shipment.created_by
    return labels.ManifestSpec(
        manifest_number=shipment.manifest_number,
        origin=_party(shipment.origin),
        destination=_party(shipment.destination),
        temperature=str(shipment.temperature),
        tubes=tuple(
            labels.ManifestTube(
                sample_id=item.sample.barcode,
                tube_code=item.sample.tube_type.code,
                collection_date=in_zone(item.sample.collected_at, zone).date()
                if item.sample.collected_at
                else None,
            )
            for item in manifested
        ),
        responsible_person=responsible.full_name,
        responsible_phone=shipment.origin.phone,
        printed_at=local(printed_at or utcnow()) or "",
        status=str(shipment.status),
        carrier=carrier_name(shipment.carrier),
        tracking_number=shipment.tracking_number,
        dry_ice_kg=float(shipment.dry_ice_kg) if shipment.dry_ice_kg is not None else None,
        dispatched_at=local(shipment.dispatched_at),
        dispatched_by=shipment.dispatched_by.full_name if shipment.dispatched_by else None,
    )


def manifest_pdf(actor: User, shipment: Shipment) -> bytes:
    """The manifest as PDF; a coordinator can print any site's."""
    policy.require(actor, policy.Action.PRINT_MANIFESTS)
    if shipment.status == ShipmentStatus.CANCELLED:
        raise Conflict(
            f"Shipment {shipment.manifest_number} was cancelled: it travels nowhere, so it has "
            "no manifest to print."
        )
    try:
        return labels.render_manifest(manifest_spec(shipment))
    except labels.LabelError as refused:
        # e.g. a site name with a character the printable fonts lack: the admin must fix it.
        raise Conflict(f"The manifest cannot be printed: {refused}") from None

"""A tube's life at the biobank: move, check out and in, thaw, aliquot, withdraw, dispose.

Every step is a checked status change (``samples.transition``) with its event, in one
transaction with the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from biobank.db import utcnow
from biobank.errors import Conflict, InvalidTransition, ValidationFailed
from biobank.extensions import db
from biobank.models import Container, EventType, Sample, SampleStatus, User, position_label
from biobank.services import accounts, policy
from biobank.services.collections import new_samples
from biobank.services.custody import record_event
from biobank.services.numbers import finite_decimal
from biobank.services.privacy import check_free_text
from biobank.services.samples import get_sample, transition
from biobank.services.shipping import lock_sample
from biobank.services.storage import (
    check_box,
    get_box,
    occupied_positions,
    path_text,
    position_field,
    position_taken,
    specimen_refusal,
)
from biobank.services.storage_paths import location_of

MAX_ALIQUOTS = 50


def ml(volume: Decimal) -> str:
    """4.000 → 4, 0.500 → 0.5: volumes as people write them."""
    text = f"{volume:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _handled(actor: User, text: str) -> Sample:
    """A tube in the actor's biobank's custody, locked for the change."""
    sample = get_sample(actor, text)
    policy.require_own_site(actor, sample.custody_site, policy.Action.HANDLE_SAMPLES)
    return lock_sample(sample.barcode) or sample


def _reason(reason: str | None, doing: str) -> str:
    reason = check_free_text(reason, "reason")
    if not reason:
        raise ValidationFailed.for_field("reason", f"Give a reason to {doing}.")
    return reason


def _where(sample: Sample) -> str | None:
    location = location_of(sample)
    return " › ".join([*location["path"], location["position"]]) if location else None


def move_sample(
    actor: User, text: str, box: Container | int, position: str | None = None
) -> Sample:
    """To another position of the same box or of another box (first free one if none given).

    ``box`` may be its id: it is looked up only after the role check, so a role that may not
    move tubes hears 403, not 404 about a box it cannot see."""
    sample = _handled(actor, text)
    if isinstance(box, int):
        box = get_box(actor, box)
    policy.require_own_site(actor, box.site, policy.Action.STORE)
    check_box(box)
    if sample.position is None or sample.status not in (
        SampleStatus.STORED,
        SampleStatus.CHECKED_OUT,
    ):
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is not in a box: store it instead of moving it."
        )
    refusal = specimen_refusal(box, sample)
    if refusal is not None:
        raise refusal
    occupied = occupied_positions(box)
    if position:
        grid = position_field(box, position)
    else:
        grid = next(
            (
                (r, c)
                for r in range(1, box.rows + 1)
                for c in range(1, box.cols + 1)
                if (r, c) not in occupied
            ),
            None,
        )
        if grid is None:
            raise Conflict(f"Box {box.name} is full: choose another box.")
    current = sample.position
    if (current.box_id, current.row, current.col) == (box.id, *grid):
        return sample  # already there
    if grid in occupied:
        raise position_taken(box, grid)
    before = _where(sample)
    current.box_id, current.row, current.col = box.id, grid[0], grid[1]
    try:
        with db.session.begin_nested():
            db.session.flush()
    except Exception:
        raise position_taken(box, grid) from None
    db.session.refresh(current)
    record_event(
        EventType.MOVED,
        actor=actor,
        sample=sample,
        container=box,
        details={"from": before, "to": f"{path_text(box)} › {position_label(*grid)}"},
    )
    db.session.flush()
    return sample


def check_out(actor: User, text: str, reason: str | None = None) -> Sample:
    """Take a tube out of its freezer for a while; its position stays held for its return."""
    sample = _handled(actor, text)
    transition(sample, SampleStatus.CHECKED_OUT)
    sample.checked_out_at = utcnow()
    record_event(
        EventType.CHECKED_OUT,
        actor=actor,
        sample=sample,
        reason=check_free_text(reason, "reason"),
        details={"position": _where(sample)},
    )
    db.session.flush()
    return sample


def check_in(actor: User, text: str) -> Sample:
    """Back into its position; the time it spent out of the freezer goes on record."""
    sample = _handled(actor, text)
    if sample.status != SampleStatus.CHECKED_OUT:
        raise InvalidTransition(f"Tube {sample.display_barcode} is not checked out.")
    minutes_out = int((utcnow() - sample.checked_out_at).total_seconds() // 60)
    transition(sample, SampleStatus.STORED if sample.position else SampleStatus.RECEIVED)
    sample.checked_out_at = None
    record_event(
        EventType.CHECKED_IN,
        actor=actor,
        sample=sample,
        details={"minutes_out_of_freezer": minutes_out, "position": _where(sample)},
    )
    db.session.flush()
    return sample


def thaw(actor: User, text: str) -> Sample:
    """Record a freeze–thaw cycle."""
    sample = _handled(actor, text)
    if sample.status not in (SampleStatus.STORED, SampleStatus.CHECKED_OUT, SampleStatus.RECEIVED):
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is {sample.status}: only tubes at the biobank are "
            "thawed."
        )
    sample.freeze_thaw_count += 1
    record_event(
        EventType.THAWED,
        actor=actor,
        sample=sample,
        details={"freeze_thaw_count": sample.freeze_thaw_count},
    )
    db.session.flush()
    return sample


@dataclass(frozen=True)
class Aliquots:
    parent: Sample
    children: list[Sample]


def aliquot(actor: User, text: str, *, count: int, volume_ml: Decimal | float | str) -> Aliquots:
    """Split a tube into ``count`` child tubes of ``volume_ml`` each, with new IDs.

    The parent's volume goes down by what was taken and never below zero; a parent emptied
    exactly is consumed and leaves its box.
    """
    sample = _handled(actor, text)
    if sample.status not in (SampleStatus.STORED, SampleStatus.CHECKED_OUT, SampleStatus.RECEIVED):
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is {sample.status}: only tubes at the biobank are "
            "aliquoted."
        )
    if not isinstance(count, int) or not 1 <= count <= MAX_ALIQUOTS:
        raise ValidationFailed.for_field("count", f"Make 1 to {MAX_ALIQUOTS} aliquots at a time.")
    each = finite_decimal(volume_ml)
    if each is None:
        raise ValidationFailed.for_field("volume_ml", "Give each aliquot's volume in mL.")
    if each <= 0:
        raise ValidationFailed.for_field("volume_ml", "An aliquot's volume must be above zero.")
    available = sample.volume_ml if sample.volume_ml is not None else Decimal(0)
    taken = each * count
    if taken > available:
        raise ValidationFailed.for_field(
            "volume_ml",
            f"{count} x {ml(each)} mL is {ml(taken)} mL, but tube {sample.display_barcode} holds "
            f"only {ml(available)} mL.",
        )
    # Born at the bench: received at the biobank from the start, with the parent's history.
    children = new_samples(
        [sample.tube_type] * count,
        sample.site,
        collection=sample.collection,
        status=SampleStatus.RECEIVED,
        custody_site_id=sample.custody_site_id,
    )
    for child in children:
        child.parent = sample
        child.volume_ml = each
        child.collected_at, child.processed_at = sample.collected_at, sample.processed_at
        child.received_at = utcnow()
        record_event(
            EventType.CREATED,
            actor=actor,
            sample=child,
            details={"aliquot_of": sample.barcode, "volume_ml": each},
        )
    sample.volume_ml = available - taken
    record_event(
        EventType.ALIQUOTED,
        actor=actor,
        sample=sample,
        details={
            "children": [c.barcode for c in children],
            "volume_ml_each": each,
            "volume_ml_left": sample.volume_ml,
        },
    )
    if sample.volume_ml == 0:
        _leave_box(sample)
        transition(sample, SampleStatus.CONSUMED)
        record_event(EventType.CONSUMED, actor=actor, sample=sample, reason="emptied into aliquots")
    db.session.flush()
    return Aliquots(sample, children)


def _leave_box(sample: Sample) -> str | None:
    where = _where(sample)
    if sample.position is not None:
        db.session.delete(sample.position)
        sample.position = None
    return where


def withdraw(actor: User, text: str, reason: str | None) -> Sample:
    """Withdraw from use (e.g. consent withdrawn); the tube waits in place for disposal."""
    sample = _handled(actor, text)
    reason = _reason(reason, "withdraw a tube")
    transition(sample, SampleStatus.WITHDRAWN)
    record_event(
        EventType.WITHDRAWN,
        actor=actor,
        sample=sample,
        reason=reason,
        details={"position": _where(sample)},
    )
    db.session.flush()
    return sample


def dispose(
    actor: User, text: str, reason: str | None, *, signature_password: str | None = None
) -> Sample:
    """Destroy a tube; its position is freed. Signed electronically."""
    sample = _handled(actor, text)
    errors: dict[str, list[str]] = {}
    try:
        reason = _reason(reason, "dispose of a tube")
    except ValidationFailed as missing:
        errors.update(missing.errors or {})
    signature = None
    try:
        signature = accounts.sign(actor, signature_password, accounts.Meaning.DISPOSAL)
    except ValidationFailed as unsigned:
        errors.update(unsigned.errors or {})
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    transition(sample, SampleStatus.DISPOSED)
    where = _leave_box(sample)
    record_event(
        EventType.DISPOSED,
        actor=actor,
        sample=sample,
        reason=reason,
        details={"from": where, "signature": signature},
    )
    db.session.flush()
    return sample

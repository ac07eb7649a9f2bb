"""A tube's life at the biobank: move, check out and in, thaw, aliquot, quarantine and
release, withdraw, dispose.

Every step is a checked status change (``samples.transition``) with its event, in one
transaction with the change itself. Every step locks the tube's row first and checks its state
after the lock (``get_sample(..., lock=True)``): two people clicking at once take turns, and
the second is refused with a 409 saying who changed the tube and when. Where the client says
what it saw (``cycles_seen``, ``moving_from``, ``volume_seen_ml``) a stale second click is
refused even after the first one finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from biobank.db import utcnow
from biobank.errors import ChangedMeanwhile, Conflict, InvalidTransition, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Container,
    EventType,
    FlagKind,
    Sample,
    SampleStatus,
    User,
    position_label,
)
from biobank.services.collecting.collections import new_samples
from biobank.services.core import accounts, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import by_whom, latest_event, lock_box, who_and_when
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import (
    add_flag,
    can_transition,
    clear_flag,
    get_sample,
    has_flag,
    quarantine_refusal,
    transition,
)
from biobank.services.distribution.requests import reservation_refusal
from biobank.services.storage.box_positions import next_free, occupied_positions, position_field
from biobank.services.storage.freezer_tree import get_box, path_text
from biobank.services.storage.placing import check_box, position_taken, specimen_refusal
from biobank.services.storage.rackscan import parse_position
from biobank.services.storage.storage_paths import location_of

MAX_ALIQUOTS = 50


def ml(volume: Decimal) -> str:
    """4.000 → 4, 0.500 → 0.5: volumes as people write them."""
    text = f"{volume:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# At the biobank: what a thaw or an aliquot needs.
AT_THE_BENCH = (SampleStatus.STORED, SampleStatus.CHECKED_OUT, SampleStatus.RECEIVED)

# The events that leave a tube in each status: whoever did the latest is named in a refusal.
STATUS_EVENTS = {
    SampleStatus.RECEIVED: (EventType.RECEIVED, EventType.CHECKED_IN, EventType.CREATED),
    SampleStatus.STORED: (EventType.STORED, EventType.CHECKED_IN),
    SampleStatus.CHECKED_OUT: (EventType.CHECKED_OUT,),
    SampleStatus.WITHDRAWN: (EventType.WITHDRAWN,),
    SampleStatus.DISPOSED: (EventType.DISPOSED,),
    SampleStatus.CONSUMED: (EventType.CONSUMED,),
}
_DONE = {
    EventType.RECEIVED: "received",
    EventType.CREATED: "made",
    EventType.STORED: "stored",
    EventType.CHECKED_IN: "checked in",
    EventType.CHECKED_OUT: "checked out",
    EventType.WITHDRAWN: "withdrawn",
    EventType.DISPOSED: "disposed of",
    EventType.CONSUMED: "used up",
}


def _handled(actor: User, text: str) -> Sample:
    """A tube in the actor's biobank's custody, locked for the change and read after the lock."""
    sample = get_sample(actor, text, lock=True)
    policy.require_own_site(actor, sample.custody_site, policy.Action.HANDLE_SAMPLES)
    return sample


def _since(actor: User, sample: Sample, doing: str) -> str:
    """ "It was checked out by Ann Lee a moment ago. Reload …": why the tube is as it is."""
    reload = f"Reload the tube's page and check before {doing}."
    event = latest_event(STATUS_EVENTS.get(sample.status, ()), sample=sample)
    if event is None:
        return reload
    return f"It was {_DONE[EventType(event.type)]} {by_whom(actor, event)}. {reload}"


def _change(actor: User, sample: Sample, target: SampleStatus, doing: str) -> None:
    """``transition``, its refusal saying who left the tube as it is, and when."""
    if not can_transition(sample, target):
        transition(sample, target, hint=_since(actor, sample, doing))
    transition(sample, target)


def _refuse_unless_at_bench(actor: User, sample: Sample, done: str, doing: str) -> None:
    if sample.status not in AT_THE_BENCH:
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is {str(sample.status).replace('_', ' ')}: only "
            f"tubes at the biobank are {done}. {_since(actor, sample, doing)}",
            barcode=sample.barcode,
            sample_status=str(sample.status),
        )


def _refuse_if_quarantined(sample: Sample, doing: str) -> None:
    refusal = quarantine_refusal(sample, doing)
    if refusal is not None:
        raise refusal


def _refuse_if_reserved(sample: Sample, doing: str) -> None:
    """A tube held for a study stays where it is until its reservation is released."""
    refusal = reservation_refusal(sample, doing)
    if refusal is not None:
        raise refusal


def _reason(reason: str | None, doing: str) -> str:
    reason = check_free_text(reason, "reason")
    if not reason:
        raise ValidationFailed.for_field("reason", f"Give a reason to {doing}.")
    return reason


def _where(sample: Sample) -> str | None:
    location = location_of(sample)
    return " › ".join([*location["path"], location["position"]]) if location else None


def _place_seen(moving_from: Mapping[str, Any]) -> tuple[int, tuple[int, int]]:
    """The (box id, (row, col)) a client says it saw the tube in."""
    box_id, position = moving_from.get("box"), moving_from.get("position")
    grid = parse_position(position) if isinstance(position, str) else None
    if not isinstance(box_id, int) or isinstance(box_id, bool) or grid is None:
        raise ValidationFailed.for_field(
            "moving_from",
            "Say where the tube was when you chose to move it: its box id and position, e.g. "
            '{"box": 12, "position": "A1"}.',
        )
    return box_id, grid


def move_sample(
    actor: User,
    text: str,
    box: Container | int,
    position: str | None = None,
    *,
    moving_from: Mapping[str, Any] | None = None,
) -> Sample:
    """To another position of the same box or of another box (first free one if none given).

    ``box`` may be its id: it is looked up only after the role check, so a role that may not
    move tubes hears 403, not 404 about a box it cannot see. ``moving_from`` (optional): the
    box id and position the person saw the tube in; if it has moved since (someone else moved
    it a moment ago, or the page was stale) the move is refused with a 409."""
    seen = _place_seen(moving_from) if moving_from is not None else None
    sample = _handled(actor, text)
    if isinstance(box, int):
        box = get_box(actor, box)
    policy.require_own_site(actor, box.site, policy.Action.STORE)
    box = lock_box(box, share=True)
    check_box(box)
    if sample.position is None or sample.status not in (
        SampleStatus.STORED,
        SampleStatus.CHECKED_OUT,
    ):
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is not in a box: store it instead of moving it. "
            + _since(actor, sample, "moving it"),
            barcode=sample.barcode,
            sample_status=str(sample.status),
        )
    here = (sample.position.box_id, (sample.position.row, sample.position.col))
    if seen is not None and seen != here:
        by = who_and_when(actor, [EventType.MOVED], sample=sample)
        raise ChangedMeanwhile(
            f"Tube {sample.display_barcode} was moved {by}: it is now at {_where(sample)}, not "
            f"where you saw it ({position_label(*seen[1])}). Reload the tube's page and check "
            "before moving it again.",
            barcode=sample.barcode,
            location=location_of(sample),
        )
    refusal = specimen_refusal(box, sample)
    if refusal is not None:
        raise refusal
    occupied = occupied_positions(box)
    if position:
        grid = position_field(box, position)
    else:
        free = next_free(box)
        if free is None:
            raise Conflict(f"Box {box.name} is full: choose another box.")
        grid = free
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
    _refuse_if_quarantined(sample, "checking it out")
    _refuse_if_reserved(sample, "checking it out")
    _change(actor, sample, SampleStatus.CHECKED_OUT, "checking it out again")
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
        raise InvalidTransition(
            f"Tube {sample.display_barcode} is not checked out. "
            + _since(actor, sample, "checking it in again"),
            barcode=sample.barcode,
            sample_status=str(sample.status),
        )
    out_since = sample.checked_out_at or utcnow()  # set whenever a tube is checked out
    minutes_out = int((utcnow() - out_since).total_seconds() // 60)
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


def _count_seen(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationFailed.for_field(field, "Give the count you saw, a whole number from 0.")
    return value


def thaw(actor: User, text: str, *, cycles_seen: object = None) -> Sample:
    """Record a freeze–thaw cycle.

    ``cycles_seen`` (optional): the freeze–thaw count the person saw. If the tube was thawed
    since (someone else recorded the same thaw a moment ago, or the page was stale) this one
    is refused with a 409 instead of counting the cycle twice."""
    if cycles_seen is not None:
        cycles_seen = _count_seen(cycles_seen, "cycles_seen")
    sample = _handled(actor, text)
    _refuse_unless_at_bench(actor, sample, "thawed", "thawing it")
    if cycles_seen is not None and cycles_seen != sample.freeze_thaw_count:
        by = who_and_when(actor, [EventType.THAWED], sample=sample)
        raise ChangedMeanwhile(
            f"Tube {sample.display_barcode} was thawed {by}; it is now at freeze–thaw count "
            f"{sample.freeze_thaw_count} (you saw {cycles_seen}). Reload the tube's page and "
            "check before thawing it again.",
            barcode=sample.barcode,
            freeze_thaw_count=sample.freeze_thaw_count,
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


def aliquot(
    actor: User,
    text: str,
    *,
    count: int,
    volume_ml: Decimal | float | str,
    volume_seen_ml: Decimal | float | str | None = None,
) -> Aliquots:
    """Split a tube into ``count`` child tubes of ``volume_ml`` each, with new IDs.

    The parent's volume goes down by what was taken and never below zero; a parent emptied
    exactly is consumed and leaves its box. The tube is locked while its volume is checked and
    taken, so two people aliquoting at once never take more than it holds. ``volume_seen_ml``
    (optional): the volume the person saw; if it has changed since, a 409 instead.
    """
    seen = None
    if volume_seen_ml is not None:
        seen = finite_decimal(volume_seen_ml)
        if seen is None or seen < 0:
            raise ValidationFailed.for_field(
                "volume_seen_ml", "Give the volume you saw in the tube, in mL."
            )
    sample = _handled(actor, text)
    _refuse_unless_at_bench(actor, sample, "aliquoted", "aliquoting it")
    _refuse_if_quarantined(sample, "aliquoting it")
    _refuse_if_reserved(sample, "aliquoting it")
    if seen is not None and seen != (sample.volume_ml or Decimal(0)):
        by = who_and_when(actor, [EventType.ALIQUOTED], sample=sample)
        raise ChangedMeanwhile(
            f"Tube {sample.display_barcode} was aliquoted {by}; it now holds "
            f"{ml(sample.volume_ml or Decimal(0))} mL (you saw {ml(seen)} mL). Reload the "
            "tube's page and check before aliquoting it again.",
            barcode=sample.barcode,
            volume_ml=str(sample.volume_ml) if sample.volume_ml is not None else None,
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


def quarantine(actor: User, text: str, reason: str | None) -> Sample:
    """Set a tube aside (unexpected, damaged, in doubt) with a reason: it is not stored,
    checked out or aliquoted until released. It stays where it is; disposing of it is allowed."""
    reason = _reason(reason, "quarantine a tube")
    sample = _handled(actor, text)
    _refuse_unless_at_bench(actor, sample, "quarantined", "quarantining it")
    held = next((f for f in sample.flags if f.kind == FlagKind.QUARANTINED), None)
    if held is not None:
        raise Conflict(
            f"Tube {sample.display_barcode} is quarantined already ({held.note}), "
            f"{who_and_when(actor, [EventType.FLAGGED], sample=sample)}.",
            barcode=sample.barcode,
        )
    add_flag(sample, FlagKind.QUARANTINED, actor=actor, note=reason, position=_where(sample))
    db.session.flush()
    return sample


def release(actor: User, text: str, reason: str | None) -> Sample:
    """Release a tube from quarantine, saying why it may be used after all."""
    reason = _reason(reason, "release a tube from quarantine")
    sample = _handled(actor, text)
    if not clear_flag(sample, FlagKind.QUARANTINED, actor=actor, why=reason):
        raise Conflict(
            f"Tube {sample.display_barcode} is not quarantined: there is nothing to release. "
            "Reload the tube's page: someone may have released it a moment ago.",
            barcode=sample.barcode,
        )
    db.session.flush()
    return sample


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
    _refuse_if_reserved(sample, "withdrawing it")
    _change(actor, sample, SampleStatus.WITHDRAWN, "withdrawing it")
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
    actor: User,
    text: str,
    reason: str | None,
    *,
    signature_password: str | None = None,
    client_address: str | None = None,
) -> Sample:
    """Destroy a tube; its position is freed. Signed electronically.

    The signature is checked before the tube is locked: a password hash takes a while, and
    a colleague's click on the same tube need not wait for it."""
    sample = get_sample(actor, text)
    policy.require_own_site(actor, sample.custody_site, policy.Action.HANDLE_SAMPLES)
    errors: dict[str, list[str]] = {}
    try:
        reason = _reason(reason, "dispose of a tube")
    except ValidationFailed as missing:
        errors.update(missing.errors or {})
    signature = accounts.sign_after_checks(
        actor,
        signature_password,
        accounts.Meaning.DISPOSAL,
        errors,
        client_address=client_address,
    )
    sample = _handled(actor, text)
    _refuse_if_reserved(sample, "disposing of it")
    _change(actor, sample, SampleStatus.DISPOSED, "disposing of it")
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


# --- what a tube's page offers ---------------------------------------------------------------


def offered_actions(actor: User, sample: Sample) -> set[str]:
    """The actions worth offering this person on this tube, read from the same tables and
    flags the writes check: which forms the tube page draws. The writes decide again, and
    refuse with a sentence, when one is posted."""
    at_their_biobank = sample.custody_site_id == actor.site_id
    if not (at_their_biobank and policy.can(actor, policy.Action.HANDLE_SAMPLES)):
        return set()

    def can(status: SampleStatus) -> bool:
        return can_transition(sample, status)

    # A quarantined tube is not stored, checked out or aliquoted until released.
    held = has_flag(sample, FlagKind.QUARANTINED)
    # A tube reserved for a study is not taken out, used up or disposed of until released.
    reserved = sample.reserved_for_request_id is not None
    offered = set()
    if sample.position is None and can(SampleStatus.STORED) and not held:
        offered.add("store")
    if can(SampleStatus.CHECKED_OUT) and not held and not reserved:
        offered.add("check_out")
    if sample.status == SampleStatus.CHECKED_OUT:
        offered.add("check_in")
    if sample.position is not None and offered & {"check_out", "check_in"}:
        offered.add("move")
    # Thawing and aliquoting are for tubes at the biobank: exactly those that could still be
    # used up (received, stored, checked out).
    if can(SampleStatus.CONSUMED):
        offered |= {"thaw", "release"} if held else {"thaw", "aliquot", "quarantine"}
        if reserved:
            offered.discard("aliquot")
    if can(SampleStatus.WITHDRAWN) and not reserved:
        offered.add("withdraw")
    if can(SampleStatus.DISPOSED) and not reserved:
        offered.add("dispose")
    if sample.children and policy.can(actor, policy.Action.PRINT_LABELS):
        offered.add("labels")
    return offered

"""Clinic collections (biobank orders): start, per-tube times, finalize, cancel, restore, amend.

The timing rules are HealthPro's (``shared/domain/NOTES.md``): processed after collected,
finalized after both, nothing more than five minutes in the future; SST processed within 30
minutes and SST/PST processed after 4 hours are warnings that stay on the tube as flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from biobank.db import utcnow
from biobank.errors import InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Centrifuge,
    Collection,
    CollectionAmendment,
    CollectionStatus,
    EventType,
    FlagKind,
    KitTemplate,
    LabelKit,
    Sample,
    SampleStatus,
    Site,
    StoragePosition,
    TubeType,
    User,
)
from biobank.services.collecting import participants
from biobank.services.core import catalogue, ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.locks import lock_collection, lock_samples, who_and_when
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import add_flag, clear_flag, transition
from biobank.services.core.timebounds import check_time, in_zone
from biobank.services.core.transitions import COLLECTIONS
from biobank.unit_of_work import get_record

EARLY_PROCESSING = timedelta(minutes=30)
LATE_PROCESSING = timedelta(hours=4)
CLOTTING_TUBES = ("SST",)
SEPARATOR_TUBES = ("SST", "PST")
# The leading digit of SST/PST codes names the centrifuge (NOTES.md "Tube / test codes").
CENTRIFUGE_DIGIT = {Centrifuge.SWINGING_BUCKET: "1", Centrifuge.FIXED_ANGLE: "2"}
# Tubes of a collection that have not yet left the clinic, and so can be cancelled.
AT_THE_CLINIC = frozenset(
    {SampleStatus.PENDING, SampleStatus.COLLECTED, SampleStatus.PROCESSED, SampleStatus.FINALIZED}
)
AT_THE_BIOBANK = frozenset(
    {
        SampleStatus.RECEIVED,
        SampleStatus.STORED,
        SampleStatus.CHECKED_OUT,
        SampleStatus.CONSUMED,
        SampleStatus.DISPOSED,
        SampleStatus.WITHDRAWN,
    }
)


@dataclass(frozen=True)
class Warning:
    barcode: str
    flag: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"barcode": self.barcode, "flag": self.flag, "message": self.message}


def _tube_family(tube_type: TubeType) -> str:
    return tube_type.code[1:4]


def site_time(at: datetime, site: Site) -> str:
    """A time as the clinic reads it: in the site's own zone."""
    return in_zone(at, ZoneInfo(site.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _no_future(at: datetime, field: str, now: datetime) -> None:
    """Not before the earliest time the system keeps, nor in the future (``timebounds``)."""
    check_time(at, field, now=now)


def _require_reason(reason: str | None, what: str) -> str:
    reason = check_free_text(reason, "reason")
    if not reason:
        raise ValidationFailed.for_field("reason", f"Give a reason to {what}.")
    return reason


# --- reading ----------------------------------------------------------------------------


def _with_tubes() -> list[Any]:
    """What a collection is shown with, loaded in a few queries whatever its size."""
    tubes = selectinload(Collection.samples)
    return [
        tubes.selectinload(Sample.position).joinedload(StoragePosition.box),
        tubes.selectinload(Sample.parent),
        tubes.joinedload(Sample.custody_site),
        selectinload(Collection.created_by),
        selectinload(Collection.amendments).joinedload(CollectionAmendment.actor),
    ]


def get_collection(user: User, collection_id: int) -> Collection:
    collection = get_record(Collection, collection_id, options=_with_tubes())
    return policy.ensure_visible(user, collection, f"collection {collection_id}")


def list_collections(
    user: User,
    *,
    status: CollectionStatus | None = None,
    site: Site | None = None,
    participant_id: str | None = None,
    started_since: datetime | None = None,
    started_until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Collection]:
    """Collections the user may see, newest first. ``started_since`` (included) and
    ``started_until`` (excluded) bound when they were started."""
    stmt = policy.scope_collections(sa.select(Collection), user).options(*_with_tubes())
    if status is not None:
        stmt = stmt.where(Collection.status == status)
    if site is not None:
        stmt = stmt.where(Collection.site_id == site.id)
    if participant_id:
        stmt = stmt.where(Collection.participant_id == participant_id.strip().upper())
    if started_since is not None:
        stmt = stmt.where(Collection.created_at >= started_since)
    if started_until is not None:
        stmt = stmt.where(Collection.created_at < started_until)
    return paginate(stmt.order_by(Collection.id.desc()), page=page, per_page=per_page)


def collection_sample(collection: Collection, text: str) -> Sample:
    barcode = ids.sample_id_field(text)
    for sample in collection.samples:
        if sample.barcode == barcode:
            return sample
    raise NotFound(f"Tube {ids.display(barcode)} is not part of collection {collection.id}.")


def warnings_for(collection: Collection) -> list[Warning]:
    messages = {
        FlagKind.EARLY_PROCESSING: "processed less than 30 minutes after collection: "
        "clotting may be incomplete",
        FlagKind.LATE_PROCESSING: "processed more than 4 hours after collection",
    }
    return [
        Warning(
            sample.barcode,
            str(flag.kind),
            f"{sample.tube_type.code} {sample.display_barcode} {messages[flag.kind]}.",
        )
        for sample in collection.samples
        for flag in sample.flags
        if flag.kind in messages
    ]


# --- starting -----------------------------------------------------------------------------


def new_samples(
    tube_types: Sequence[TubeType],
    site: Site,
    *,
    collection: Collection | None = None,
    label_kit: LabelKit | None = None,
    status: SampleStatus = SampleStatus.PENDING,
    custody_site_id: int | None = None,
) -> list[Sample]:
    """Samples with fresh, unique IDs (flushed, no events: the caller records why)."""

    def taken(candidates: list[str]) -> set[str]:
        return set(
            db.session.scalars(sa.select(Sample.barcode).where(Sample.barcode.in_(candidates)))
        )

    barcodes = ids.unique_codes(len(tube_types), ids.new_sample_id, taken)
    samples = [
        Sample(
            barcode=barcode,
            tube_type=tube_type,
            collection=collection,
            label_kit_id=label_kit.id if label_kit else None,
            site_id=site.id,
            custody_site_id=custody_site_id or site.id,
            status=status,
            volume_ml=tube_type.volume_ml,
        )
        for barcode, tube_type in zip(barcodes, tube_types, strict=True)
    ]
    db.session.add_all(samples)
    db.session.flush()
    return samples


def _tube_types_for(kit_code: str | None, tube_type_codes: Sequence[str] | None):
    if kit_code and tube_type_codes:
        raise ValidationFailed.for_field(
            "kit", "Choose a kit or list the tube types, not both: a kit brings its own tubes."
        )
    if not kit_code and not tube_type_codes:
        raise ValidationFailed.for_field(
            "kit",
            "Choose the kit being drawn (or list the tube types), or scan a pre-labelled kit: "
            "a collection needs its tubes.",
        )
    if kit_code:
        try:
            kit = catalogue.get_kit(kit_code)
        except NotFound as missing:
            raise ValidationFailed.for_field("kit", missing.detail) from None
        return kit, kit.tube_types
    codes = [code.strip().upper() for code in tube_type_codes or []]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ValidationFailed.for_field(
            "tube_types",
            f"Each tube type goes once per collection: {', '.join(duplicates)} "
            "is listed more than once.",
        )
    return None, catalogue.tube_types_by_code(codes)


def start_collection(
    actor: User,
    *,
    participant_id: str,
    site: Site | None = None,
    kit: str | None = None,
    tube_types: Sequence[str] | None = None,
    notes: str | None = None,
    claim_barcode: str | None = None,
) -> Collection:
    """A draft collection with one pending sample per tube (or the tubes of a claimed kit)."""
    site = site or actor.site
    policy.require_own_site(actor, site, policy.Action.COLLECT)
    participant_id = participants.participant_id_field(participant_id)
    notes = check_free_text(notes, "notes")
    participants.ensure_may_collect(participant_id)
    if claim_barcode:
        if kit or tube_types:
            raise ValidationFailed.for_field(
                "claim_barcode",
                "A claimed pre-labelled kit brings its own tubes: leave kit and tube_types out.",
            )
        return _claim_prelabelled_kit(actor, site, participant_id, notes, claim_barcode)
    kit_template, types = _tube_types_for(kit, tube_types)
    collection = Collection(
        participant_id=participant_id,
        site=site,
        kit=kit_template,
        notes=notes,
        created_by_id=actor.id,
        status=CollectionStatus.DRAFT,
    )
    db.session.add(collection)
    samples = new_samples(types, site, collection=collection)
    record_event(
        EventType.CREATED,
        actor=actor,
        collection=collection,
        details={
            "kit": kit_template.code if kit_template else None,
            "tube_types": [t.code for t in types],
        },
    )
    for sample in samples:
        record_event(
            EventType.CREATED,
            actor=actor,
            sample=sample,
            collection=collection,
            details={"tube_type": sample.tube_type.code},
        )
    db.session.refresh(collection)
    return collection


def _claim_prelabelled_kit(
    actor: User, site: Site, participant_id: str, notes: str | None, claim_barcode: str
) -> Collection:
    barcode = ids.sample_id_field(claim_barcode, "claim_barcode")
    label_kit_id = db.session.scalar(
        sa.select(Sample.label_kit_id).where(Sample.barcode == barcode, Sample.site_id == site.id)
    )
    if label_kit_id is None:
        raise ValidationFailed.for_field(
            "claim_barcode",
            f"{ids.display(barcode)} is not a label of a pre-labelled kit for {site.code}.",
        )
    label_kit = db.session.get_one(LabelKit, label_kit_id, with_for_update=True)
    claimed_by = db.session.scalar(
        sa.select(Collection.id).where(Collection.label_kit_id == label_kit_id)
    )
    if claimed_by is not None:
        raise InvalidTransition(
            f"This pre-labelled kit belongs to collection {claimed_by} already: use a new kit.",
            collection_id=claimed_by,
        )
    collection = Collection(
        participant_id=participant_id,
        site=site,
        kit_id=label_kit.batch.kit_id,
        notes=notes,
        created_by_id=actor.id,
        status=CollectionStatus.DRAFT,
        label_kit_id=label_kit.id,
    )
    db.session.add(collection)
    db.session.flush()
    samples = db.session.scalars(
        sa.select(Sample).where(Sample.label_kit_id == label_kit.id).order_by(Sample.id)
    ).all()
    record_event(
        EventType.CREATED,
        actor=actor,
        collection=collection,
        details={"claimed_kit": label_kit.id, "batch": label_kit.batch_id},
    )
    for sample in samples:
        sample.collection_id = collection.id
        record_event(
            EventType.CLAIMED,
            actor=actor,
            sample=sample,
            collection=collection,
            details={"label_kit": label_kit.id},
        )
    db.session.flush()
    db.session.refresh(collection)
    return collection


# --- per-tube times -------------------------------------------------------------------------


# The event that put a collection in each status, to say who did it when a write is refused.
_STATUS_EVENTS = {
    CollectionStatus.FINALIZED: EventType.FINALIZED,
    CollectionStatus.CANCELLED: EventType.CANCELLED,
    CollectionStatus.DRAFT: EventType.RESTORED,
}


def _locked(actor: User, collection: Collection) -> Collection:
    """The collection locked and read again after the lock (``locks.lock_collection``): two
    people finalizing or cancelling it at once take turns, and the second sees the first."""
    policy.require_own_site(actor, collection.site, policy.Action.COLLECT)
    return lock_collection(collection)


def _by_whom(actor: User, collection: Collection) -> str:
    """ " (finalized by Ann Lee a moment ago)": who left the collection as it is."""
    kind = _STATUS_EVENTS.get(collection.status)
    if kind is None or (kind == EventType.RESTORED and collection.restored_at is None):
        return ""
    when = who_and_when(actor, [kind], collection=collection)
    return f" ({str(kind).replace('_', ' ')} {when})"


def _editable(collection: Collection, actor: User) -> None:
    _locked(actor, collection)
    if collection.status != CollectionStatus.DRAFT:
        hint = (
            " Amend it with a reason to correct times."
            if collection.status == CollectionStatus.FINALIZED
            else ""
        )
        raise InvalidTransition(
            f"Collection {collection.id} is {collection.status}{_by_whom(actor, collection)}: "
            f"its tubes can no longer be changed.{hint}",
            collection_status=str(collection.status),
        )


def _check_times(
    sample: Sample, collected_at: datetime | None, processed_at: datetime | None, now: datetime
) -> None:
    if collected_at is not None:
        _no_future(collected_at, "collected_at", now)
    if processed_at is not None:
        _no_future(processed_at, "processed_at", now)
        if collected_at is None:
            raise ValidationFailed.for_field(
                "processed_at", f"Record when tube {sample.display_barcode} was collected first."
            )
        if processed_at <= collected_at:
            raise ValidationFailed.for_field(
                "processed_at",
                f"Tube {sample.display_barcode} cannot be processed at or before it was collected "
                f"({site_time(collected_at, sample.site)}).",
            )


def _refresh_timing_flags(sample: Sample, actor: User) -> None:
    """Warnings follow the recorded times: added when they apply, cleared when corrected."""
    family = _tube_family(sample.tube_type)
    gap = (
        sample.processed_at - sample.collected_at
        if sample.processed_at and sample.collected_at
        else None
    )
    early = gap is not None and family in CLOTTING_TUBES and gap < EARLY_PROCESSING
    late = gap is not None and family in SEPARATOR_TUBES and gap > LATE_PROCESSING
    minutes = None if gap is None else int(gap.total_seconds() // 60)
    for kind, applies in ((FlagKind.EARLY_PROCESSING, early), (FlagKind.LATE_PROCESSING, late)):
        if applies:
            add_flag(
                sample,
                kind,
                actor=actor,
                note=f"processed {minutes} min after collection",
                minutes=minutes,
            )
        else:
            clear_flag(sample, kind, actor=actor, why="times corrected: rule no longer applies")


def record_collected(
    actor: User, collection: Collection, barcode: str, at: datetime, *, now: datetime | None = None
) -> Sample:
    now = now or utcnow()
    _editable(collection, actor)
    sample = collection_sample(collection, barcode)
    _check_times(sample, at, sample.processed_at, now)
    previous = sample.collected_at
    if sample.status == SampleStatus.PENDING or sample.status == SampleStatus.CANCELLED:
        transition(sample, SampleStatus.COLLECTED)
    sample.collected_at = at
    sample.collected_by_id = actor.id
    record_event(
        EventType.COLLECTED,
        actor=actor,
        sample=sample,
        collection=collection,
        details={
            "collected_at": at.isoformat(),
            "previous": previous.isoformat() if previous else None,
        },
    )
    _refresh_timing_flags(sample, actor)
    db.session.flush()
    return sample


def record_all_times(
    actor: User,
    collection: Collection,
    *,
    collected_at: datetime | None = None,
    processed_at: datetime | None = None,
    centrifuge: Centrifuge | None = None,
    barcodes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[Sample]:
    """One draw time for the chosen tubes (every tube unless ``barcodes`` says which), and one
    processing time (and centrifuge) for those of them that are spun, in one go: all of it or,
    if any tube refuses, none. Tubes left out keep their times: the exceptions, entered per
    tube. A refusal names the tube. Answers the tubes recorded."""
    now = now or utcnow()
    if collected_at is None and processed_at is None:
        raise ValidationFailed.for_field(
            "collected_at", "Give the time the tubes were drawn, the time they were spun, or both."
        )
    if barcodes is None:
        chosen = list(collection.samples)
    else:
        chosen = list(dict.fromkeys(collection_sample(collection, barcode) for barcode in barcodes))
        if not chosen:
            raise ValidationFailed.for_field("tubes", "Tick at least one tube.")
    spun = [sample for sample in chosen if sample.tube_type.requires_processing]
    if processed_at is not None and not spun:
        raise ValidationFailed.for_field(
            "processed_at",
            "None of the ticked tubes is centrifuged (only SST and PST tubes are): leave the "
            "processing time empty.",
        )
    for sample in chosen:
        try:
            if collected_at is not None:
                record_collected(actor, collection, sample.barcode, collected_at, now=now)
            if processed_at is not None and sample in spun:
                record_processed(
                    actor, collection, sample.barcode, processed_at, centrifuge=centrifuge, now=now
                )
        except ValidationFailed as refused:
            raise ValidationFailed(
                _naming(sample, refused.detail),
                errors={
                    field: [_naming(sample, message) for message in messages]
                    for field, messages in (refused.errors or {}).items()
                },
            ) from None
    return chosen


def _naming(sample: Sample, message: str) -> str:
    """A refusal that names its tube, for a form about many tubes."""
    if sample.display_barcode in message:
        return message
    return f"{sample.tube_type.code} {sample.display_barcode}: {message}"


def _centrifuged_type(sample: Sample, centrifuge: Centrifuge | None) -> TubeType:
    if centrifuge is None or _tube_family(sample.tube_type) not in SEPARATOR_TUBES:
        return sample.tube_type
    code = CENTRIFUGE_DIGIT[centrifuge] + sample.tube_type.code[1:]
    return catalogue.tube_types_by_code([code], field="centrifuge")[0]


def record_processed(
    actor: User,
    collection: Collection,
    barcode: str,
    at: datetime,
    *,
    centrifuge: Centrifuge | None = None,
    now: datetime | None = None,
) -> Sample:
    now = now or utcnow()
    _editable(collection, actor)
    sample = collection_sample(collection, barcode)
    if not sample.tube_type.requires_processing:
        raise ValidationFailed.for_field(
            "processed_at",
            f"{sample.tube_type.code} tubes are not centrifuged: only SST and PST "
            "tubes are processed.",
        )
    _check_times(sample, sample.collected_at, at, now)
    tube_type = _centrifuged_type(sample, centrifuge)
    details: dict[str, Any] = {
        "processed_at": at.isoformat(),
        "previous": sample.processed_at.isoformat() if sample.processed_at else None,
    }
    if tube_type.id != sample.tube_type_id:
        details["tube_type"] = {"from": sample.tube_type.code, "to": tube_type.code}
        sample.tube_type = tube_type
    if centrifuge is not None:
        sample.centrifuge = centrifuge
        details["centrifuge"] = str(centrifuge)
    if sample.status == SampleStatus.COLLECTED:
        transition(sample, SampleStatus.PROCESSED)
    sample.processed_at = at
    sample.processed_by_id = actor.id
    record_event(
        EventType.PROCESSED, actor=actor, sample=sample, collection=collection, details=details
    )
    _refresh_timing_flags(sample, actor)
    db.session.flush()
    return sample


# --- lifecycle -------------------------------------------------------------------------------


def finalize_collection(
    actor: User, collection: Collection, *, at: datetime | None = None, now: datetime | None = None
) -> Collection:
    now = now or utcnow()
    at = at or now
    _editable(collection, actor)
    _no_future(at, "finalized_at", now)
    problems: list[str] = []
    for sample in collection.samples:
        if sample.collected_at is None:
            problems.append(
                f"{sample.tube_type.code} {sample.display_barcode} has no collected time"
            )
        elif sample.tube_type.requires_processing and sample.processed_at is None:
            problems.append(
                f"{sample.tube_type.code} {sample.display_barcode} has no processed time"
            )
        else:
            latest = sample.processed_at or sample.collected_at
            if at <= latest:
                problems.append(
                    f"{sample.tube_type.code} {sample.display_barcode} was "
                    f"{'processed' if sample.processed_at else 'collected'} after the finalize time"
                )
    if problems:
        raise ValidationFailed(
            "Cannot finalize yet: " + "; ".join(problems) + ".", errors={"samples": problems}
        )
    lock_samples(sample.id for sample in collection.samples)
    COLLECTIONS.move(collection, CollectionStatus.FINALIZED, name=f"Collection {collection.id}")
    collection.finalized_at = at
    collection.finalized_by_id = actor.id
    for sample in collection.samples:
        transition(sample, SampleStatus.FINALIZED)
        sample.finalized_at = at
        record_event(EventType.FINALIZED, actor=actor, sample=sample, collection=collection, at=at)
    record_event(EventType.FINALIZED, actor=actor, collection=collection, at=at)
    db.session.flush()
    return collection


def cancel_collection(actor: User, collection: Collection, reason: str | None) -> Collection:
    policy.require_own_site(actor, collection.site, policy.Action.COLLECT)
    reason = _require_reason(reason, "cancel a collection")
    _locked(actor, collection)
    if collection.status == CollectionStatus.CANCELLED:
        raise InvalidTransition(
            f"Collection {collection.id} is cancelled already{_by_whom(actor, collection)}.",
            collection_status=str(collection.status),
        )
    lock_samples(sample.id for sample in collection.samples)
    arrived = [s for s in collection.samples if s.status in AT_THE_BIOBANK]
    if arrived:
        raise InvalidTransition(
            f"{len(arrived)} tube(s) of collection {collection.id} are at the biobank already: "
            "withdraw or dispose of them there instead of cancelling the collection."
        )
    COLLECTIONS.move(collection, CollectionStatus.CANCELLED, name=f"Collection {collection.id}")
    collection.cancelled_at = utcnow()
    collection.cancelled_by_id = actor.id
    collection.cancel_reason = reason
    for sample in collection.samples:
        if sample.status == SampleStatus.CANCELLED:
            continue
        previous = sample.status
        transition(sample, SampleStatus.CANCELLED)
        record_event(
            EventType.CANCELLED,
            actor=actor,
            sample=sample,
            collection=collection,
            reason=reason,
            details={"previous_status": str(previous)},
        )
    record_event(EventType.CANCELLED, actor=actor, collection=collection, reason=reason)
    db.session.flush()
    return collection


def _status_before_cancel(sample: Sample) -> SampleStatus:
    from biobank.models import Event

    details = db.session.scalar(
        sa.select(Event.details)
        .where(Event.sample_id == sample.id, Event.type == str(EventType.CANCELLED))
        .order_by(Event.id.desc())
        .limit(1)
    )
    return SampleStatus((details or {}).get("previous_status", SampleStatus.PENDING))


def restore_collection(actor: User, collection: Collection, reason: str | None) -> Collection:
    policy.require_own_site(actor, collection.site, policy.Action.COLLECT)
    reason = _require_reason(reason, "restore a collection")
    _locked(actor, collection)
    if collection.status != CollectionStatus.CANCELLED:
        raise InvalidTransition(
            f"Collection {collection.id} is {collection.status}{_by_whom(actor, collection)}: "
            "only a cancelled collection can be restored.",
            collection_status=str(collection.status),
        )
    lock_samples(sample.id for sample in collection.samples)
    COLLECTIONS.move(
        collection,
        CollectionStatus.FINALIZED if collection.finalized_at else CollectionStatus.DRAFT,
        name=f"Collection {collection.id}",
    )
    collection.restored_at = utcnow()
    collection.restored_by_id = actor.id
    collection.restore_reason = reason
    for sample in collection.samples:
        if sample.status != SampleStatus.CANCELLED:
            continue  # e.g. it arrived at the biobank while cancelled
        previous = _status_before_cancel(sample)
        transition(sample, previous)
        record_event(
            EventType.RESTORED,
            actor=actor,
            sample=sample,
            collection=collection,
            reason=reason,
            details={"status": str(previous)},
        )
    record_event(
        EventType.RESTORED,
        actor=actor,
        collection=collection,
        reason=reason,
        details={"status": str(collection.status)},
    )
    db.session.flush()
    return collection


@dataclass(frozen=True)
class TubeCorrection:
    barcode: str
    collected_at: datetime | None = None
    processed_at: datetime | None = None


def amend_collection(
    actor: User,
    collection: Collection,
    reason: str | None,
    *,
    notes: str | None = None,
    corrections: Sequence[TubeCorrection] = (),
    now: datetime | None = None,
) -> Collection:
    """Correct a finalized collection; the replaced values are kept in its amendment history."""
    now = now or utcnow()
    policy.require_own_site(actor, collection.site, policy.Action.COLLECT)
    reason = _require_reason(reason, "amend a collection")
    _locked(actor, collection)
    if collection.status != CollectionStatus.FINALIZED:
        raise InvalidTransition(
            f"Collection {collection.id} is {collection.status}: only a finalized collection is "
            "amended (a draft is simply edited)."
        )
    changes: dict[str, Any] = {}
    if notes is not None:
        notes = check_free_text(notes, "notes")
        if notes != collection.notes:
            changes["notes"] = {"from": collection.notes, "to": notes}
            collection.notes = notes
    for correction in corrections:
        sample = collection_sample(collection, correction.barcode)
        collected = correction.collected_at or sample.collected_at
        processed = correction.processed_at or sample.processed_at
        if correction.processed_at and not sample.tube_type.requires_processing:
            raise ValidationFailed.for_field(
                "processed_at", f"{sample.tube_type.code} tubes are not centrifuged."
            )
        _check_times(sample, collected, processed, now)
        latest = processed or collected
        finalized_at = collection.finalized_at
        if latest is not None and finalized_at is not None and finalized_at <= latest:
            raise ValidationFailed.for_field(
                "samples",
                f"Tube {sample.display_barcode}'s corrected time is after the collection "
                "was finalized.",
            )
        tube_changes = {}
        for field, new in (("collected_at", collected), ("processed_at", processed)):
            old = getattr(sample, field)
            if new != old:
                tube_changes[field] = {
                    "from": old.isoformat() if old else None,
                    "to": new.isoformat() if new else None,
                }
                setattr(sample, field, new)
        if tube_changes:
            changes[sample.barcode] = tube_changes
            record_event(
                EventType.AMENDED,
                actor=actor,
                sample=sample,
                collection=collection,
                reason=reason,
                details=tube_changes,
            )
            _refresh_timing_flags(sample, actor)
    if not changes:
        raise ValidationFailed(
            "Nothing to amend: the values given are the ones recorded.",
            errors={"_schema": ["Give corrected notes or tube times."]},
        )
    collection.amended_at = now
    collection.amended_by_id = actor.id
    collection.amend_reason = reason
    db.session.add(
        CollectionAmendment(
            collection=collection, actor_id=actor.id, reason=reason, changes=changes, at=now
        )
    )
    record_event(
        EventType.AMENDED,
        actor=actor,
        collection=collection,
        reason=reason,
        details={"changed": sorted(changes)},
    )
    db.session.flush()
    return collection


def kit_for_batch(kit_code: str) -> KitTemplate:
    try:
        return catalogue.get_kit(kit_code)
    except NotFound as missing:
        raise ValidationFailed.for_field("kit", missing.detail) from None

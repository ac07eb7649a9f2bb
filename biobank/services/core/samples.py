"""Samples: the one table of legal status changes, look-ups by barcode, flags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from biobank.errors import Conflict
from biobank.extensions import db
from biobank.models import (
    Container,
    Event,
    EventType,
    FlagKind,
    Sample,
    SampleFlag,
    SampleStatus,
    Site,
    StoragePosition,
    TubeType,
    User,
)
from biobank.services.core import ids, locks, policy
from biobank.services.core.custody import record_event
from biobank.services.core.pages import Page, paginate
from biobank.services.core.transitions import SAMPLES


def can_transition(sample: Sample, target: SampleStatus) -> bool:
    return SAMPLES.allows(sample.status, target)


def transition(sample: Sample, target: SampleStatus, *, hint: str | None = None) -> None:
    """Change a sample's status when the table allows it; otherwise a 409 that says why."""
    SAMPLES.move(
        sample,
        target,
        name=f"Tube {sample.display_barcode}",
        hint=hint,
        barcode=sample.barcode,
        sample_status=str(sample.status),
    )


# --- look-ups -------------------------------------------------------------------------------


# The tube with what its page and its API answer show, in one statement (not one for the tube,
# one for its flags, one for its place and one per container above its box), built once: every
# look-up runs it. The path from the box up to the freezer is joined as deep as a storage tree
# goes (freezer → shelf or rack → rack → box), the containers above the box with only what a
# path and a SPREC code show; the containers' own sites are not needed there.
_CONTAINERS_ABOVE_A_BOX = 3
_box = joinedload(Sample.position).joinedload(StoragePosition.box)
_path = [_box.lazyload(Container.site)]
_above = _box
for _ in range(_CONTAINERS_ABOVE_A_BOX):
    _above = _above.joinedload(Container.parent)
    _path += [
        _above.load_only(
            Container.kind, Container.name, Container.parent_id, Container.temperature_c
        ),
        _above.lazyload(Container.site),
    ]
_SAMPLE_BY_BARCODE = (
    sa.select(Sample)
    .where(Sample.barcode == sa.bindparam("barcode"))
    .options(joinedload(Sample.flags), joinedload(Sample.custody_site), *_path)
)


def find_by_barcode(barcode: str) -> Sample | None:
    return db.session.scalars(_SAMPLE_BY_BARCODE, {"barcode": barcode}).unique().one_or_none()


def get_sample(user: User, text: str, *, field: str = "barcode", lock: bool = False) -> Sample:
    """The sample a person scanned or typed, if they may see it (otherwise 404).

    ``lock``: for a write that checks the tube's state first. The row is locked until commit
    and read after the lock, so two people clicking at once take turns and the second sees
    what the first did (``locks.lock_sample``)."""
    barcode = ids.sample_id_field(text, field)
    sample = locks.lock_sample(barcode) if lock else find_by_barcode(barcode)
    return policy.ensure_visible(user, sample, f"sample {ids.display(barcode)}")


# Barcodes per IN list: thousands of rows (an inventory import) stay within every database's
# limit on bound parameters.
BARCODES_PER_QUERY = 1000


def samples_by_barcode(barcodes: Iterable[str]) -> dict[str, Sample]:
    wanted = sorted(set(barcodes))
    found: dict[str, Sample] = {}
    for start in range(0, len(wanted), BARCODES_PER_QUERY):
        chunk = wanted[start : start + BARCODES_PER_QUERY]
        found |= {
            sample.barcode: sample
            for sample in db.session.scalars(sa.select(Sample).where(Sample.barcode.in_(chunk)))
        }
    return found


def filtered_samples(
    user: User,
    *,
    status: SampleStatus | None = None,
    site: Site | None = None,
    tube_type: TubeType | None = None,
    collection_id: int | None = None,
    flag: FlagKind | None = None,
) -> sa.Select[tuple[Sample]]:
    """The tubes the user may see, narrowed by the sample list's filters (a site matches the
    tubes collected there and those in its custody): the list and the CSV export read this."""
    stmt = policy.scope_samples(sa.select(Sample), user).options(
        selectinload(Sample.position).joinedload(StoragePosition.box),
        selectinload(Sample.parent),
    )
    if status is not None:
        stmt = stmt.where(Sample.status == status)
    if site is not None:
        stmt = stmt.where(sa.or_(Sample.site_id == site.id, Sample.custody_site_id == site.id))
    if tube_type is not None:
        stmt = stmt.where(Sample.tube_type_id == tube_type.id)
    if collection_id is not None:
        stmt = stmt.where(Sample.collection_id == collection_id)
    if flag is not None:
        stmt = stmt.where(Sample.flags.any(SampleFlag.kind == flag))
    return stmt


def list_samples(user: User, *, page: int = 1, per_page: int = 50, **filters: Any) -> Page[Sample]:
    """A page of ``filtered_samples``, newest first."""
    stmt = filtered_samples(user, **filters).order_by(Sample.id.desc())
    return paginate(stmt, page=page, per_page=per_page)


def sample_events(user: User, text: str) -> Sequence[Event]:
    """A tube's chain of custody, oldest first."""
    sample = get_sample(user, text)
    return db.session.scalars(
        sa.select(Event).where(Event.sample_id == sample.id).order_by(Event.id)
    ).all()


def already_had(samples: Sequence[Sample], event_type: EventType) -> set[int]:
    """Ids of those samples that have an event of this type already."""
    if not samples:
        return set()
    return set(
        db.session.scalars(
            sa.select(Event.sample_id).where(
                Event.type == str(event_type), Event.sample_id.in_([s.id for s in samples])
            )
        )
    )


# --- flags --------------------------------------------------------------------------------


def has_flag(sample: Sample, kind: FlagKind) -> bool:
    return any(flag.kind == kind for flag in sample.flags)


def quarantine_refusal(sample: Sample, doing: str) -> Conflict | None:
    """Why a quarantined tube is not stored, checked out or aliquoted (``doing``), or None:
    it was set aside with a reason, and stays aside until someone releases it."""
    for flag in sample.flags:
        if flag.kind == FlagKind.QUARANTINED:
            return Conflict(
                f"Tube {sample.display_barcode} is quarantined ({flag.note}): release it from "
                f"quarantine on its page before {doing}.",
                barcode=sample.barcode,
                quarantined=True,
            )
    return None


def add_flag(
    sample: Sample,
    kind: FlagKind,
    *,
    actor: User | None,
    note: str | None = None,
    **event_details: Any,
) -> bool:
    """Flag a sample once per kind, with its ``flagged`` event. False when already flagged."""
    if has_flag(sample, kind):
        return False
    flag = SampleFlag(kind=kind, note=note, created_by_id=actor.id if actor else None)
    sample.flags.append(flag)
    record_event(
        EventType.FLAGGED,
        actor=actor,
        sample=sample,
        collection=sample.collection,
        reason=note,
        details={"flag": str(kind), **event_details},
    )
    return True


def clear_flag(sample: Sample, kind: FlagKind, *, actor: User | None, why: str) -> bool:
    """Remove a flag that no longer applies (e.g. corrected times), recording why."""
    for flag in list(sample.flags):
        if flag.kind == kind:
            sample.flags.remove(flag)
            record_event(
                EventType.FLAGGED,
                actor=actor,
                sample=sample,
                collection=sample.collection,
                reason=why,
                details={"flag": str(kind), "cleared": True},
            )
            return True
    return False

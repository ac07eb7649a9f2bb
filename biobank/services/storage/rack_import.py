"""A rack-scanner file checked against its box, and every tube in it stored at once (all or
nothing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import IntegrityError

from biobank.db import utcnow
from biobank.errors import (
    Conflict,
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import (
    Container,
    Sample,
    StoragePosition,
    User,
    position_label,
)
from biobank.services.core import ids, policy
from biobank.services.core.samples import (
    samples_by_barcode,
)
from biobank.services.core.uploads import UnreadableUpload

# Which kinds may hold which: freezer → shelf / rack → box.
from biobank.services.storage.box_positions import box_range, occupied_positions
from biobank.services.storage.placing import _mark_stored, check_box, storage_refusal
from biobank.services.storage.rackscan import Well, parse_position, parse_rack_file
from biobank.services.storage.storage_paths import location_of

# --- rack-scanner import -------------------------------------------------------------------


class WellOutcome(StrEnum):
    PLACED = "placed"
    ALREADY_THERE = "already_there"
    EMPTY = "empty"
    UNKNOWN_TUBE = "unknown_tube"
    OUTSIDE_BOX = "outside_box"
    DUPLICATE_TUBE = "duplicate_tube"
    DIFFERS = "differs"
    NOT_STORABLE = "not_storable"


# Any of these stops the whole import: nothing is written until the rack matches.
BLOCKING = frozenset(
    {
        WellOutcome.UNKNOWN_TUBE,
        WellOutcome.OUTSIDE_BOX,
        WellOutcome.DUPLICATE_TUBE,
        WellOutcome.DIFFERS,
        WellOutcome.NOT_STORABLE,
    }
)


@dataclass(frozen=True)
class WellReport:
    line: int
    position: str
    barcode: str | None
    outcome: WellOutcome
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "position": self.position,
            "barcode": self.barcode,
            "outcome": str(self.outcome),
            "message": self.message,
        }


@dataclass(frozen=True)
class RackScanReport:
    box: Container
    wells: list[WellReport]
    applied: bool

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(outcome): 0 for outcome in WellOutcome}
        for well in self.wells:
            counts[str(well.outcome)] += 1
        return counts

    @property
    def ok(self) -> bool:
        return not any(well.outcome in BLOCKING for well in self.wells)

    def as_dict(self) -> dict[str, object]:
        return {
            "box": self.box.id,
            "applied": self.applied,
            "ok": self.ok,
            "counts": self.counts,
            "wells": [well.as_dict() for well in self.wells],
        }


class RackScanRefused(Conflict):
    title = "Rack scan does not match"
    slug = "rack-scan-refused"


Verdict = tuple[WellOutcome, str, Sample | None]


def _judge_wells(
    actor: User, box: Container, wells: list[Well]
) -> list[tuple[WellReport, Sample | None]]:
    occupied = occupied_positions(box)
    parsed: dict[int, str | None] = {}
    for well in wells:
        try:
            parsed[well.line] = ids.parse_sample_id(well.barcode) if well.barcode else None
        except ids.InvalidCode:
            parsed[well.line] = None
    known = samples_by_barcode([b for b in parsed.values() if b])
    reads = Counter(b for b in parsed.values() if b)
    judged = []
    for well in wells:
        sample_id = parsed[well.line]
        outcome, message, sample = _judge_well(
            actor,
            box,
            well,
            occupied,
            known.get(sample_id) if sample_id else None,
            reads[sample_id] if sample_id else 0,
        )
        judged.append(
            (WellReport(well.line, well.position, well.barcode, outcome, message), sample)
        )
    return judged


def _judge_well(
    actor: User,
    box: Container,
    well: Well,
    occupied: dict[tuple[int, int], StoragePosition],
    sample: Sample | None,
    reads: int,
) -> Verdict:
    if well.row is None or well.col is None or well.row > box.grid[0] or well.col > box.grid[1]:
        return (
            WellOutcome.OUTSIDE_BOX,
            f"{well.position!r} is not a position of this {box.rows} x {box.cols} box "
            f"({box_range(box)}).",
            None,
        )
    grid = (well.row, well.col)
    label = position_label(*grid)
    holder = occupied.get(grid)
    if well.barcode is None:
        if holder is not None and holder.sample is not None:
            return (
                WellOutcome.DIFFERS,
                f"The scanner saw {label} empty, but {holder.sample.display_barcode} should be "
                "there.",
                None,
            )
        return WellOutcome.EMPTY, f"{label} is empty.", None
    if sample is None or not policy.may_see(actor, sample):
        return (
            WellOutcome.UNKNOWN_TUBE,
            f"{well.barcode} in {label} is not a tube this biobank knows: take it out and check "
            "its label.",
            None,
        )
    if reads > 1:
        return (
            WellOutcome.DUPLICATE_TUBE,
            f"{sample.display_barcode} is read in more than one well: rescan the rack.",
            sample,
        )
    if sample.position is not None:
        here = (sample.position.box_id, sample.position.row, sample.position.col)
        if here == (box.id, *grid):
            return (
                WellOutcome.ALREADY_THERE,
                f"{sample.display_barcode} is in {label} already.",
                sample,
            )
        return (
            WellOutcome.DIFFERS,
            f"{sample.display_barcode} should be at {_stored_at(sample)}, not in {label}.",
            sample,
        )
    if holder is not None:
        other = holder.sample.display_barcode if holder.sample else "a reservation"
        return (
            WellOutcome.DIFFERS,
            f"{label} should hold {other}, not {sample.display_barcode}.",
            sample,
        )
    refusal = storage_refusal(box.site, sample, box)
    if refusal is not None:
        return WellOutcome.NOT_STORABLE, refusal.detail, sample
    return WellOutcome.PLACED, f"{sample.display_barcode} goes into {label}.", sample


def _stored_at(sample: Sample) -> str:
    where = location_of(sample)
    return " › ".join([*where["path"], where["position"]]) if where else "another box"


def import_rack_scan(actor: User, box: Container, data: bytes, *, apply: bool) -> RackScanReport:
    """Check a rack-scanner file against the box; with ``apply``, store every tube or none."""
    policy.require_own_site(actor, box.site, policy.Action.STORE)
    check_box(box)
    try:
        wells = parse_rack_file(data)
    except UnreadableUpload as unreadable:
        raise ValidationFailed.for_field("file", str(unreadable)) from None
    judged = _judge_wells(actor, box, wells)
    report = RackScanReport(box, [well for well, _ in judged], applied=False)
    if not apply:
        return report
    if not report.ok:
        raise RackScanRefused(
            "Nothing was stored: the rack does not match what the system expects in "
            f"{sum(report.counts[str(o)] for o in BLOCKING)} well(s). Fix those and scan again.",
            report=report.as_dict(),
        )
    now = utcnow()
    to_place = [
        (well, sample)
        for well, sample in judged
        if well.outcome == WellOutcome.PLACED and sample is not None
    ]
    rows = []
    for well, sample in to_place:
        grid = parse_position(well.position)
        assert grid is not None  # a well to place has a position in the box
        rows.append(
            StoragePosition(
                box_id=box.id,
                row=grid[0],
                col=grid[1],
                sample_id=sample.id,
                stored_at=now,
                stored_by_id=actor.id,
            )
        )
    try:
        with db.session.begin_nested():
            db.session.add_all(rows)
            db.session.flush()
    except IntegrityError:
        raise RackScanRefused(
            "The box changed while the file was being imported (someone stored a tube in it): "
            "nothing was stored; upload the file again.",
        ) from None
    for (well, sample), position in zip(to_place, rows, strict=True):
        sample.position = position
        _mark_stored(actor, sample, box, position, at=now, source="rack scan", line=well.line)
    db.session.flush()
    return RackScanReport(box, report.wells, applied=True)

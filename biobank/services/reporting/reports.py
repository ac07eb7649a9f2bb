"""What coordinators chase: overdue and missing tubes, slow shipments, receipt discrepancies.

Thresholds are settings (DESIGN §2): a finalized tube not received ``BIOBANK_OVERDUE_HOURS``
after finalizing is overdue, after ``BIOBANK_MISSING_DAYS`` it is missing; a tube the biobank
did not find when it closed the receipt is missing at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from biobank.db import sorted_after_filtering, utcnow
from biobank.extensions import db
from biobank.models import (
    Container,
    ContainerKind,
    Event,
    EventType,
    FlagKind,
    ItemOutcome,
    Sample,
    SampleFlag,
    SampleStatus,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    Site,
    User,
)
from biobank.services.core import policy
from biobank.services.core.pages import MAX_PER_PAGE, Page, paginate
from biobank.services.core.settings import setting
from biobank.services.core.sqltime import hours_between, local_day
from biobank.services.reporting import tallies
from biobank.services.shipping import receiving, sending
from biobank.services.storage import freezer_tree

NOT_YET_RECEIVED = (SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT, SampleStatus.MISSING)


@dataclass(frozen=True)
class Thresholds:
    overdue: timedelta
    missing: timedelta
    transit: timedelta

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            overdue=timedelta(hours=setting("BIOBANK_OVERDUE_HOURS")),
            missing=timedelta(days=setting("BIOBANK_MISSING_DAYS")),
            transit=timedelta(hours=setting("BIOBANK_TRANSIT_HOURS")),
        )


@dataclass(frozen=True)
class OverdueTube:
    sample: Sample
    state: str  # "overdue" | "missing"
    hours_outstanding: int
    shipment: Shipment | None


def _live_item_shipment(sample_ids: list[int]) -> dict[int, Shipment]:
    """The latest shipment each tube was put in (one query for the page)."""
    if not sample_ids:
        return {}
    rows = db.session.execute(
        sa.select(ShipmentItem.sample_id, Shipment)
        .join(Shipment, Shipment.id == ShipmentItem.shipment_id)
        .where(ShipmentItem.sample_id.in_(sample_ids), Shipment.status != ShipmentStatus.CANCELLED)
        .order_by(ShipmentItem.id)
    ).all()
    return {sample_id: shipment for sample_id, shipment in rows}


def overdue_tubes(
    actor: User,
    *,
    site: Site | None = None,
    state: str | None = None,
    now: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
    most: int = MAX_PER_PAGE,
) -> Page[OverdueTube]:
    """Finalized tubes the biobank has not received in time, oldest first."""
    policy.require(actor, policy.Action.READ_REPORTS)
    now = now or utcnow()
    limits = Thresholds.from_settings()
    missing_before = now - limits.missing
    is_missing = sa.or_(
        Sample.status == SampleStatus.MISSING, Sample.finalized_at <= missing_before
    )
    stmt = sa.select(Sample).where(
        Sample.status.in_(NOT_YET_RECEIVED),
        sa.or_(Sample.finalized_at <= now - limits.overdue, Sample.status == SampleStatus.MISSING),
    )
    if site is not None:
        stmt = stmt.where(Sample.site_id == site.id)
    if state == "missing":
        stmt = stmt.where(is_missing)
    elif state == "overdue":
        stmt = stmt.where(sa.not_(is_missing))
    stmt = policy.scope_samples(stmt, actor).order_by(
        sorted_after_filtering(Sample.finalized_at), Sample.id
    )
    found = paginate(stmt, page=page, per_page=per_page, most=most)
    shipments = _live_item_shipment([s.id for s in found.items])
    rows = [
        OverdueTube(
            sample=sample,
            state="missing"
            if sample.status == SampleStatus.MISSING or sample.finalized_at <= missing_before
            else "overdue",
            hours_outstanding=int((now - sample.finalized_at).total_seconds() // 3600),
            shipment=shipments.get(sample.id),
        )
        for sample in found.items
    ]
    return replace(found, items=rows)


def slow_shipments(actor: User, *, now: datetime | None = None) -> list[Shipment]:
    """Shipments in transit longer than ``BIOBANK_TRANSIT_HOURS``."""
    policy.require(actor, policy.Action.READ_REPORTS)
    now = now or utcnow()
    stmt = sa.select(Shipment).where(
        Shipment.status == ShipmentStatus.IN_TRANSIT,
        Shipment.dispatched_at <= now - Thresholds.from_settings().transit,
    )
    return list(
        db.session.scalars(policy.scope_shipments(stmt, actor).order_by(Shipment.dispatched_at))
    )


@dataclass(frozen=True)
class Discrepancy:
    shipment: Shipment
    missing: list[Sample]
    unexpected: list[Sample]
    damaged: list[Sample]
    late: list[Sample]
    # On the manifest, received in another shipment (and where).
    elsewhere: list[receiving.ArrivedElsewhere] = field(default_factory=list)


def discrepancies(
    actor: User,
    *,
    site: Site | None = None,
    page: int = 1,
    per_page: int = 50,
    most: int = MAX_PER_PAGE,
) -> Page[Discrepancy]:
    """Each received shipment whose contents did not match its manifest, newest first."""
    policy.require(actor, policy.Action.READ_REPORTS)
    stmt = (
        sa.select(Shipment)
        .where(Shipment.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES)
        .options(
            selectinload(Shipment.items).joinedload(ShipmentItem.sample).selectinload(Sample.flags)
        )
    )
    if site is not None:
        stmt = stmt.where(
            sa.or_(Shipment.origin_site_id == site.id, Shipment.destination_site_id == site.id)
        )
    stmt = policy.scope_shipments(stmt, actor).order_by(Shipment.received_at.desc(), Shipment.id)
    found = paginate(stmt, page=page, per_page=per_page, most=most)
    rows = []
    for shipment in found.items:
        by_outcome: dict[ItemOutcome | None, list[Sample]] = {}
        for item in shipment.items:
            by_outcome.setdefault(item.outcome, []).append(item.sample)
        late = [
            item.sample
            for item in shipment.items
            if any(flag.kind == "late" for flag in item.sample.flags)
        ]
        rows.append(
            Discrepancy(
                shipment=shipment,
                missing=by_outcome.get(ItemOutcome.MISSING, []),
                unexpected=by_outcome.get(ItemOutcome.UNEXPECTED, []),
                damaged=by_outcome.get(ItemOutcome.DAMAGED, []),
                late=late,
                elsewhere=receiving.arrived_elsewhere(shipment)
                if ItemOutcome.ARRIVED_ELSEWHERE in by_outcome
                else [],
            )
        )
    return replace(found, items=rows)


@dataclass(frozen=True)
class FreezerOccupancy:
    freezer: Container
    used: int
    capacity: int
    boxes: int
    full_boxes: int
    stored_last_30_days: int

    @property
    def percent(self) -> int:
        return round(100 * self.used / self.capacity) if self.capacity else 0

    @property
    def daily_intake(self) -> float:
        return self.stored_last_30_days / INTAKE_WINDOW.days

    @property
    def days_until_full(self) -> int | None:
        """At the last 30 days' intake; None when nothing came in (no end in sight)."""
        if self.daily_intake == 0:
            return None
        return int((self.capacity - self.used) / self.daily_intake)


INTAKE_WINDOW = timedelta(days=30)


def occupancy_report(
    actor: User, *, site: Site | None = None, now: datetime | None = None
) -> list[FreezerOccupancy]:
    """Every freezer's fill, full boxes, and a forecast of the days until it is full."""
    policy.require(actor, policy.Action.READ_REPORTS)
    now = now or utcnow()
    stmt = sa.select(Container).where(
        Container.kind == ContainerKind.FREEZER, Container.active.is_(True)
    )
    if site is not None:
        stmt = stmt.where(Container.site_id == site.id)
    freezers = db.session.scalars(
        policy.scope_containers(stmt, actor).order_by(Container.site_id, Container.name)
    ).all()
    ids = [freezer.id for freezer in freezers]
    fills = freezer_tree.freezer_fills(ids)
    intake = stored_since_by_freezer(ids, now - INTAKE_WINDOW)
    return [
        FreezerOccupancy(
            freezer,
            fills[freezer.id].used,
            fills[freezer.id].capacity,
            fills[freezer.id].boxes,
            fills[freezer.id].full_boxes,
            intake.get(freezer.id, 0),
        )
        for freezer in freezers
    ]


def stored_since_by_freezer(freezer_ids: list[int], since: datetime) -> dict[int, int]:
    """Tubes put into each freezer's boxes since ``since`` (its STORED events, one query)."""
    if not freezer_ids:
        return {}
    # The window's events are counted per box first, then the boxes summed per freezer: the
    # window is read once. Joined the other way, SQLite without statistics read the window
    # again for every one of a freezer's thousands of boxes (minutes at a million tubes).
    per_box = (
        sa.select(Event.container_id, sa.func.count().label("stored"))
        .where(Event.type == str(EventType.STORED), Event.at >= since)
        .group_by(Event.container_id)
        .subquery()
    )
    return {
        freezer: int(stored)
        for freezer, stored in db.session.execute(
            sa.select(Container.freezer_id, sa.func.sum(per_box.c.stored))
            .join(per_box, per_box.c.container_id == Container.id)
            .where(Container.freezer_id.in_(freezer_ids))
            .group_by(Container.freezer_id)
        )
    }


def disposal_list(
    actor: User,
    *,
    site: Site | None = None,
    page: int = 1,
    per_page: int = 50,
    most: int = MAX_PER_PAGE,
) -> Page[Sample]:
    """Tubes flagged for disposal (their participant withdrew) and not yet disposed of. A
    tube at a study is not the biobank's to dispose of: the study is on the studies to notify
    (``distribution.aftercare``); a tube it sends back returns to this list."""
    policy.require(actor, policy.Action.READ_REPORTS)
    stmt = sa.select(Sample).where(
        Sample.flags.any(SampleFlag.kind == FlagKind.DISPOSAL_REQUIRED),
        Sample.status.not_in(
            [SampleStatus.DISPOSED, SampleStatus.CONSUMED, SampleStatus.DISTRIBUTED]
        ),
    )
    if site is not None:
        stmt = stmt.where(Sample.custody_site_id == site.id)
    return paginate(
        policy.scope_samples(stmt, actor).order_by(Sample.id),
        page=page,
        per_page=per_page,
        most=most,
    )


# --- processing and collection-to-freezer times --------------------------------------------

DURATION_BUCKETS = (
    (24, "under 1 day"),
    (48, "1–2 days"),
    (72, "2–3 days"),
    (168, "3–7 days"),
    (None, "over 7 days"),
)


@dataclass(frozen=True)
class ProcessingDeviations:
    site: Site
    processed: int
    early: int
    late: int

    @property
    def percent(self) -> float:
        return round(100 * (self.early + self.late) / self.processed, 1) if self.processed else 0.0


def processing_deviations(
    actor: User, *, days: int = 90, now: datetime | None = None
) -> list[ProcessingDeviations]:
    """Per collecting site: SST/PST tubes processed in the window, and how many broke the
    HealthPro timing rules (SST spun within 30 min; SST/PST spun after 4 h)."""
    policy.require(actor, policy.Action.READ_REPORTS)
    now = now or utcnow()
    flagged = {
        kind: sa.func.sum(sa.case((Sample.flags.any(SampleFlag.kind == kind), 1), else_=0))
        for kind in (FlagKind.EARLY_PROCESSING, FlagKind.LATE_PROCESSING)
    }
    rows = db.session.execute(
        sa.select(
            Site,
            sa.func.count(Sample.id),
            flagged[FlagKind.EARLY_PROCESSING],
            flagged[FlagKind.LATE_PROCESSING],
        )
        .join(Sample, Sample.site_id == Site.id)
        .where(Sample.processed_at.is_not(None), Sample.processed_at >= now - timedelta(days=days))
        .group_by(Site.id)
        .order_by(Site.code)
    ).all()
    return [
        ProcessingDeviations(site, int(count), int(early or 0), int(late or 0))
        for site, count, early, late in rows
    ]


@dataclass(frozen=True)
class FreezerTimes:
    site: Site
    buckets: dict[str, int]
    mean_hours: float

    @property
    def stored(self) -> int:
        return sum(self.buckets.values())


def collection_to_freezer(
    actor: User | None, *, days: int = 90, now: datetime | None = None
) -> list[FreezerTimes]:
    """Per collecting site: how long its tubes took from the draw to a freezer position,
    as a distribution (tubes stored in the window)."""
    if actor is not None:
        policy.require(actor, policy.Action.READ_REPORTS)
    now = now or utcnow()
    counts = tallies.window_counts(
        "collection_to_freezer", _draw_to_freezer_by_day, now - timedelta(days=days), now
    )
    by_site: dict[int, dict[str, list[float]]] = {}
    for key, figures in counts.items():
        site_id, label = key.split("|", 1)
        by_site.setdefault(int(site_id), {})[label] = figures
    sites_by_id = {
        site.id: site
        for site in db.session.scalars(sa.select(Site).where(Site.id.in_(list(by_site))))
    }
    rows = []
    for site_key, site_figures in by_site.items():
        buckets = {name: int(site_figures.get(name, [0])[0]) for _, name in DURATION_BUCKETS}
        hours = sum(total for _, total in site_figures.values())
        rows.append(
            FreezerTimes(
                sites_by_id[site_key], buckets, round(hours / max(sum(buckets.values()), 1), 1)
            )
        )
    return sorted(rows, key=lambda row: row.site.code)


def _draw_to_freezer_by_day(start: datetime, end: datetime | None) -> dict[str, tallies.Counts]:
    """Tubes stored in [start, end) per UTC day, site and duration bucket: how many, and their
    hours from the draw to the freezer summed (``site_id|bucket`` keys)."""
    if end is not None and start >= end:
        return {}
    until = [] if end is None else [Sample.stored_at < end]
    hours = hours_between(Sample.collected_at, Sample.stored_at)
    bucket = sa.case(
        *[(hours < limit, label) for limit, label in DURATION_BUCKETS if limit is not None],
        else_=DURATION_BUCKETS[-1][1],
    )
    day = local_day(Sample.stored_at, "UTC")
    by_day: dict[str, tallies.Counts] = {}
    for stored_on, site_id, label, count, total_hours in db.session.execute(
        sa.select(day, Sample.site_id, bucket, sa.func.count(), sa.func.sum(hours))
        .where(
            Sample.collected_at.is_not(None),
            Sample.stored_at >= start,
            *until,
        )
        .group_by(day, Sample.site_id, bucket)
    ):
        by_day.setdefault(stored_on, {})[f"{site_id}|{label}"] = [
            int(count),
            float(total_hours or 0),
        ]
    return by_day


# --- every report as one table (pages, CSV and PDF) -----------------------------------------


@dataclass(frozen=True)
class ReportTable:
    name: str
    title: str
    # Machine names: the CSV's header, stable for scripts and spreadsheets.
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    note: str = ""

    @property
    def headings(self) -> tuple[str, ...]:
        """The columns as people read them, on the page and in the PDF."""
        return tuple(
            COLUMN_HEADINGS.get(column, column.replace("_", " ").capitalize())
            for column in self.columns
        )


COLUMN_HEADINGS = {
    "barcode": "Sample ID",
    "tube_type": "Tube type",
    "hours_outstanding": "Hours outstanding",
    "finalized_at": "Finalized",
    "manifest_number": "Manifest",
    "shipment_status": "Shipment",
    "origin": "From",
    "destination": "To",
    "received_at": "Received",
    "late": "Found late",
    "arrived_elsewhere": "Received in another shipment",
    "sst_pst_processed": "SST and PST tubes processed",
    "spun_within_30_min": "Spun within 30 min",
    "spun_after_4_h": "Spun after 4 h",
    "deviation_percent": "Deviations (%)",
    "mean_hours": "Mean (hours)",
    "percent": "Full (%)",
    "stored_last_30_days": "Stored in the last 30 days",
    "days_until_full": "Days until full",
    "custody_site": "Held at",
    "hours_in_transit": "Hours in transit",
    "dispatched_at": "Dispatched",
    "ceremony": "Disposal ceremony",
}


def _fmt_time(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else ""


def overdue_table(
    actor: User, *, site: Site | None = None, state: str | None = None, limit: int = 100_000
) -> ReportTable:
    page = overdue_tubes(actor, site=site, state=state, per_page=limit, most=limit)
    return ReportTable(
        "overdue",
        "Overdue and missing tubes",
        (
            "barcode",
            "tube_type",
            "site",
            "state",
            "hours_outstanding",
            "finalized_at",
            "manifest_number",
            "shipment_status",
        ),
        [
            (
                row.sample.barcode,
                row.sample.tube_type.code,
                row.sample.site.code,
                row.state,
                row.hours_outstanding,
                _fmt_time(row.sample.finalized_at),
                row.shipment.manifest_number if row.shipment else "",
                str(row.shipment.status) if row.shipment else "",
            )
            for row in page.items
        ],
        note=f"Overdue after {setting('BIOBANK_OVERDUE_HOURS')} h, missing after "
        f"{setting('BIOBANK_MISSING_DAYS')} days or when not found at receipt.",
    )


def discrepancies_table(actor: User, *, site: Site | None = None) -> ReportTable:
    found = discrepancies(actor, site=site, per_page=MAX_PAGE, most=MAX_PAGE)
    return ReportTable(
        "discrepancies",
        "Receipts that did not match their manifest",
        (
            "manifest_number",
            "origin",
            "destination",
            "received_at",
            "condition",
            "missing",
            "unexpected",
            "damaged",
            "late",
            "arrived_elsewhere",
        ),
        [
            (
                d.shipment.manifest_number,
                d.shipment.origin.code,
                d.shipment.destination.code,
                _fmt_time(d.shipment.received_at),
                str(d.shipment.condition or ""),
                " ".join(s.barcode for s in d.missing),
                " ".join(s.barcode for s in d.unexpected),
                " ".join(s.barcode for s in d.damaged),
                " ".join(s.barcode for s in d.late),
                "; ".join(f"{e.barcode} in {e.arrived_in}" for e in d.elsewhere),
            )
            for d in found.items
        ],
    )


def hours_in_transit(shipment: Shipment, now: datetime) -> int | None:
    """Whole hours since the shipment was dispatched (None before dispatch)."""
    if shipment.dispatched_at is None:
        return None
    return int((now - shipment.dispatched_at).total_seconds() // 3600)


def slow_shipments_table(actor: User) -> ReportTable:
    now = utcnow()
    found = slow_shipments(actor, now=now)
    tubes = sending.manifested_counts(found)
    return ReportTable(
        "slow-shipments",
        "Shipments in transit too long",
        (
            "manifest_number",
            "origin",
            "destination",
            "temperature",
            "tubes",
            "dispatched_at",
            "hours_in_transit",
            "carrier",
            "tracking_number",
        ),
        [
            (
                s.manifest_number,
                s.origin.code,
                s.destination.code,
                str(s.temperature),
                tubes[s.id],
                _fmt_time(s.dispatched_at),
                hours_in_transit(s, now) if s.dispatched_at else "",
                sending.carrier_name(s.carrier) or "",
                s.tracking_number or "",
            )
            for s in found
        ],
        note=f"Dispatched more than {setting('BIOBANK_TRANSIT_HOURS')} hours ago and not yet "
        "received.",
    )


def processing_table(actor: User, *, days: int = 90) -> ReportTable:
    return ReportTable(
        "processing",
        f"Processing-time deviations by site, last {days} days",
        ("site", "sst_pst_processed", "spun_within_30_min", "spun_after_4_h", "deviation_percent"),
        [
            (r.site.code, r.processed, r.early, r.late, r.percent)
            for r in processing_deviations(actor, days=days)
        ],
        note="SST spun less than 30 minutes after the draw may not have clotted; SST and PST "
        "spun more than 4 hours after it are late (HealthPro rules).",
    )


def freezer_times_table(actor: User, *, days: int = 90) -> ReportTable:
    labels = [name for _, name in DURATION_BUCKETS]
    return ReportTable(
        "collection-to-freezer",
        f"Collection to freezer time by site, tubes stored in the last {days} days",
        ("site", "tubes", "mean_hours", *labels),
        [
            (r.site.code, r.stored, r.mean_hours, *(r.buckets[name] for name in labels))
            for r in collection_to_freezer(actor, days=days)
        ],
    )


def occupancy_table(actor: User, *, site: Site | None = None) -> ReportTable:
    return ReportTable(
        "occupancy",
        "Freezer occupancy and forecast",
        (
            "site",
            "freezer",
            "used",
            "capacity",
            "percent",
            "full_boxes",
            "stored_last_30_days",
            "days_until_full",
        ),
        [
            (
                r.freezer.site.code,
                r.freezer.name,
                r.used,
                r.capacity,
                r.percent,
                r.full_boxes,
                r.stored_last_30_days,
                "" if r.days_until_full is None else r.days_until_full,
            )
            for r in occupancy_report(actor, site=site)
        ],
        note="Days until full at the last 30 days' intake; blank when nothing came in.",
    )


def disposals_table(actor: User, *, site: Site | None = None) -> ReportTable:
    page = disposal_list(actor, site=site, per_page=MAX_PAGE, most=MAX_PAGE)
    ceremonies = _ceremonies(page.items)
    return ReportTable(
        "disposals",
        "Tubes to dispose of (participant withdrew)",
        ("barcode", "tube_type", "status", "custody_site", "reason", "ceremony"),
        [
            (
                s.barcode,
                s.tube_type.code,
                str(s.status),
                s.custody_site.code,
                next((f.note or "" for f in s.flags if f.kind == FlagKind.DISPOSAL_REQUIRED), ""),
                "yes" if s.collection and s.collection.participant_id in ceremonies else "",
            )
            for s in page.items
        ],
    )


def _ceremonies(tubes: Sequence[Sample]) -> set[str]:
    """Which of these tubes' participants asked for a disposal ceremony (one query)."""
    from biobank.models import Participant

    wanted = {t.collection.participant_id for t in tubes if t.collection}
    if not wanted:
        return set()
    return set(
        db.session.scalars(
            sa.select(Participant.participant_id).where(
                Participant.participant_id.in_(wanted), Participant.disposal_ceremony.is_(True)
            )
        )
    )


MAX_PAGE = 100_000


# Every downloadable report by name, with the filters each understands.
REPORT_TABLES = {
    "overdue": (overdue_table, ("site", "state")),
    "discrepancies": (discrepancies_table, ("site",)),
    "slow-shipments": (slow_shipments_table, ()),
    "processing": (processing_table, ("days",)),
    "collection-to-freezer": (freezer_times_table, ("days",)),
    "occupancy": (occupancy_table, ("site",)),
    "disposals": (disposals_table, ("site",)),
}


# A report's look-back window: a day to ten years.
MAX_REPORT_DAYS = 3650


def report_table(actor: User, name: str, **filters: Any) -> ReportTable:
    """The named report as a table, given only the filters it takes."""
    from biobank.errors import NotFound, ValidationFailed

    if name not in REPORT_TABLES:
        raise NotFound(f"There is no report {name!r}: choose {', '.join(REPORT_TABLES)}.")
    days = filters.get("days")
    if days is not None and not 1 <= days <= MAX_REPORT_DAYS:
        raise ValidationFailed.for_field("days", f"Choose between 1 and {MAX_REPORT_DAYS} days.")
    build, accepted = REPORT_TABLES[name]
    return build(actor, **{k: v for k, v in filters.items() if k in accepted and v is not None})

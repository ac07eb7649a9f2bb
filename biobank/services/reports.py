"""What coordinators chase: overdue and missing tubes, slow shipments, receipt discrepancies.

Thresholds are settings (DESIGN §2): a finalized tube not received ``BIOBANK_OVERDUE_HOURS``
after finalizing is overdue, after ``BIOBANK_MISSING_DAYS`` it is missing; a tube the biobank
did not find when it closed the receipt is missing at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from biobank.db import utcnow
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
    StoragePosition,
    User,
)
from biobank.services import policy
from biobank.services.pages import Page, paginate
from biobank.services.settings import setting

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
    stmt = policy.scope_samples(stmt, actor).order_by(Sample.finalized_at, Sample.id)
    found = paginate(stmt, page=page, per_page=per_page)
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
    return Page(rows, found.total, found.page, found.per_page)


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


def discrepancies(
    actor: User, *, site: Site | None = None, page: int = 1, per_page: int = 50
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
    found = paginate(stmt, page=page, per_page=per_page)
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
            )
        )
    return Page(rows, found.total, found.page, found.per_page)


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
    rows = []
    for freezer in freezers:
        tree = sa.select(Container.id).where(Container.id == freezer.id).cte(recursive=True)
        child = aliased(Container)
        tree = tree.union_all(sa.select(child.id).where(child.parent_id == tree.c.id))
        per_box = (
            sa.select(
                Container.id.label("box_id"),
                (Container.rows * Container.cols).label("capacity"),
                sa.func.count(StoragePosition.id).label("used"),
            )
            .join(tree, tree.c.id == Container.id)
            .outerjoin(StoragePosition, StoragePosition.box_id == Container.id)
            .where(Container.kind == ContainerKind.BOX, Container.active.is_(True))
            .group_by(Container.id, Container.rows, Container.cols)
            .subquery()
        )
        boxes, capacity, used, full = db.session.execute(
            sa.select(
                sa.func.count(per_box.c.box_id),
                sa.func.coalesce(sa.func.sum(per_box.c.capacity), 0),
                sa.func.coalesce(sa.func.sum(per_box.c.used), 0),
                sa.func.coalesce(
                    sa.func.sum(sa.case((per_box.c.used >= per_box.c.capacity, 1), else_=0)), 0
                ),
            )
        ).one()
        intake = db.session.scalar(
            sa.select(sa.func.count(Event.id)).where(
                Event.type == str(EventType.STORED),
                Event.at >= now - INTAKE_WINDOW,
                Event.container_id.in_(sa.select(per_box.c.box_id)),
            )
        )
        # SUM() is NUMERIC on PostgreSQL: whole numbers here, whatever the database.
        rows.append(
            FreezerOccupancy(freezer, int(used), int(capacity), int(boxes), int(full), intake or 0)
        )
    return rows


def disposal_list(
    actor: User, *, site: Site | None = None, page: int = 1, per_page: int = 50
) -> Page[Sample]:
    """Tubes flagged for disposal (their participant withdrew) and not yet disposed of."""
    policy.require(actor, policy.Action.READ_REPORTS)
    stmt = sa.select(Sample).where(
        Sample.flags.any(SampleFlag.kind == FlagKind.DISPOSAL_REQUIRED),
        Sample.status.not_in([SampleStatus.DISPOSED, SampleStatus.CONSUMED]),
    )
    if site is not None:
        stmt = stmt.where(Sample.custody_site_id == site.id)
    return paginate(
        policy.scope_samples(stmt, actor).order_by(Sample.id), page=page, per_page=per_page
    )

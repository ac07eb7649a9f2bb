"""What each role sees first: the work waiting for them, from live data.

Every figure is an aggregate in SQL (counts, day buckets, duration buckets) so a dashboard
costs the same few queries at ten tubes or ten million.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import (
    Collection,
    CollectionStatus,
    Container,
    ContainerKind,
    KitTemplate,
    Role,
    Sample,
    SampleStatus,
    Shipment,
    ShipmentStatus,
    Site,
    StoragePosition,
    TubeType,
    User,
)
from biobank.services import reports
from biobank.services.reports import Thresholds
from biobank.services.sqltime import local_day


@dataclass
class Chart:
    """A small chart the page draws as SVG: labelled bars, optionally stacked."""

    title: str
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = ""
    summary: str = ""


@dataclass
class Dashboard:
    role: Role
    counts: dict[str, int] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)


def start_of_local_day(site: Site, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    local = now.astimezone(ZoneInfo(site.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def _count(stmt: sa.Select[Any]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


# --- clinic --------------------------------------------------------------------------------


def collector_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    site_collections = sa.select(Collection).where(Collection.site_id == user.site_id)
    today = site_collections.where(Collection.created_at >= start_of_local_day(user.site, now))
    drafts = site_collections.where(Collection.status == CollectionStatus.DRAFT)
    ready = (
        sa.select(Collection.id, Collection.participant_id, sa.func.count(Sample.id))
        .join(Sample, Sample.collection_id == Collection.id)
        .where(Collection.site_id == user.site_id, Sample.status == SampleStatus.FINALIZED)
        .group_by(Collection.id, Collection.participant_id)
        .order_by(Collection.id)
    )
    open_shipments = sa.select(Shipment).where(
        Shipment.origin_site_id == user.site_id, Shipment.status == ShipmentStatus.OPEN
    )
    on_the_way = sa.select(Shipment).where(
        Shipment.origin_site_id == user.site_id, Shipment.status == ShipmentStatus.IN_TRANSIT
    )
    ready_rows = db.session.execute(ready.limit(20)).all()
    return Dashboard(
        Role.COLLECTOR,
        counts={
            "collections_today": _count(today),
            "unfinished_collections": _count(drafts),
            "tubes_ready_to_ship": _count(
                sa.select(Sample.id).where(
                    Sample.site_id == user.site_id, Sample.status == SampleStatus.FINALIZED
                )
            ),
            "open_shipments": _count(open_shipments),
        },
        lists={
            "unfinished_collections": list(
                db.session.scalars(
                    drafts.options(selectinload(Collection.samples))
                    .order_by(Collection.created_at.desc())
                    .limit(20)
                )
            ),
            "ready_to_ship": [
                {"collection_id": cid, "participant_id": pid, "tubes": n}
                for cid, pid, n in ready_rows
            ],
            "open_shipments": list(
                db.session.scalars(
                    open_shipments.options(selectinload(Shipment.items))
                    .order_by(Shipment.created_at.desc())
                    .limit(20)
                )
            ),
            "on_the_way": list(
                db.session.scalars(on_the_way.order_by(Shipment.dispatched_at.desc()).limit(10))
            ),
        },
    )


# --- biobank ------------------------------------------------------------------------------


def full_boxes(site_id: int, threshold: float = 0.9, limit: int = 20) -> list[dict[str, Any]]:
    """Boxes at least ``threshold`` full, fullest first (one grouped query)."""
    used = sa.func.count(StoragePosition.id)
    capacity = Container.rows * Container.cols
    rows = db.session.execute(
        sa.select(Container.id, Container.name, used, capacity)
        .outerjoin(StoragePosition, StoragePosition.box_id == Container.id)
        .where(
            Container.site_id == site_id,
            Container.kind == ContainerKind.BOX,
            Container.active.is_(True),
        )
        .group_by(Container.id, Container.name, Container.rows, Container.cols)
        .having(used >= capacity * threshold)
        .order_by((used * 1.0 / capacity).desc(), Container.id)
        .limit(limit)
    ).all()
    return [
        {"id": box_id, "name": name, "used": int(n), "capacity": int(cap)}
        for box_id, name, n, cap in rows
    ]


def technician_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    incoming = sa.select(Shipment).where(
        Shipment.destination_site_id == user.site_id,
        Shipment.status == ShipmentStatus.IN_TRANSIT,
    )
    in_progress = incoming.where(Shipment.receipt_opened_at.is_not(None))
    waiting = sa.select(Sample).where(
        Sample.custody_site_id == user.site_id, Sample.status == SampleStatus.RECEIVED
    )
    boxes = full_boxes(user.site_id)
    return Dashboard(
        Role.TECHNICIAN,
        counts={
            "shipments_on_the_way": _count(incoming),
            "receipts_in_progress": _count(in_progress),
            "tubes_waiting_for_a_freezer": _count(waiting),
            "full_boxes": sum(1 for b in boxes if b["used"] >= b["capacity"]),
        },
        lists={
            "shipments_on_the_way": list(
                db.session.scalars(incoming.order_by(Shipment.dispatched_at).limit(20))
            ),
            "receipts_in_progress": list(
                db.session.scalars(in_progress.order_by(Shipment.receipt_opened_at).limit(20))
            ),
            "tubes_waiting_for_a_freezer": list(
                db.session.scalars(waiting.order_by(Sample.received_at).limit(20))
            ),
            "full_boxes": boxes,
        },
    )


# --- program --------------------------------------------------------------------------------


def received_per_day(zone: str, days: int = 14, now: datetime | None = None) -> Chart:
    now = now or utcnow()
    today = now.astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    day = local_day(Sample.received_at, zone)
    counts = dict(
        db.session.execute(
            sa.select(day, sa.func.count(Sample.id))
            .where(Sample.received_at >= now - timedelta(days=days + 1))
            .group_by(day)
        ).all()
    )
    labels = [(first + timedelta(days=n)) for n in range(days)]
    values = [float(counts.get(d.isoformat(), 0)) for d in labels]
    return Chart(
        title=f"Tubes received per day, last {days} days",
        labels=[_short(d) for d in labels],
        series={"received": values},
        unit="tubes",
        summary=f"{int(sum(values))} tubes received in {days} days",
    )


def _short(day: date) -> str:
    return day.strftime("%d %b")


def collection_to_freezer(days: int = 90, now: datetime | None = None) -> Chart:
    """How long tubes took from the draw to a freezer position, by collecting site."""
    rows = reports.collection_to_freezer(None, days=days, now=now)
    labels = [name for _, name in reports.DURATION_BUCKETS]
    return Chart(
        title=f"Collection to freezer, by site (tubes stored in the last {days} days)",
        labels=[row.site.code for row in rows],
        series={name: [float(row.buckets[name]) for row in rows] for name in labels},
        unit="tubes",
        summary="Each bar is a site; its parts are how long its tubes took to reach a freezer.",
    )


def freezer_fill(limit: int = 12) -> Chart:
    from biobank.services.storage import occupancy

    freezers = db.session.scalars(
        sa.select(Container)
        .where(Container.kind == ContainerKind.FREEZER, Container.active.is_(True))
        .order_by(Container.site_id, Container.name)
        .limit(limit)
    ).all()
    figures = [occupancy(f) for f in freezers]
    return Chart(
        title="Freezer occupancy",
        labels=[f"{f.site.code} {f.name}" for f in freezers],
        series={"used": [float(o.percent) for o in figures]},
        unit="%",
        summary="Share of each freezer's box positions in use.",
    )


def site_activity(days: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or utcnow()
    since = now - timedelta(days=days)

    def per_site(column: Any, *conditions: Any) -> dict[str, int]:
        return dict(
            db.session.execute(
                sa.select(Site.code, sa.func.count(Sample.id))
                .join(Site, Site.id == column)
                .where(*conditions)
                .group_by(Site.code)
            ).all()
        )

    collected = per_site(Sample.site_id, Sample.collected_at >= since)
    received = per_site(Sample.site_id, Sample.received_at >= since)
    limits = Thresholds.from_settings()
    overdue = per_site(
        Sample.site_id,
        Sample.status.in_([SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT]),
        Sample.finalized_at <= now - limits.overdue,
    )
    missing = per_site(Sample.site_id, Sample.status == SampleStatus.MISSING)
    collection_sites = db.session.scalars(sa.select(Site).order_by(Site.code)).all()
    return [
        {
            "site": site,
            "collected": collected.get(site.code, 0),
            "received": received.get(site.code, 0),
            "overdue": overdue.get(site.code, 0),
            "missing": missing.get(site.code, 0),
        }
        for site in collection_sites
        if site.kind == "collection"
    ]


def coordinator_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    limits = Thresholds.from_settings()
    not_received = (SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT)
    overdue = sa.select(Sample.id).where(
        Sample.status.in_(not_received),
        Sample.finalized_at <= now - limits.overdue,
        Sample.finalized_at > now - limits.missing,
    )
    missing = sa.select(Sample.id).where(
        sa.or_(
            Sample.status == SampleStatus.MISSING,
            sa.and_(Sample.status.in_(not_received), Sample.finalized_at <= now - limits.missing),
        )
    )
    in_transit = sa.select(Shipment).where(Shipment.status == ShipmentStatus.IN_TRANSIT)
    return Dashboard(
        Role.COORDINATOR,
        counts={
            "overdue_tubes": _count(overdue),
            "missing_tubes": _count(missing),
            "shipments_in_transit": _count(in_transit),
            "shipments_with_discrepancies": _count(
                sa.select(Shipment.id).where(
                    Shipment.status == ShipmentStatus.RECEIVED_WITH_DISCREPANCIES,
                    Shipment.received_at >= now - timedelta(days=30),
                )
            ),
        },
        lists={
            "site_activity": site_activity(now=now),
            "shipments_in_transit": list(
                db.session.scalars(in_transit.order_by(Shipment.dispatched_at).limit(15))
            ),
        },
        charts=[
            received_per_day(user.site.timezone, now=now),
            collection_to_freezer(now=now),
            freezer_fill(),
        ],
    )


def admin_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    from biobank.services.storage import occupancy

    freezers = db.session.scalars(
        sa.select(Container)
        .where(Container.kind == ContainerKind.FREEZER)
        .order_by(Container.site_id, Container.name)
    ).all()
    return Dashboard(
        Role.ADMIN,
        counts={
            "sites": _count(sa.select(Site.id)),
            "users": _count(sa.select(User.id)),
            "tube_types": _count(sa.select(TubeType.id)),
            "kits": _count(sa.select(KitTemplate.id)),
            "freezers": len(freezers),
        },
        lists={
            "sites": list(db.session.scalars(sa.select(Site).order_by(Site.code))),
            "users": list(db.session.scalars(sa.select(User).order_by(User.username))),
            "tube_types": list(db.session.scalars(sa.select(TubeType).order_by(TubeType.code))),
            "kits": list(db.session.scalars(sa.select(KitTemplate).order_by(KitTemplate.code))),
            "freezers": [(f, occupancy(f)) for f in freezers],
        },
    )


def dashboard_for(user: User, now: datetime | None = None) -> Dashboard:
    builders = {
        Role.COLLECTOR: collector_dashboard,
        Role.TECHNICIAN: technician_dashboard,
        Role.COORDINATOR: coordinator_dashboard,
        Role.ADMIN: admin_dashboard,
    }
    return builders[user.role](user, now)

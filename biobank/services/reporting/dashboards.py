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
    BoxFill,
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
    TubeType,
    User,
)
from biobank.services.core import throttle
from biobank.services.core.figure_cache import cached_figure
from biobank.services.core.sqltime import local_day
from biobank.services.reporting import reports
from biobank.services.reporting.reports import Thresholds
from biobank.services.storage import freezer_tree
from biobank.services.storage.freezer_tree import NEARLY_FULL_PERCENT


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
    lists: dict[str, Any] = field(default_factory=dict)
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
    # Grouped on the tubes' own (site, status, collection) index: only the few finalized
    # tubes are read, never the site's stored ones.
    ready_tubes = (
        sa.select(Sample.collection_id, sa.func.count(Sample.id).label("tubes"))
        .where(Sample.site_id == user.site_id, Sample.status == SampleStatus.FINALIZED)
        .group_by(Sample.collection_id)
        .order_by(Sample.collection_id)
        .limit(20)
        .subquery()
    )
    ready = (
        sa.select(Collection.id, Collection.participant_id, ready_tubes.c.tubes)
        .join(ready_tubes, ready_tubes.c.collection_id == Collection.id)
        .order_by(Collection.id)
    )
    open_shipments = sa.select(Shipment).where(
        Shipment.origin_site_id == user.site_id, Shipment.status == ShipmentStatus.OPEN
    )
    on_the_way = sa.select(Shipment).where(
        Shipment.origin_site_id == user.site_id, Shipment.status == ShipmentStatus.IN_TRANSIT
    )
    ready_rows = db.session.execute(ready).all()
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


def full_boxes(
    site_id: int, threshold: float = NEARLY_FULL_PERCENT / 100, limit: int = 20
) -> list[dict[str, Any]]:
    """Boxes at least ``threshold`` full, fullest first (one query over the site's boxes and
    their kept fills; kept briefly)."""
    return cached_figure(
        "full_boxes", lambda: _full_boxes(site_id, threshold, limit), site_id, threshold, limit
    )


def _full_boxes(site_id: int, threshold: float, limit: int) -> list[dict[str, Any]]:
    # Driven by the kept fills, joined once: a box with no fill row holds nothing, so it is
    # never nearly full. (A correlated read of each box's fill ran three times a box.)
    used = BoxFill.used
    capacity = Container.rows * Container.cols
    rows = db.session.execute(
        sa.select(Container.id, Container.name, used, capacity)
        .join(BoxFill, BoxFill.box_id == Container.id)
        .where(
            Container.site_id == site_id,
            Container.kind == ContainerKind.BOX,
            Container.active.is_(True),
            used >= capacity * threshold,
        )
        .order_by((used * 1.0 / capacity).desc(), Container.id)
        .limit(limit)
    ).all()
    return [
        {"id": box_id, "name": name, "used": int(n or 0), "capacity": int(cap or 0)}
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
    if now is not None:
        return _received_per_day(zone, days, now)
    return cached_figure(
        "received_per_day", lambda: _received_per_day(zone, days, utcnow()), zone, days
    )


def _received_per_day(zone: str, days: int, now: datetime) -> Chart:
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
    if now is not None:  # a chosen moment is a one-off question: answer it fresh
        return _collection_to_freezer(days, now)
    return cached_figure("collection_to_freezer", lambda: _collection_to_freezer(days, None), days)


def _collection_to_freezer(days: int, now: datetime | None) -> Chart:
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
    return cached_figure("freezer_fill", lambda: _freezer_fill(limit), limit)


def _freezer_fill(limit: int) -> Chart:
    freezers = db.session.scalars(
        sa.select(Container)
        .where(Container.kind == ContainerKind.FREEZER, Container.active.is_(True))
        .order_by(Container.site_id, Container.name)
        .limit(limit)
    ).all()
    fills = freezer_tree.freezer_fills([f.id for f in freezers])
    return Chart(
        title="Freezer occupancy",
        labels=[f"{f.site.code} {f.name}" for f in freezers],
        series={"used": [float(fills[f.id].percent) for f in freezers]},
        unit="%",
        summary="Share of each freezer's box positions in use.",
    )


def site_activity(days: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per collecting site: tubes collected and received in the last ``days``, overdue and
    missing now (kept briefly when asked about the present: it reads a week of tubes)."""
    if now is not None:
        return _site_activity(days, now)
    return cached_figure("site_activity", lambda: _site_activity(days, utcnow()), days)


def _site_activity(days: int, now: datetime) -> list[dict[str, Any]]:
    since = now - timedelta(days=days)

    def per_site(*conditions: Any) -> dict[int, int]:
        return dict(
            db.session.execute(
                sa.select(Sample.site_id, sa.func.count(Sample.id))
                .where(*conditions)
                .group_by(Sample.site_id)
            ).all()
        )

    collected = per_site(Sample.collected_at >= since)
    received = per_site(Sample.received_at >= since)
    limits = Thresholds.from_settings()
    overdue = per_site(
        Sample.status.in_([SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT]),
        Sample.finalized_at <= now - limits.overdue,
    )
    missing = per_site(Sample.status == SampleStatus.MISSING)
    collection_sites = db.session.scalars(
        sa.select(Site).where(Site.kind == "collection").order_by(Site.code)
    ).all()
    # Plain values, not Site objects: the rows may outlive this session in the cache.
    return [
        {
            "site": {"code": site.code, "name": site.name},
            "collected": collected.get(site.id, 0),
            "received": received.get(site.id, 0),
            "overdue": overdue.get(site.id, 0),
            "missing": missing.get(site.id, 0),
        }
        for site in collection_sites
    ]


def coordinator_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    moment_asked_for = now  # the slow program figures are cached only for "now"
    now = now or utcnow()
    limits = Thresholds.from_settings()
    not_received = (SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT)
    overdue = sa.select(Sample.id).where(
        Sample.status.in_(not_received),
        Sample.finalized_at <= now - limits.overdue,
        Sample.finalized_at > now - limits.missing,
    )
    # The status list comes first so the few unreceived tubes are read by their status, not
    # every tube finalized before the cut-off.
    missing = sa.select(Sample.id).where(
        Sample.status.in_((*not_received, SampleStatus.MISSING)),
        sa.or_(
            Sample.status == SampleStatus.MISSING,
            Sample.finalized_at <= now - limits.missing,
        ),
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
            "site_activity": site_activity(now=moment_asked_for),
            "shipments_in_transit": list(
                db.session.scalars(in_transit.order_by(Shipment.dispatched_at).limit(15))
            ),
        },
        charts=[
            received_per_day(user.site.timezone, now=moment_asked_for),
            collection_to_freezer(now=moment_asked_for),
            freezer_fill(),
        ],
    )


def admin_dashboard(user: User, now: datetime | None = None) -> Dashboard:
    freezers = db.session.scalars(
        sa.select(Container)
        .where(Container.kind == ContainerKind.FREEZER)
        .order_by(Container.site_id, Container.name)
    ).all()
    ids = tuple(f.id for f in freezers)
    fills = cached_figure("freezer_fills", lambda: freezer_tree.freezer_fills(ids), ids)
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
            # When each user locked out by wrong passwords may try again.
            "password_locks": throttle.locks(),
            "tube_types": list(db.session.scalars(sa.select(TubeType).order_by(TubeType.code))),
            "kits": list(db.session.scalars(sa.select(KitTemplate).order_by(KitTemplate.code))),
            "freezers": [(f, fills[f.id]) for f in freezers],
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

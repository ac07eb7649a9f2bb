"""What each role sees first: the work waiting for them, from live data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import (
    Collection,
    CollectionStatus,
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


@dataclass
class Dashboard:
    role: Role
    counts: dict[str, int] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)


def start_of_local_day(site: Site, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    local = now.astimezone(ZoneInfo(site.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def _count(stmt: sa.Select[Any]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


def collector_dashboard(user: User) -> Dashboard:
    site_collections = sa.select(Collection).where(Collection.site_id == user.site_id)
    today = site_collections.where(Collection.created_at >= start_of_local_day(user.site))
    drafts = site_collections.where(Collection.status == CollectionStatus.DRAFT)
    ready = sa.select(Sample.id).where(
        Sample.site_id == user.site_id, Sample.status == SampleStatus.FINALIZED
    )
    open_shipments = sa.select(Shipment).where(
        Shipment.origin_site_id == user.site_id, Shipment.status == ShipmentStatus.OPEN
    )
    return Dashboard(
        Role.COLLECTOR,
        counts={
            "collections_today": _count(today),
            "unfinished_collections": _count(drafts),
            "tubes_ready_to_ship": _count(ready),
            "open_shipments": _count(open_shipments),
        },
        lists={
            "unfinished_collections": list(
                db.session.scalars(drafts.order_by(Collection.created_at.desc()).limit(20))
            ),
            "open_shipments": list(
                db.session.scalars(open_shipments.order_by(Shipment.created_at.desc()).limit(20))
            ),
        },
    )


def technician_dashboard(user: User) -> Dashboard:
    incoming = sa.select(Shipment).where(
        Shipment.destination_site_id == user.site_id,
        Shipment.status == ShipmentStatus.IN_TRANSIT,
    )
    waiting = sa.select(Sample.id).where(
        Sample.custody_site_id == user.site_id, Sample.status == SampleStatus.RECEIVED
    )
    stored = sa.select(Sample.id).where(
        Sample.custody_site_id == user.site_id, Sample.status == SampleStatus.STORED
    )
    return Dashboard(
        Role.TECHNICIAN,
        counts={
            "shipments_on_the_way": _count(incoming),
            "receipts_in_progress": _count(incoming.where(Shipment.receipt_opened_at.is_not(None))),
            "tubes_waiting_for_a_freezer": _count(waiting),
            "tubes_stored": _count(stored),
        },
        lists={
            "shipments_on_the_way": list(
                db.session.scalars(incoming.order_by(Shipment.dispatched_at).limit(20))
            )
        },
    )


def coordinator_dashboard(user: User) -> Dashboard:
    per_site = db.session.execute(
        sa.select(Site.code, Sample.status, sa.func.count(Sample.id))
        .join(Sample, Sample.site_id == Site.id)
        .group_by(Site.code, Sample.status)
        .order_by(Site.code)
    ).all()
    by_site: dict[str, dict[str, int]] = {}
    for code, status, count in per_site:
        by_site.setdefault(code, {})[str(status)] = count
    in_transit = sa.select(Shipment).where(Shipment.status == ShipmentStatus.IN_TRANSIT)
    from biobank.services.reports import Thresholds

    overdue_since = utcnow() - Thresholds.from_settings().overdue
    overdue = sa.select(Sample.id).where(
        Sample.status.in_([SampleStatus.FINALIZED, SampleStatus.IN_TRANSIT]),
        Sample.finalized_at <= overdue_since,
    )
    return Dashboard(
        Role.COORDINATOR,
        counts={
            "shipments_in_transit": _count(in_transit),
            "overdue_tubes": _count(overdue),
            "missing_tubes": _count(
                sa.select(Sample.id).where(Sample.status == SampleStatus.MISSING)
            ),
            "collections": _count(sa.select(Collection.id)),
        },
        lists={"samples_by_site": sorted(by_site.items())},
    )


def admin_dashboard(user: User) -> Dashboard:
    return Dashboard(
        Role.ADMIN,
        counts={
            "sites": _count(sa.select(Site.id)),
            "users": _count(sa.select(User.id)),
            "tube_types": _count(sa.select(TubeType.id)),
            "kits": _count(sa.select(KitTemplate.id)),
        },
        lists={
            "sites": list(db.session.scalars(sa.select(Site).order_by(Site.code))),
            "users": list(db.session.scalars(sa.select(User).order_by(User.username))),
        },
    )


def dashboard_for(user: User) -> Dashboard:
    builders = {
        Role.COLLECTOR: collector_dashboard,
        Role.TECHNICIAN: technician_dashboard,
        Role.COORDINATOR: coordinator_dashboard,
        Role.ADMIN: admin_dashboard,
    }
    return builders[user.role](user)

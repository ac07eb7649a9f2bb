"""Realistic demo data, built through the same services the app uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import Centrifuge, Role, Site, SiteKind, User
from biobank.services import accounts, collections, labelling, sites

DEMO_PASSWORD = "tube-rack-demo-2026"

DEMO_SITES = (
    ("MAYO-BB", "Mayo Clinic Biobank", SiteKind.BIOBANK, "America/Chicago", "+1 507 555 0100"),
    (
        "UCSD-01",
        "UC San Diego Health",
        SiteKind.COLLECTION,
        "America/Los_Angeles",
        "+1 858 555 0101",
    ),
    (
        "BWH-01",
        "Brigham and Women's Hospital",
        SiteKind.COLLECTION,
        "America/New_York",
        "+1 617 555 0102",
    ),
)

DEMO_USERS = (
    ("collector", "Dana Collins", Role.COLLECTOR, "UCSD-01"),
    ("collector2", "Sam Okafor", Role.COLLECTOR, "BWH-01"),
    ("technician", "Tereza Novak", Role.TECHNICIAN, "MAYO-BB"),
    ("coordinator", "Chris Alvarez", Role.COORDINATOR, "MAYO-BB"),
    ("admin", "Avery Admin", Role.ADMIN, "MAYO-BB"),
)


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    sites: int
    users: int
    collections: int = 0


def demo_loaded() -> bool:
    return db.session.scalar(sa.select(Site.id).where(Site.code == DEMO_SITES[0][0])) is not None


def seed_demo() -> DemoSummary:
    """Create the demo sites, one user per role and some work in progress. Runs once."""
    if demo_loaded():
        return DemoSummary(False, 0, 0)
    by_code: dict[str, Site] = {}
    for code, name, kind, timezone, phone in DEMO_SITES:
        by_code[code] = sites.create_site(
            code=code, name=name, kind=kind, timezone=timezone, phone=phone
        )
    users: dict[str, User] = {}
    for username, full_name, role, site_code in DEMO_USERS:
        users[username] = accounts.create_user(
            username=username,
            full_name=full_name,
            role=role,
            site=by_code[site_code],
            password=DEMO_PASSWORD,
        )
    made = _demo_collections(users)
    return DemoSummary(True, len(by_code), len(users), made)


def _collect_and_process(actor: User, collection, drawn: datetime, minutes_to_spin: int) -> None:
    for sample in collection.samples:
        collections.record_collected(actor, collection, sample.barcode, drawn)
        if sample.tube_type.requires_processing:
            collections.record_processed(
                actor,
                collection,
                sample.barcode,
                drawn + timedelta(minutes=minutes_to_spin),
                centrifuge=Centrifuge.SWINGING_BUCKET,
            )


def _demo_collections(users: dict[str, User]) -> int:
    """Work in every state a clinic sees: finalized, in progress, just started, cancelled."""
    now = utcnow()
    made = 0
    for username, participant_base in (("collector", 100000100), ("collector2", 200000200)):
        actor = users[username]
        for index, hours_ago in enumerate((50, 26, 5)):
            collection = collections.start_collection(
                actor, participant_id=f"P{participant_base + index}", kit="BASELINE-ADULT"
            )
            labelling.collection_labels(actor, collection)
            drawn = now - timedelta(hours=hours_ago)
            _collect_and_process(actor, collection, drawn, minutes_to_spin=40 + 5 * index)
            collections.finalize_collection(actor, collection, at=drawn + timedelta(hours=1))
            made += 1
        in_progress = collections.start_collection(
            actor, participant_id=f"P{participant_base + 10}", kit="BASELINE-ADULT"
        )
        labelling.collection_labels(actor, in_progress)
        first = in_progress.samples[0]
        collections.record_collected(actor, in_progress, first.barcode, now - timedelta(minutes=50))
        # An SST spun too soon: the warning a clinic should see on its page.
        collections.record_processed(actor, in_progress, first.barcode, now - timedelta(minutes=35))
        collections.start_collection(
            actor, participant_id=f"P{participant_base + 11}", tube_types=["1UR10", "1SAL2"]
        )
        cancelled = collections.start_collection(
            actor, participant_id=f"P{participant_base + 12}", kit="URINE-ONLY"
        )
        collections.cancel_collection(actor, cancelled, "participant could not give a sample")
        made += 3
    return made

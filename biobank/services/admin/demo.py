"""Realistic demo data, built through the same services the app uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from biobank.db import clock_at, utcnow
from biobank.extensions import db
from biobank.models import (
    Centrifuge,
    Collection,
    Role,
    Sample,
    SampleStatus,
    Shipment,
    Site,
    SiteKind,
    User,
)
from biobank.services.collecting import collections, labelling, participants
from biobank.services.core import accounts, sites
from biobank.services.distribution import protocols, requests
from biobank.services.shipping import receiving, sending
from biobank.services.storage import freezer_tree, placing

if TYPE_CHECKING:
    from biobank.services.admin.bulk import BulkSummary

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
    shipments: int = 0
    stored: int = 0


def demo_loaded() -> bool:
    return db.session.scalar(sa.select(Site.id).where(Site.code == DEMO_SITES[0][0])) is not None


def seed_demo() -> DemoSummary:
    """Create the demo sites, one user per role and some work in progress. Runs once."""
    if demo_loaded():
        return DemoSummary(False, 0, 0)
    now = utcnow()
    by_code: dict[str, Site] = {}
    users: dict[str, User] = {}
    with clock_at(now - timedelta(days=3)):  # set up before the work below
        for code, name, kind, timezone, phone in DEMO_SITES:
            by_code[code] = sites.create_site(
                code=code, name=name, kind=kind, timezone=timezone, phone=phone
            )
        for username, full_name, role, site_code in DEMO_USERS:
            users[username] = accounts.create_user(
                username=username,
                full_name=full_name,
                role=role,
                site=by_code[site_code],
                password=DEMO_PASSWORD,
            )
    finalized = _demo_collections(users, now)
    shipments, stored = _demo_logistics(users, finalized, now)
    _demo_distribution(users["coordinator"], finalized, now)
    return DemoSummary(
        True, len(by_code), len(users), sum(map(len, finalized.values())) + 6, shipments, stored
    )


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


def _demo_collections(users: dict[str, User], now: datetime) -> dict[str, list[Collection]]:
    """Work in every state a clinic sees: finalized, in progress, just started, cancelled.
    Returns each clinic's finalized collections, oldest first.

    Each step is made at the time it would have happened (``clock_at``): a collection is
    started and its labels printed before the draw, its times recorded after it, and it is
    finalized an hour later, so every tube's custody list reads in the order things happened."""
    finalized: dict[str, list[Collection]] = {}
    for username, participant_base in (("collector", 100000100), ("collector2", 200000200)):
        actor = users[username]
        for index, hours_ago in enumerate((50, 26, 5)):
            drawn = now - timedelta(hours=hours_ago)
            spin = 40 + 5 * index
            with clock_at(drawn - timedelta(minutes=15)):
                collection = collections.start_collection(
                    actor, participant_id=f"P{participant_base + index}", kit="BASELINE-ADULT"
                )
                labelling.collection_labels(actor, collection)
            with clock_at(drawn + timedelta(minutes=spin + 2)):
                _collect_and_process(actor, collection, drawn, minutes_to_spin=spin)
            with clock_at(drawn + timedelta(hours=1)):
                collections.finalize_collection(actor, collection)
            finalized.setdefault(username, []).append(collection)
        with clock_at(now - timedelta(minutes=60)):
            in_progress = collections.start_collection(
                actor, participant_id=f"P{participant_base + 10}", kit="BASELINE-ADULT"
            )
            labelling.collection_labels(actor, in_progress)
        first = in_progress.samples[0]
        with clock_at(now - timedelta(minutes=34)):
            collections.record_collected(
                actor, in_progress, first.barcode, now - timedelta(minutes=50)
            )
            # An SST spun too soon: the warning a clinic should see on its page.
            collections.record_processed(
                actor, in_progress, first.barcode, now - timedelta(minutes=35)
            )
        collections.start_collection(
            actor, participant_id=f"P{participant_base + 11}", tube_types=["1UR10", "1SAL2"]
        )
        cancelled = collections.start_collection(
            actor, participant_id=f"P{participant_base + 12}", kit="URINE-ONLY"
        )
        collections.cancel_collection(actor, cancelled, "participant could not give a sample")
    return finalized


def _pack(actor: User, kept: list[Collection], *, dispatch: bool, tracking: str) -> Shipment:
    shipment = sending.open_shipment(actor, destination="MAYO-BB", temperature="refrigerated")
    for collection in kept:
        for sample in collection.samples:
            sending.pack_sample(actor, shipment, sample.barcode)
    if dispatch:
        sending.dispatch_shipment(
            actor,
            shipment,
            carrier="fedex",
            tracking_number=tracking,
            signature_password=DEMO_PASSWORD,
        )
    return shipment


def _demo_logistics(
    users: dict[str, User], finalized: dict[str, list[Collection]], now: datetime
) -> tuple[int, int]:
    """UCSD's oldest tubes arrived (one missing) and are in the freezer; BWH's are on the
    way (one shipment overdue); the newest UCSD tubes wait in an open shipment. Each step at
    the time it would have happened, after the collections it ships."""
    technician = users["technician"]
    ucsd, bwh = finalized["collector"], finalized["collector2"]
    with clock_at(now - timedelta(hours=24)):
        received = _pack(users["collector"], ucsd[:2], dispatch=True, tracking="794612345678")
        _pack(users["collector2"], bwh[:2], dispatch=True, tracking="794698765432")
    with clock_at(now - timedelta(hours=3)):
        _pack(users["collector"], ucsd[2:], dispatch=False, tracking="")
    tubes = [item.sample for item in received.items]
    with clock_at(now - timedelta(hours=6)):
        for sample in tubes[:-1]:
            receiving.receive_scan(technician, received, sample.barcode)
    with clock_at(now - timedelta(hours=5, minutes=50)):
        receiving.close_receipt(
            technician,
            received,
            condition="good",
            temperature_c=5,
            signature_password=DEMO_PASSWORD,
        )
    with clock_at(now - timedelta(hours=5, minutes=30)):
        return _demo_freezer(technician, tubes)


def _demo_freezer(technician: User, tubes: list[Sample]) -> tuple[int, int]:
    """A freezer with boxes for each kind of tube; the tubes that arrived go into them."""
    freezer = freezer_tree.create_freezer(technician, name="Freezer 1", temperature_c=-80)
    shelves = [
        freezer_tree.create_container(technician, parent_id=freezer.id, kind="shelf", name=name)
        for name in ("Shelf 1", "Shelf 2")
    ]
    freezer_tree.create_container(
        technician,
        parent_id=shelves[0].id,
        kind="box",
        name="Serum and plasma 001",
        rows=9,
        cols=9,
        allowed_specimens=["serum", "plasma"],
    )
    freezer_tree.create_container(
        technician,
        parent_id=shelves[0].id,
        kind="box",
        name="Whole blood 001",
        rows=9,
        cols=9,
        allowed_specimens=["whole_blood"],
    )
    freezer_tree.create_container(
        technician,
        parent_id=shelves[1].id,
        kind="box",
        name="Urine 001",
        rows=10,
        cols=10,
        allowed_specimens=["urine"],
    )
    freezer_tree.create_container(
        technician, parent_id=shelves[1].id, kind="box", name="Mixed 001", rows=8, cols=12
    )
    arrived = [s for s in tubes if s.status == SampleStatus.RECEIVED]
    placed = placing.store_many(technician, freezer, [s.barcode for s in arrived[:10]])
    return 3, len(placed)


def _demo_distribution(
    coordinator: User, finalized: dict[str, list[Collection]], now: datetime
) -> None:
    """A study approved to receive serum and plasma from the biobank, and its first request
    waiting for the coordinator's review: the participants whose tubes are in the freezer
    consented to research use (as the enrollment system would have said)."""
    stored_from = sorted(
        collection.participant_id
        for collection in finalized["collector"]
        if any(sample.status == SampleStatus.STORED for sample in collection.samples)
    )
    with clock_at(now - timedelta(hours=2)):
        for participant_id in stored_from:
            participants.upsert_participant(coordinator, participant_id, biospecimen_consent=True)
        protocol = protocols.create_protocol(
            coordinator,
            title="Inflammation markers in early adulthood",
            approval_number="IRB-2026-0147",
            approval_expires_on=(now + timedelta(days=365)).date(),
            institution="Northfield University, Department of Epidemiology",
            institution_address="200 College Avenue, Northfield, MN 55057",
            responsible_person="Dr. Morgan Lee",
            specimens=["serum", "plasma"],
        )
    with clock_at(now - timedelta(hours=1)):
        requests.record_request(
            coordinator,
            protocol,
            specimen="serum",
            participants_wanted=5,
            tubes_per_participant=1,
            min_volume_ml="0.5",
            max_freeze_thaw=1,
            collected_from=(now - timedelta(days=30)).date(),
            collected_to=now.date(),
            notes="Pilot: one serum tube from each of five participants.",
        )


def seed_scale(samples: int, *, days_ago: tuple[float, float] = (1, 180)) -> BulkSummary:
    """``samples`` stored tubes from the demo clinics in a new freezer at the demo biobank,
    shipped between ``days_ago`` days ago (the last 180 days unless told)."""
    from biobank.services.admin.bulk import seed_stored_samples
    from biobank.services.core.catalogue import get_kit

    return seed_stored_samples(
        samples,
        clinics=[sites.get_site("UCSD-01"), sites.get_site("BWH-01")],
        biobank=sites.get_site("MAYO-BB"),
        collector=accounts.get_user("collector"),
        technician=accounts.get_user("technician"),
        kit=get_kit("BASELINE-ADULT"),
        days_ago=days_ago,
    )

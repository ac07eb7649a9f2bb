"""Realistic demo data, built through the same services the app uses."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Role, Site, SiteKind, User
from biobank.services import accounts, sites

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
    return DemoSummary(True, len(by_code), len(users))

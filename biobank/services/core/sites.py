"""Sites: partner clinics and biobanks."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa

from biobank.errors import Conflict, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import Site, SiteKind, User
from biobank.services.core import policy
from biobank.services.core.privacy import name_problem

SITE_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


def valid_timezone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def create_site(
    *,
    code: str,
    name: str,
    kind: SiteKind | str,
    timezone: str,
    phone: str | None = None,
    address: str | None = None,
    actor: User | None = None,
) -> Site:
    """``actor`` is None only for the command line, which runs with the operator's authority."""
    if actor is not None:
        policy.require(actor, policy.Action.MANAGE_SITES)
    code = code.strip().upper()
    errors: dict[str, list[str]] = {}
    if not SITE_CODE_PATTERN.match(code):
        errors["code"] = [
            "Use 2-32 upper-case letters, digits or hyphens, starting with a letter or digit "
            "(e.g. UCSD-01)."
        ]
    if not name.strip():
        errors["name"] = ["Give the site's name."]
    elif problem := name_problem(name):  # it prints on manifests
        errors["name"] = [problem]
    try:
        kind = SiteKind(kind)
    except ValueError:
        errors["kind"] = [f"Choose one of: {', '.join(k.value for k in SiteKind)}."]
    if not valid_timezone(timezone):
        errors["timezone"] = [
            f"{timezone!r} is not an IANA time zone; use a name like America/Chicago."
        ]
    if errors:
        raise ValidationFailed.for_fields(errors)
    if db.session.scalar(sa.select(Site.id).where(Site.code == code)):
        raise Conflict(f"A site with code {code} exists already.")
    site = Site(
        code=code, name=name.strip(), kind=kind, timezone=timezone, phone=phone, address=address
    )
    db.session.add(site)
    db.session.flush()
    return site


def list_sites(kind: SiteKind | None = None, *, include_inactive: bool = False) -> list[Site]:
    stmt = sa.select(Site).order_by(Site.code)
    if kind is not None:
        stmt = stmt.where(Site.kind == kind)
    if not include_inactive:
        stmt = stmt.where(Site.active.is_(True))
    return list(db.session.scalars(stmt))


def get_site(code: str) -> Site:
    site = db.session.scalar(sa.select(Site).where(Site.code == code.strip().upper()))
    if site is None:
        raise NotFound(f"There is no site with code {code!r}.")
    return site


def optional_site_field(code: str | None, field: str = "site") -> Site | None:
    """A filter by site: none given is no filter."""
    return site_field(code, field) if code else None


def site_field(code: str, field: str = "site") -> Site:
    """A site named in a request: a missing one is bad input (422) naming that field."""
    try:
        return get_site(code)
    except NotFound as missing:
        raise ValidationFailed.for_field(field, missing.detail) from None

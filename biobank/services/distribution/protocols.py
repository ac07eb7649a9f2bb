"""Distribution protocols: the studies a biobank may hand material to, each with its approval
(an IRB or ethics number and the day it expires), the receiving institution and the specimen
kinds it may receive. An expired or closed protocol takes no new request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Conflict, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    DistributionProtocol,
    ProtocolSpecimen,
    ProtocolStatus,
    Site,
    SiteKind,
    Specimen,
    User,
)
from biobank.services.core import policy
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import check_free_text
from biobank.services.core.sites import site_field
from biobank.services.core.transitions import PROTOCOLS
from biobank.unit_of_work import get_record

# The longest each text may be (the columns' sizes).
TEXT_FIELDS = {
    "title": ("the study's title", 200),
    "approval_number": ("the approval (IRB) number", 64),
    "institution": ("the receiving institution", 200),
    "institution_address": ("the receiving institution's address", 2000),
    "responsible_person": ("the researcher responsible for the material", 200),
}


def site_today(site: Site) -> date:
    """Today where the biobank is: an approval that expires "on 31 March" holds all that day
    there."""
    return utcnow().astimezone(ZoneInfo(site.timezone)).date()


def date_field(value: object, what: str) -> tuple[date | None, str | None]:
    """A calendar day given as a ``date`` or ``YYYY-MM-DD``: the day, or why it is not one."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value, None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()), None
        except ValueError:
            pass
    return None, f"Give {what} as a date, e.g. 2027-03-31."


def _text(values: dict[str, object], errors: dict[str, list[str]]) -> dict[str, str]:
    cleaned = {}
    for field, (what, longest) in TEXT_FIELDS.items():
        value = values.get(field)
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            errors[field] = [f"Give {what}."]
        elif len(text) > longest:
            errors[field] = [f"Shorten {what} to {longest} characters at most."]
        cleaned[field] = text
    return cleaned


def specimens_field(values: object, errors: dict[str, list[str]]) -> list[Specimen]:
    """The specimen kinds a protocol may receive: at least one, each a kind the catalogue
    knows."""
    known = ", ".join(str(kind) for kind in Specimen)
    if isinstance(values, str) or not isinstance(values, Iterable):
        errors["specimens"] = [
            f"Choose at least one specimen kind the study may receive ({known})."
        ]
        return []
    chosen: list[Specimen] = []
    unknown = []
    for value in values:
        try:
            kind = Specimen(str(value).strip().lower().replace(" ", "_"))
        except ValueError:
            unknown.append(str(value))
            continue
        if kind not in chosen:
            chosen.append(kind)
    if unknown:
        errors["specimens"] = [
            f"Unknown specimen kind {', '.join(map(repr, unknown))}: use {known}."
        ]
    elif not chosen:
        errors["specimens"] = [
            f"Choose at least one specimen kind the study may receive ({known})."
        ]
    return chosen


def create_protocol(
    actor: User,
    *,
    title: str,
    approval_number: str,
    approval_expires_on: date | str,
    institution: str,
    institution_address: str,
    responsible_person: str,
    specimens: Sequence[str],
    site: str | None = None,
) -> DistributionProtocol:
    """A study approved to receive material from a biobank (the actor's own unless ``site``
    names another, for a coordinator)."""
    policy.require(actor, policy.Action.DISTRIBUTE)
    owner = site_field(site) if site else actor.site
    policy.require_own_site(actor, owner, policy.Action.DISTRIBUTE)
    if owner.kind != SiteKind.BIOBANK:
        raise ValidationFailed.for_field(
            "site", f"{owner.code} is a collection site: protocols belong to a biobank."
        )
    errors: dict[str, list[str]] = {}
    fields = _text(
        {
            "title": title,
            "approval_number": approval_number,
            "institution": institution,
            "institution_address": institution_address,
            "responsible_person": responsible_person,
        },
        errors,
    )
    for field in ("title", "responsible_person"):
        try:
            check_free_text(fields[field], field)
        except ValidationFailed as personal:
            errors.update(personal.errors or {})
    expires, problem = date_field(approval_expires_on, "the day the approval expires")
    if problem:
        errors["approval_expires_on"] = [problem]
    elif expires is not None and expires < site_today(owner):
        errors["approval_expires_on"] = [
            f"The approval expired on {expires.isoformat()}: record the renewed approval's "
            "number and expiry date."
        ]
    kinds = specimens_field(specimens, errors)
    if errors:
        raise ValidationFailed.for_fields(errors)
    assert expires is not None
    protocol = DistributionProtocol(
        site_id=owner.id,
        approval_expires_on=expires,
        created_by_id=actor.id,
        status=ProtocolStatus.OPEN,
        allowed=[ProtocolSpecimen(specimen=kind) for kind in kinds],
        **fields,
    )
    db.session.add(protocol)
    db.session.flush()
    return protocol


def get_protocol(actor: User, protocol_id: int) -> DistributionProtocol:
    """A protocol the actor's site may see (another biobank's answers 404)."""
    return policy.ensure_protocol_visible(actor, get_record(DistributionProtocol, protocol_id))


def list_protocols(actor: User) -> list[DistributionProtocol]:
    stmt = sa.select(DistributionProtocol).order_by(DistributionProtocol.id)
    return list(db.session.scalars(policy.scope_protocols(stmt, actor)))


def find_protocols(
    actor: User,
    *,
    status: ProtocolStatus | None = None,
    site: Site | None = None,
    approval_number: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[DistributionProtocol]:
    """One page of the protocols the actor's site may see, newest first, filtered by status,
    owning biobank and approval number (exact, case as recorded)."""
    stmt = sa.select(DistributionProtocol).order_by(DistributionProtocol.id.desc())
    if status is not None:
        stmt = stmt.where(DistributionProtocol.status == status)
    if site is not None:
        stmt = stmt.where(DistributionProtocol.site_id == site.id)
    if approval_number:
        stmt = stmt.where(DistributionProtocol.approval_number == approval_number.strip())
    return paginate(policy.scope_protocols(stmt, actor), page=page, per_page=per_page)


def accepting_requests(protocol: DistributionProtocol) -> bool:
    """Open and its approval not expired (what ``ensure_accepting_requests`` asks)."""
    return protocol.status == ProtocolStatus.OPEN and protocol.approval_expires_on >= site_today(
        protocol.site
    )


def close_protocol(actor: User, protocol: DistributionProtocol, reason: str | None) -> None:
    """No more requests under this protocol (the study ended, its approval was withdrawn);
    requests already approved keep their tubes until released."""
    policy.require_own_site(actor, protocol.site, policy.Action.DISTRIBUTE)
    why = check_free_text(reason, "reason")
    if not why:
        raise ValidationFailed.for_field("reason", "Give a reason to close the protocol.")
    PROTOCOLS.move(
        protocol,
        ProtocolStatus.CLOSED,
        name=f"Protocol {protocol.approval_number}",
        hint="It takes no new requests already.",
    )
    protocol.closed_at = utcnow()
    protocol.closed_by_id = actor.id
    protocol.close_reason = why
    db.session.flush()


def ensure_accepting_requests(protocol: DistributionProtocol) -> None:
    """A 409 unless the protocol is open and its approval has not expired."""
    name = f"Protocol {protocol.approval_number} ({protocol.title})"
    if protocol.status == ProtocolStatus.CLOSED:
        closed = protocol.closed_at.date().isoformat() if protocol.closed_at else "earlier"
        raise Conflict(
            f"{name} was closed on {closed} ({protocol.close_reason}): it takes no new "
            "requests. Record the request under an open protocol.",
            protocol_id=protocol.id,
        )
    if protocol.approval_expires_on < site_today(protocol.site):
        raise Conflict(
            f"{name}: its approval expired on {protocol.approval_expires_on.isoformat()}, so "
            "it takes no new requests. Record the renewed approval as a new protocol first.",
            protocol_id=protocol.id,
        )

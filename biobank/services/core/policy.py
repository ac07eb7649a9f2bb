"""Who may do what, at which site: the one policy every view, API route and list goes through.

Two questions, asked in this order:
1. May this role do this kind of thing at all? No → ``Forbidden`` (403).
2. May this user see this record? No → ``NotFound`` (404), so another site's records stay
   invisible, not merely forbidden.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa

from biobank.errors import Forbidden, NotFound
from biobank.models import (
    Collection,
    Container,
    DistributionProtocol,
    LabelBatch,
    Printer,
    Role,
    Sample,
    Shipment,
    Site,
    User,
)


class Action(StrEnum):
    MANAGE_SITES = "manage sites"
    MANAGE_USERS = "manage users"
    MANAGE_CATALOGUE = "manage the catalogue"
    MANAGE_STORAGE = "manage storage"
    MANAGE_PARTICIPANTS = "update participants"
    COLLECT = "record collections"
    PRINT_LABELS = "print labels"
    PRINT_LABEL_BATCHES = "print label batches"
    MANAGE_PRINTERS = "register label printers"
    PACK = "pack and dispatch shipments"
    PRINT_MANIFESTS = "print manifests"
    RECEIVE = "receive shipments"
    STORE = "store samples"
    HANDLE_SAMPLES = "move, thaw, aliquot, withdraw and dispose of samples"
    READ_REPORTS = "run reports"
    READ_AUTH_FAILURES = "read the failed sign-ins and signatures"
    DISTRIBUTE = "record and approve distributions to research"
    PICK_AND_SHIP = "pick, pack and ship distributions to research"


# The role table of DESIGN §5. Reading records is not an action: everyone may read what their
# site scope shows them.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.MANAGE_SITES: frozenset({Role.ADMIN}),
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    Action.MANAGE_CATALOGUE: frozenset({Role.ADMIN}),
    Action.MANAGE_STORAGE: frozenset({Role.ADMIN, Role.TECHNICIAN}),
    Action.MANAGE_PARTICIPANTS: frozenset({Role.COORDINATOR, Role.ADMIN}),
    Action.COLLECT: frozenset({Role.COLLECTOR}),
    Action.PRINT_LABELS: frozenset({Role.COLLECTOR, Role.COORDINATOR, Role.TECHNICIAN}),
    Action.PRINT_LABEL_BATCHES: frozenset({Role.COORDINATOR}),
    Action.MANAGE_PRINTERS: frozenset({Role.ADMIN}),
    Action.PACK: frozenset({Role.COLLECTOR}),
    Action.PRINT_MANIFESTS: frozenset({Role.COLLECTOR, Role.COORDINATOR, Role.TECHNICIAN}),
    Action.RECEIVE: frozenset({Role.TECHNICIAN}),
    Action.STORE: frozenset({Role.TECHNICIAN}),
    Action.HANDLE_SAMPLES: frozenset({Role.TECHNICIAN}),
    Action.READ_REPORTS: frozenset({Role.COORDINATOR, Role.ADMIN}),
    Action.READ_AUTH_FAILURES: frozenset({Role.ADMIN}),
    Action.DISTRIBUTE: frozenset({Role.COORDINATOR}),
    # Technicians at the bench; coordinators too (a small biobank's coordinator picks).
    Action.PICK_AND_SHIP: frozenset({Role.TECHNICIAN, Role.COORDINATOR}),
}

# Roles whose view spans every site; the others see their own site only.
GLOBAL_READERS = frozenset({Role.COORDINATOR, Role.ADMIN})


def can(user: User, action: Action) -> bool:
    return user.active and user.role in PERMISSIONS[action]


def require(user: User, action: Action) -> None:
    if not can(user, action):
        raise Forbidden(f"Your role ({user.role}) may not {action}.")


def sees_all_sites(user: User) -> bool:
    return user.role in GLOBAL_READERS


def require_own_site(user: User, site: Site, action: Action) -> None:
    """Acting (not reading) happens at the user's own site, whatever their role."""
    require(user, action)
    if site.id != user.site_id and not sees_all_sites(user):
        raise Forbidden(
            f"You may {action} only at your own site ({user.site.code}), not at {site.code}."
        )


# --- scoping queries ------------------------------------------------------------------------


def scope_collections(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    if sees_all_sites(user):
        return stmt
    return stmt.where(Collection.site_id == user.site_id)


def scope_samples(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    if sees_all_sites(user):
        return stmt
    return stmt.where(
        sa.or_(Sample.site_id == user.site_id, Sample.custody_site_id == user.site_id)
    )


def scope_shipments(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    if sees_all_sites(user):
        return stmt
    return stmt.where(
        sa.or_(
            Shipment.origin_site_id == user.site_id,
            Shipment.destination_site_id == user.site_id,
        )
    )


def scope_containers(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    if sees_all_sites(user):
        return stmt
    return stmt.where(Container.site_id == user.site_id)


def scope_protocols(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    """A distribution protocol belongs to the biobank that supplies the study."""
    if sees_all_sites(user):
        return stmt
    return stmt.where(DistributionProtocol.site_id == user.site_id)


def may_see_protocol(user: User, protocol: DistributionProtocol) -> bool:
    return sees_all_sites(user) or protocol.site_id == user.site_id


def ensure_protocol_visible(
    user: User, protocol: DistributionProtocol | None
) -> DistributionProtocol:
    if protocol is None or not may_see_protocol(user, protocol):
        raise NotFound("No distribution protocol with that identifier is visible to you.")
    return protocol


def scope_printers(stmt: sa.Select[Any], user: User) -> sa.Select[Any]:
    """A label printer is its site's own equipment: everyone sees (and prints to) their own
    site's, coordinators included; only admins, who register them, see every site's."""
    if user.role == Role.ADMIN:
        return stmt
    return stmt.where(Printer.site_id == user.site_id)


def ensure_printer_visible(user: User, printer: Printer | None) -> Printer:
    if printer is None or (user.role != Role.ADMIN and printer.site_id != user.site_id):
        raise NotFound("No printer with that identifier is at your site.")
    return printer


# --- single records ---------------------------------------------------------------------------


def may_see(user: User, record: Collection | Sample | Shipment | Container | LabelBatch) -> bool:
    if sees_all_sites(user):
        return True
    site_id = user.site_id
    if isinstance(record, Sample):
        return site_id in (record.site_id, record.custody_site_id)
    if isinstance(record, Shipment):
        return site_id in (record.origin_site_id, record.destination_site_id)
    return record.site_id == site_id


VisibleRecord = TypeVar("VisibleRecord", Collection, Sample, Shipment, Container, LabelBatch)


def ensure_visible(user: User, record: VisibleRecord | None, what: str) -> VisibleRecord:
    """The record, or ``NotFound`` when it does not exist or lies outside the user's sites."""
    if record is None or not may_see(user, record):
        raise NotFound(f"No {what} with that identifier is visible to you.")
    return record

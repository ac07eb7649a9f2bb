"""The per-protocol report: what a study asked for and what it got, request by request.

For each request under a protocol, and in total: the tubes **requested** (participants x tubes
each), the tubes **reserved** for it (every tube it ever held, an aliquot made at picking
included), **picked**, **shipped** to the study, **returned** unused by the study, and
**released** (let go before shipping: by hand, on cancelling, or unpicked when the request
shipped). Reserved, picked and released are the request's items; shipped and returned are read
from the chain of custody (the ``distributed`` events naming the request, and the ``received``
events of tubes that came back from its shipment), which every outbound shipment writes.

As a page, and as a ``ReportTable`` for the CSV (through the formula-safe writer) and the PDF
every report shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from biobank.errors import Forbidden
from biobank.extensions import db
from biobank.models import (
    DistributionItem,
    DistributionProtocol,
    DistributionRequest,
    Event,
    EventType,
    User,
)
from biobank.services.core import policy
from biobank.services.reporting.reports import ReportTable

COLUMNS = (
    "request",
    "status",
    "specimen",
    "participants",
    "tubes_each",
    "requested",
    "reserved",
    "picked",
    "shipped",
    "returned",
    "released",
    "notes",
)
HEADINGS = {
    "request": "Request",
    "tubes_each": "Tubes each",
    "requested": "Tubes requested",
}


@dataclass(frozen=True)
class Figures:
    requested: int = 0
    reserved: int = 0
    picked: int = 0
    shipped: int = 0
    returned: int = 0
    released: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.requested + other.requested,
            self.reserved + other.reserved,
            self.picked + other.picked,
            self.shipped + other.shipped,
            self.returned + other.returned,
            self.released + other.released,
        )

    @property
    def values(self) -> tuple[int, ...]:
        return (
            self.requested,
            self.reserved,
            self.picked,
            self.shipped,
            self.returned,
            self.released,
        )


@dataclass(frozen=True)
class RequestLine:
    request: DistributionRequest
    figures: Figures


@dataclass(frozen=True)
class ProtocolReport:
    protocol: DistributionProtocol
    lines: list[RequestLine]

    @property
    def requests(self) -> int:
        return len(self.lines)

    @property
    def total(self) -> Figures:
        total = Figures()
        for line in self.lines:
            total += line.figures
        return total


def may_read(user: User) -> bool:
    """Those who work distributions: coordinators, who decide, and technicians, who pick."""
    return policy.can(user, policy.Action.DISTRIBUTE) or policy.can(
        user, policy.Action.PICK_AND_SHIP
    )


def _by_request(stmt: sa.Select[Any]) -> dict[int, int]:
    return {int(request_id): int(count) for request_id, count in db.session.execute(stmt)}


def _custody_counts(kind: EventType, request_ids: list[int], *extra: Any) -> dict[int, int]:
    """Distinct tubes per request with a ``kind`` event naming that request."""
    request_id = Event.details["request"].as_integer()
    return _by_request(
        sa.select(request_id, sa.func.count(sa.distinct(Event.sample_id)))
        .where(Event.type == kind, request_id.in_(request_ids), *extra)
        .group_by(request_id)
    )


def protocol_report(actor: User, protocol: DistributionProtocol) -> ProtocolReport:
    """The report of a protocol the actor's site may see (``protocols.get_protocol``)."""
    if not may_read(actor):
        raise Forbidden(f"Your role ({actor.role}) may not read distribution reports.")
    policy.ensure_protocol_visible(actor, protocol)
    found = list(
        db.session.scalars(
            sa.select(DistributionRequest)
            .where(DistributionRequest.protocol_id == protocol.id)
            .order_by(DistributionRequest.id)
        )
    )
    ids = [request.id for request in found]
    items = {
        row.request_id: row
        for row in db.session.execute(
            sa.select(
                DistributionItem.request_id,
                sa.func.count(sa.distinct(DistributionItem.sample_id)).label("reserved"),
                sa.func.count(DistributionItem.picked_at).label("picked"),
                sa.func.count(DistributionItem.released_at).label("released"),
            )
            .where(DistributionItem.request_id.in_(ids))
            .group_by(DistributionItem.request_id)
        )
    }
    shipped = _custody_counts(EventType.DISTRIBUTED, ids)
    # A tube back from the study names the outbound shipment it came back from.
    returned = _custody_counts(
        EventType.RECEIVED,
        ids,
        Event.details["distribution_shipment"].as_integer().is_not(None),
    )
    lines = []
    for request in found:
        row = items.get(request.id)
        lines.append(
            RequestLine(
                request,
                Figures(
                    requested=request.tubes_wanted,
                    reserved=row.reserved if row else 0,
                    picked=row.picked if row else 0,
                    shipped=shipped.get(request.id, 0),
                    returned=returned.get(request.id, 0),
                    released=row.released if row else 0,
                ),
            )
        )
    return ProtocolReport(protocol, lines)


def report_table(actor: User, protocol: DistributionProtocol) -> ReportTable:
    """The report as a table for the CSV and the PDF: a row per request, then the total."""
    report = protocol_report(actor, protocol)
    rows: list[tuple[Any, ...]] = [
        (
            line.request.id,
            str(line.request.status),
            str(line.request.specimen).replace("_", " "),
            line.request.participants_wanted,
            line.request.tubes_per_participant,
            *line.figures.values,
            line.request.notes or "",
        )
        for line in report.lines
    ]
    rows.append(
        (
            f"Total ({report.requests} request{'' if report.requests == 1 else 's'})",
            "",
            "",
            sum(line.request.participants_wanted for line in report.lines),
            "",
            *report.total.values,
            "",
        )
    )
    return ProtocolTable(
        f"distribution-protocol-{protocol.id}",
        f"Distribution report: {protocol.title} ({protocol.approval_number})",
        COLUMNS,
        rows,
        note=(
            f"To {protocol.institution} ({protocol.responsible_person}); supplied by "
            f"{protocol.site.code}. Requested = participants x tubes each. Reserved counts "
            "every tube a request held; released ones were let go before shipping; returned "
            "ones came back unused from the study."
        ),
    )


@dataclass(frozen=True)
class ProtocolTable(ReportTable):
    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(HEADINGS.get(column, column.capitalize()) for column in self.columns)

"""Distribution requests: what a study asked for, the tubes proposed for it, and their
reservation.

``propose`` finds matching tubes in one statement (a window over the candidates, the partial index
``ix_samples_distributable``): stored at the protocol's biobank, not quarantined, not reserved,
from a participant who consented and has not withdrawn, of the requested specimen, with enough
volume, few enough freeze–thaw cycles, collected within the dates; at most ``tubes_per_participant``
per participant (fewest thaws first) and at most ``participants_wanted`` participants (complete
sets first, then the fewest thaws); ties go to the lower id, so the same data gives the same
proposal.

``approve`` reserves race-safely: the tubes' rows are locked in id order, then one guarded
UPDATE takes only those still free and still matching (``RETURNING`` says which). Two approvals
racing for the same tubes each get their own, and each is told what it got and which tubes
another request took. Every reserved or released tube gets its custody event in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from biobank.db import table_of, utcnow
from biobank.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    DistributionItem,
    DistributionProtocol,
    DistributionRequest,
    DistributionShipment,
    DistributionShipmentItem,
    EventType,
    FlagKind,
    OutboundStatus,
    Participant,
    RequestStatus,
    Sample,
    SampleFlag,
    Specimen,
    TubeType,
    User,
)
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_events_in_bulk
from biobank.services.core.locks import locked, on_postgres
from biobank.services.core.numbers import finite_decimal
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import check_free_text
from biobank.services.core.timebounds import EARLIEST
from biobank.services.core.transitions import REQUESTS
from biobank.services.distribution.protocols import date_field, ensure_accepting_requests
from biobank.unit_of_work import expire_loaded, get_record

MAX_PARTICIPANTS = 10_000
MAX_TUBES_PER_PARTICIPANT = 50
# The most tubes one request may reserve (and name): one approval's statements stay bounded.
MAX_TUBES = 5_000
MAX_FREEZE_THAW = 100

_SAMPLES = table_of(Sample)
_ITEMS = table_of(DistributionItem)
# Literal, not bound: the planners use the partial index only when the query names its
# condition (ix_samples_distributable).
_FREE_AND_STORED = sa.text("samples.status = 'stored' AND samples.reserved_for_request_id IS NULL")


# --- recording ------------------------------------------------------------------------------


def _whole(value: object, field: str, what: str, low: int, high: int, errors: dict) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[field] = [f"Give {what} as a whole number from {low} to {high}."]
        return low
    return value


def _listed_samples(
    protocol: DistributionProtocol, texts: object, errors: dict[str, list[str]]
) -> list[str] | None:
    """The sample IDs a study named: each valid, known, and held at the protocol's biobank."""
    if texts is None:
        return None
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        errors["sample_ids"] = ["Give the sample IDs as a list, one ID each."]
        return None
    barcodes: list[str] = []
    problems = []
    for text in texts:
        try:
            barcode = ids.parse_sample_id(str(text))
        except ids.InvalidCode as invalid:
            problems.append(str(invalid))
            continue
        if barcode not in barcodes:
            barcodes.append(barcode)
    if problems:
        errors["sample_ids"] = problems
        return None
    if not 1 <= len(barcodes) <= MAX_TUBES:
        errors["sample_ids"] = [f"Name 1 to {MAX_TUBES} sample IDs, or none to let us choose."]
        return None
    held = dict(
        db.session.execute(
            sa.select(Sample.barcode, Sample.custody_site_id).where(Sample.barcode.in_(barcodes))
        ).all()
    )
    elsewhere = [b for b in barcodes if held.get(b) != protocol.site_id]
    if elsewhere:
        shown = ", ".join(ids.display(b) for b in elsewhere[:10])
        more = f" and {len(elsewhere) - 10} more" if len(elsewhere) > 10 else ""
        errors["sample_ids"] = [
            f"{shown}{more}: no such tube is held at {protocol.site.code}. Check the IDs the "
            "study sent."
        ]
        return None
    return barcodes


def record_request(
    actor: User,
    protocol: DistributionProtocol,
    *,
    specimen: str,
    participants_wanted: int,
    tubes_per_participant: int,
    min_volume_ml: Decimal | float | str,
    max_freeze_thaw: int,
    collected_from: date | str,
    collected_to: date | str,
    sample_ids: Sequence[str] | None = None,
    notes: str | None = None,
) -> DistributionRequest:
    """A study's request under an open, unexpired protocol, as a draft to propose tubes for."""
    policy.require_own_site(actor, protocol.site, policy.Action.DISTRIBUTE)
    ensure_accepting_requests(protocol)
    errors: dict[str, list[str]] = {}
    try:
        kind: Specimen | None = Specimen(str(specimen).strip().lower().replace(" ", "_"))
    except ValueError:
        kind = None
    allowed = ", ".join(str(k) for k in protocol.specimens)
    if kind is None or kind not in protocol.specimens:
        errors["specimen"] = [
            f"Protocol {protocol.approval_number} may receive {allowed}; {specimen!r} is not "
            "one of them."
        ]
    participants = _whole(
        participants_wanted,
        "participants_wanted",
        "the number of participants",
        1,
        MAX_PARTICIPANTS,
        errors,
    )
    per_participant = _whole(
        tubes_per_participant,
        "tubes_per_participant",
        "the tubes per participant",
        1,
        MAX_TUBES_PER_PARTICIPANT,
        errors,
    )
    if not errors.keys() & {"participants_wanted", "tubes_per_participant"} and (
        participants * per_participant > MAX_TUBES
    ):
        errors["participants_wanted"] = [
            f"{participants} participants x {per_participant} tubes is "
            f"{participants * per_participant} tubes: one request takes at most {MAX_TUBES}."
        ]
    volume = finite_decimal(min_volume_ml)
    if volume is None or volume < 0 or volume >= 10_000:
        errors["min_volume_ml"] = ["Give the minimum volume per tube in mL (0 for any)."]
    thaws = _whole(
        max_freeze_thaw,
        "max_freeze_thaw",
        "the most freeze-thaw cycles a tube may have had",
        0,
        MAX_FREEZE_THAW,
        errors,
    )
    since, problem = date_field(collected_from, "the first collection day")
    if problem:
        errors["collected_from"] = [problem]
    until, problem = date_field(collected_to, "the last collection day")
    if problem:
        errors["collected_to"] = [problem]
    if since and until and since > until:
        errors["collected_to"] = ["The last collection day is before the first: swap them."]
    barcodes = _listed_samples(protocol, sample_ids, errors)
    try:
        notes = check_free_text(notes, "notes")
    except ValidationFailed as personal:
        errors.update(personal.errors or {})
    if errors:
        raise ValidationFailed.for_fields(errors)
    assert kind is not None and volume is not None and since and until
    request = DistributionRequest(
        protocol_id=protocol.id,
        protocol=protocol,
        specimen=kind,
        participants_wanted=participants,
        tubes_per_participant=per_participant,
        min_volume_ml=volume,
        max_freeze_thaw=thaws,
        collected_from=since,
        collected_to=until,
        sample_barcodes=barcodes,
        notes=notes,
        status=RequestStatus.DRAFT,
        recorded_by_id=actor.id,
    )
    db.session.add(request)
    db.session.flush()
    return request


def get_request(
    actor: User, request_id: int, *, protocol: DistributionProtocol | None = None
) -> DistributionRequest:
    """A request whose protocol the actor's site may see (another biobank's answers 404);
    with ``protocol``, one recorded under that protocol."""
    request = get_record(DistributionRequest, request_id)
    if (
        request is None
        or not policy.may_see_protocol(actor, request.protocol)
        or (protocol is not None and request.protocol_id != protocol.id)
    ):
        raise NotFound("No distribution request with that identifier is visible to you.")
    return request


def list_requests(
    actor: User,
    protocol: DistributionProtocol,
    *,
    status: RequestStatus | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[DistributionRequest]:
    """One page of a protocol's requests, newest first (the protocol as ``get_protocol``
    gave it: visible to the actor)."""
    stmt = (
        sa.select(DistributionRequest)
        .where(DistributionRequest.protocol_id == protocol.id)
        .order_by(DistributionRequest.id.desc())
    )
    if status is not None:
        stmt = stmt.where(DistributionRequest.status == status)
    return paginate(stmt, page=page, per_page=per_page)


def lock_request(
    actor: User,
    request: DistributionRequest,
    action: policy.Action = policy.Action.DISTRIBUTE,
) -> DistributionRequest:
    """The request's row, locked for the change and read after the lock, by someone whose
    role may take ``action`` at the protocol's biobank: two approvals (or an approval and a
    cancellation, or two picks) of one request take turns."""
    policy.require_own_site(actor, request.protocol.site, action)
    stmt = sa.select(DistributionRequest).where(DistributionRequest.id == request.id)
    fresh = db.session.scalar(locked(stmt, DistributionRequest))
    if fresh is None:
        raise NotFound(f"Distribution request {request.id} is gone: reload the page.")
    return fresh


# --- what matches -----------------------------------------------------------------------------


def _collected_window(request: DistributionRequest) -> tuple[datetime, datetime]:
    """The request's days in the biobank's time zone, as UTC [start, end)."""
    zone = ZoneInfo(request.protocol.site.timezone)
    # No tube was collected before EARLIEST nor after tomorrow (services.core.timebounds):
    # days past those bounds change nothing, and near the calendar's ends would not convert.
    first = max(request.collected_from, EARLIEST.date())
    last = min(request.collected_to, utcnow().date() + timedelta(days=1))
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _tube_types(specimen: Specimen) -> list[int]:
    return list(db.session.scalars(sa.select(TubeType.id).where(TubeType.specimen == specimen)))


def _quarantined() -> sa.Exists:
    return sa.exists().where(
        SampleFlag.sample_id == Sample.id, SampleFlag.kind == FlagKind.QUARANTINED
    )


def _matching(request: DistributionRequest, tube_types: list[int]) -> list[Any]:
    """The conditions a tube meets to be offered to (and reserved for) this request, apart from
    its participant's consent."""
    start, end = _collected_window(request)
    conditions: list[Any] = [
        _FREE_AND_STORED,
        Sample.tube_type_id.in_(tube_types),
        Sample.collected_at >= start,
        Sample.collected_at < end,
        Sample.custody_site_id == request.protocol.site_id,
        Sample.volume_ml >= request.min_volume_ml,
        Sample.freeze_thaw_count <= request.max_freeze_thaw,
        ~_quarantined(),
    ]
    if request.sample_barcodes:
        conditions.append(Sample.barcode.in_(request.sample_barcodes))
    return conditions


def _consented() -> list[Any]:
    return [Participant.biospecimen_consent.is_(True), Participant.withdrawn_at.is_(None)]


@dataclass(frozen=True)
class ProposedTube:
    sample_id: int
    barcode: str
    participant_id: str
    freeze_thaw_count: int
    volume_ml: Decimal
    collected_at: datetime


@dataclass(frozen=True)
class Proposal:
    """The tubes proposed for a request, participant by participant, and what is short."""

    request: DistributionRequest
    tubes: list[ProposedTube]
    participants: int
    participants_short: int
    tubes_short: int
    # Sample IDs the study named that are not offered (reserved, used, not matching …).
    not_offered: list[str] = field(default_factory=list)

    @property
    def barcodes(self) -> list[str]:
        return [tube.barcode for tube in self.tubes]


def _proposal_query(request: DistributionRequest, tube_types: list[int]) -> sa.Select[Any]:
    """The proposal's one statement, in the form each database plans well; both choose the
    same tubes in the same order (a test checks each against the rule written plainly).

    PostgreSQL ranks every candidate with window functions: one parallel scan, and no
    intermediate result it would have to guess the size of (given the grouped form, it
    guessed 200 participants for 60,000 and merged the chosen tubes with all of ``samples``:
    464 ms at a million tubes against 257). SQLite, which runs a query on one thread and sorts
    once per window, groups instead: one window, one grouping, a bounded sort (316 ms against
    754)."""
    if on_postgres():
        return _ranked_proposal(request, tube_types)
    return _grouped_proposal(request, tube_types)


def _candidates(request: DistributionRequest, tube_types: list[int], *details: Any) -> sa.CTE:
    """Every tube the request may be offered, with ``details`` of it, its participant and its
    place among that participant's tubes (``nth``: fewest thaws first, ties by id)."""
    participant = Collection.participant_id
    return (
        sa.select(
            Sample.id,
            Sample.freeze_thaw_count,
            *details,
            participant.label("participant_id"),
            sa.func.row_number()
            .over(partition_by=participant, order_by=(Sample.freeze_thaw_count, Sample.id))
            .label("nth"),
        )
        .join(Collection, Collection.id == Sample.collection_id)
        .join(Participant, Participant.participant_id == participant)
        .where(*_matching(request, tube_types), *_consented())
        .cte("candidates")
    )


def _ranked_proposal(request: DistributionRequest, tube_types: list[int]) -> sa.Select[Any]:
    candidates = _candidates(
        request, tube_types, Sample.barcode, Sample.volume_ml, Sample.collected_at
    )
    per_participant = candidates.c.participant_id
    kept = (
        sa.select(
            candidates,
            sa.func.count().over(partition_by=per_participant).label("tubes"),
            sa.func.sum(candidates.c.freeze_thaw_count)
            .over(partition_by=per_participant)
            .label("thaws"),
            sa.func.min(candidates.c.id).over(partition_by=per_participant).label("first_id"),
        )
        .where(candidates.c.nth <= request.tubes_per_participant)
        .cte("kept")
    )
    ranked = sa.select(
        kept,
        # Complete sets first, then the fewest thaws, then the lower id (first_id is unique per
        # participant, so this ranks participants).
        sa.func.dense_rank()
        .over(order_by=(kept.c.tubes.desc(), kept.c.thaws, kept.c.first_id))
        .label("participant_rank"),
    ).subquery("ranked")
    return (
        sa.select(ranked)
        .where(ranked.c.participant_rank <= request.participants_wanted)
        .order_by(ranked.c.participant_rank, ranked.c.nth)
    )


def _grouped_proposal(request: DistributionRequest, tube_types: list[int]) -> sa.Select[Any]:
    # Narrow on purpose: every matching tube passes through here (tens of thousands at
    # program scale), and the details are read for the chosen ones only.
    candidates = _candidates(request, tube_types)
    kept = candidates.c.nth <= request.tubes_per_participant
    # The participants chosen: complete sets first, then the fewest thaws, then the lower id
    # (first_id is unique per participant, so the order is total). One grouping and a
    # bounded sort, where a ranking window over every candidate would sort them all again.
    chosen = (
        sa.select(
            candidates.c.participant_id,
            sa.func.count().label("tubes"),
            sa.func.sum(candidates.c.freeze_thaw_count).label("thaws"),
            sa.func.min(candidates.c.id).label("first_id"),
        )
        .where(kept)
        .group_by(candidates.c.participant_id)
        .order_by(sa.desc("tubes"), sa.asc("thaws"), sa.asc("first_id"))
        .limit(request.participants_wanted)
        .cte("chosen")
    )
    return (
        sa.select(
            Sample.id,
            Sample.barcode,
            Sample.freeze_thaw_count,
            Sample.volume_ml,
            Sample.collected_at,
            candidates.c.participant_id,
        )
        .select_from(chosen)
        .join(candidates, candidates.c.participant_id == chosen.c.participant_id)
        .join(Sample, Sample.id == candidates.c.id)
        .where(kept)
        .order_by(chosen.c.tubes.desc(), chosen.c.thaws, chosen.c.first_id, candidates.c.nth)
    )


def propose(actor: User, request: DistributionRequest) -> Proposal:
    """The tubes that would go to this request now (nothing is reserved), and the shortfall."""
    policy.require_own_site(actor, request.protocol.site, policy.Action.DISTRIBUTE)
    tube_types = _tube_types(request.specimen)
    rows = db.session.execute(_proposal_query(request, tube_types)).all() if tube_types else []
    tubes = [
        ProposedTube(
            sample_id=row.id,
            barcode=row.barcode,
            participant_id=row.participant_id,
            freeze_thaw_count=row.freeze_thaw_count,
            volume_ml=row.volume_ml,
            collected_at=row.collected_at,
        )
        for row in rows
    ]
    participants = len({tube.participant_id for tube in tubes})
    offered = {tube.barcode for tube in tubes}
    return Proposal(
        request=request,
        tubes=tubes,
        participants=participants,
        participants_short=max(request.participants_wanted - participants, 0),
        tubes_short=max(request.tubes_wanted - len(tubes), 0),
        not_offered=[b for b in request.sample_barcodes or [] if b not in offered],
    )


# --- reserving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """What an approval reserved, and what it asked for but did not get: tubes another request
    reserved meanwhile (``taken``, with that request's id) and tubes that no longer match
    (``unavailable``: checked out, thawed, quarantined, withdrawn … since they were proposed)."""

    request: DistributionRequest
    reserved: list[str]
    taken: dict[str, int]
    unavailable: list[str]

    @property
    def asked(self) -> int:
        return len(self.reserved) + len(self.taken) + len(self.unavailable)

    @property
    def summary(self) -> str:
        said = f"Reserved {len(self.reserved)} of the {self.asked} tubes chosen"
        if self.taken:
            said += f"; {len(self.taken)} were reserved for another request meanwhile"
        if self.unavailable:
            said += f"; {len(self.unavailable)} no longer match the request"
        return said + "."


def _sample_ids(barcodes: Sequence[str]) -> dict[str, int]:
    wanted = sorted(set(barcodes))
    stmt = sa.select(Sample.barcode, Sample.id).where(Sample.barcode.in_(wanted))
    return {barcode: sample_id for barcode, sample_id in db.session.execute(stmt)}


def _chosen(request: DistributionRequest, barcodes: Sequence[str] | None, actor: User) -> list[str]:
    if barcodes is None:
        return propose(actor, request).barcodes
    if isinstance(barcodes, str) or not 1 <= len(barcodes) <= MAX_TUBES:
        raise ValidationFailed.for_field(
            "sample_ids", f"Choose 1 to {MAX_TUBES} of the proposed tubes to reserve."
        )
    chosen = []
    for text in barcodes:
        try:
            chosen.append(ids.parse_sample_id(str(text)))
        except ids.InvalidCode as invalid:
            raise ValidationFailed.for_field("sample_ids", str(invalid)) from None
    return list(dict.fromkeys(chosen))


def _reserve(request: DistributionRequest, sample_ids: list[int]) -> list[tuple[int, str]]:
    """Reserve those of ``sample_ids`` still free and still matching: their (id, barcode).

    On PostgreSQL the rows are locked in id order first (every writer locks tubes by id, so
    two approvals never wait for each other in a circle), and the UPDATE that follows reads
    them as whoever held them left them; on SQLite the unit of work holds the write lock."""
    if on_postgres():
        db.session.execute(
            sa.select(Sample.id)
            .where(Sample.id.in_(sample_ids))
            .order_by(Sample.id)
            .with_for_update()
        ).all()
    consented = (
        sa.select(Collection.id)
        .join(Participant, Participant.participant_id == Collection.participant_id)
        .where(Collection.id == Sample.collection_id, *_consented())
        .exists()
    )
    guarded = (
        sa.update(_SAMPLES)
        .where(
            Sample.id.in_(sample_ids),
            *_matching(request, _tube_types(request.specimen)),
            consented,
        )
        .values(reserved_for_request_id=request.id)
        .returning(Sample.id, Sample.barcode)
    )
    return sorted((row.id, row.barcode) for row in db.session.execute(guarded))


def approve(
    actor: User, request: DistributionRequest, barcodes: Sequence[str] | None = None
) -> Approval:
    """Approve a draft request and reserve its tubes: ``barcodes`` (those the coordinator
    chose from the proposal) or, when None, the proposal as it stands now.

    Whatever another request took meanwhile is not reserved and is named in the answer. A
    request that gets none of its tubes is not approved: 409, with the same account."""
    request = lock_request(actor, request)
    if not REQUESTS.allows(request.status, RequestStatus.APPROVED):
        REQUESTS.move(request, RequestStatus.APPROVED, name=f"Request {request.id}")
    ensure_accepting_requests(request.protocol)
    chosen = _chosen(request, barcodes, actor)
    if not chosen:
        raise Conflict(
            f"No tube matches request {request.id} now: nothing to reserve. Widen the request "
            "(dates, volume, freeze-thaw cycles) or record a new one.",
            distribution_request=request.id,
        )
    by_barcode = _sample_ids(chosen)
    unknown = [b for b in chosen if b not in by_barcode]
    if unknown:
        raise ValidationFailed.for_field(
            "sample_ids",
            f"{', '.join(ids.display(b) for b in unknown[:10])}: no such tube. Choose from the "
            "proposed tubes.",
        )
    got = _reserve(request, [by_barcode[b] for b in chosen])
    reserved_ids = {sample_id for sample_id, _ in got}
    missed = [by_barcode[b] for b in chosen if by_barcode[b] not in reserved_ids]
    holders = dict(
        db.session.execute(
            sa.select(Sample.barcode, Sample.reserved_for_request_id).where(Sample.id.in_(missed))
        ).all()
    )
    approval = Approval(
        request=request,
        reserved=[barcode for _, barcode in got],
        taken={b: holder for b, holder in holders.items() if holder is not None},
        unavailable=sorted(b for b, holder in holders.items() if holder is None),
    )
    if not got:
        raise Conflict(
            f"{approval.summary} Request {request.id} stays a draft: propose its tubes again.",
            distribution_request=request.id,
            taken=approval.taken,
            unavailable=approval.unavailable,
        )
    now = utcnow()
    _record_reservations(actor, request, got, now)
    REQUESTS.move(request, RequestStatus.APPROVED, name=f"Request {request.id}")
    request.approved_at = now
    request.approved_by_id = actor.id
    db.session.flush()
    return approval


def _details(request: DistributionRequest) -> dict[str, Any]:
    protocol = request.protocol
    return {
        "request": request.id,
        "protocol": protocol.id,
        "approval_number": protocol.approval_number,
    }


def _tube_events(
    kind: EventType,
    actor: User,
    request: DistributionRequest,
    tubes: list[tuple[int, str]],
    now: datetime,
    *,
    reason: str | None = None,
) -> None:
    """One custody event per tube (id, barcode) about this request, at the protocol's
    biobank; the session's copies of those tubes are read again when next used (the
    reservation changed under them)."""
    details = _details(request)
    record_events_in_bulk(
        [
            {
                "type": kind,
                "sample_id": sample_id,
                "sample_barcode": barcode,
                "reason": reason,
                "details": details,
            }
            for sample_id, barcode in tubes
        ],
        actor=actor,
        site=request.protocol.site,
        at=now,
    )
    expire_loaded(*((Sample, sample_id) for sample_id, _ in tubes))


def _record_reservations(
    actor: User, request: DistributionRequest, got: list[tuple[int, str]], now: datetime
) -> None:
    db.session.execute(
        sa.insert(_ITEMS),
        [
            {
                "request_id": request.id,
                "sample_id": sample_id,
                "reserved_at": now,
                "reserved_by_id": actor.id,
            }
            for sample_id, _ in got
        ],
    )
    _tube_events(EventType.RESERVED, actor, request, got, now)


# --- releasing ------------------------------------------------------------------------------

RELEASABLE = (RequestStatus.APPROVED, RequestStatus.PICKING)


def release(
    actor: User,
    request: DistributionRequest,
    reason: str | None,
    *,
    barcodes: Sequence[str] | None = None,
) -> list[str]:
    """Let go of a request's reserved tubes (all of them, or ``barcodes``), with a reason; each
    gets a ``released`` event. Returns the sample IDs released."""
    why = check_free_text(reason, "reason")
    if not why:
        raise ValidationFailed.for_field("reason", "Give a reason to release the tubes.")
    request = lock_request(actor, request)
    if request.status not in RELEASABLE:
        raise InvalidTransition(
            f"Request {request.id} is {request.status}: it holds no reserved tubes to release.",
            distribution_request=request.id,
        )
    return _release(actor, request, why, barcodes)


def _refuse_packed(request: DistributionRequest, wanted: list[Any]) -> None:
    """A tube packed in the request's open outbound shipment is not let go: the shipment would
    still list it, and its dispatch send a tube the study no longer holds. Read after the
    tubes' locks (packing takes the same)."""
    packed = db.session.execute(
        sa.select(Sample.barcode, DistributionShipment.id)
        .join(DistributionShipmentItem, DistributionShipmentItem.sample_id == Sample.id)
        .join(DistributionShipment, DistributionShipment.id == DistributionShipmentItem.shipment_id)
        .where(*wanted, DistributionShipment.status == OutboundStatus.OPEN)
        .order_by(Sample.barcode)
    ).all()
    if packed:
        shown = ", ".join(ids.display(barcode) for barcode, _ in packed[:10])
        more = f" and {len(packed) - 10} more" if len(packed) > 10 else ""
        raise Conflict(
            f"{shown}{more}: packed in outbound shipment "
            f"{DistributionShipment.number_of(packed[0][1])} of request "
            f"{request.id}. Take them out of the box on the shipment's page, or cancel the "
            "shipment, then release them.",
            distribution_request=request.id,
            distribution_shipment=packed[0][1],
        )


def _release(
    actor: User, request: DistributionRequest, why: str, barcodes: Sequence[str] | None
) -> list[str]:
    wanted = [Sample.reserved_for_request_id == request.id]
    if barcodes is not None:
        chosen = [ids.sample_id_field(str(text), "sample_ids") for text in barcodes]
        held = set(
            db.session.scalars(sa.select(Sample.barcode).where(Sample.barcode.in_(chosen), *wanted))
        )
        not_held = [b for b in chosen if b not in held]
        if not_held:
            raise Conflict(
                f"{', '.join(ids.display(b) for b in not_held[:10])}: not reserved for request "
                f"{request.id}, so there is nothing to release. Reload the request.",
                distribution_request=request.id,
            )
        wanted.append(Sample.barcode.in_(chosen))
    if on_postgres():
        db.session.execute(
            sa.select(Sample.id).where(*wanted).order_by(Sample.id).with_for_update()
        ).all()
    _refuse_packed(request, wanted)
    freed = sorted(
        (row.id, row.barcode)
        for row in db.session.execute(
            sa.update(_SAMPLES)
            .where(*wanted)
            .values(reserved_for_request_id=None)
            .returning(Sample.id, Sample.barcode)
        )
    )
    if not freed:
        return []
    now = utcnow()
    db.session.execute(
        sa.update(_ITEMS)
        .where(
            DistributionItem.request_id == request.id,
            DistributionItem.sample_id.in_([sample_id for sample_id, _ in freed]),
            DistributionItem.released_at.is_(None),
        )
        # A picked tube let go is no longer picked for the request (an item is released or
        # picked, not both); its checked_out event keeps the pick on record, and it stays
        # checked out until someone checks it back in.
        .values(
            released_at=now,
            released_by_id=actor.id,
            release_reason=why,
            picked_at=None,
            picked_by_id=None,
        )
    )
    _tube_events(EventType.RELEASED, actor, request, freed, now, reason=why)
    db.session.flush()
    return [barcode for _, barcode in freed]


def cancel_request(actor: User, request: DistributionRequest, reason: str | None) -> list[str]:
    """Cancel a request that has not shipped; its reserved tubes are released with it.
    Returns the sample IDs released."""
    why = check_free_text(reason, "reason")
    if not why:
        raise ValidationFailed.for_field("reason", "Give a reason to cancel the request.")
    request = lock_request(actor, request)
    if not REQUESTS.allows(request.status, RequestStatus.CANCELLED):
        REQUESTS.move(request, RequestStatus.CANCELLED, name=f"Request {request.id}")
    released = _release(actor, request, why, None) if request.status in RELEASABLE else []
    REQUESTS.move(request, RequestStatus.CANCELLED, name=f"Request {request.id}")
    request.cancelled_at = utcnow()
    request.cancelled_by_id = actor.id
    request.cancel_reason = why
    db.session.flush()
    return released


def reserved_tubes(request: DistributionRequest) -> list[Sample]:
    """The tubes a request holds now, by id."""
    return list(
        db.session.scalars(
            sa.select(Sample)
            .where(Sample.reserved_for_request_id == request.id)
            .order_by(Sample.id)
        )
    )


def held_for(sample: Sample) -> DistributionRequest | None:
    """The request a tube is reserved for, if any."""
    if sample.reserved_for_request_id is None:
        return None
    return db.session.get(DistributionRequest, sample.reserved_for_request_id)


def consent_refusal(sample: Sample, request: DistributionRequest, doing: str) -> Conflict | None:
    """Why a reserved tube may not go on to its study (``doing``) after all, or None: its
    participant withdrew, or no longer consents, since it was reserved. The tube is released
    from the request instead; the withdrawal list tells the coordinator what else to do."""
    participant = db.session.scalar(
        sa.select(Participant)
        .join(Collection, Collection.participant_id == Participant.participant_id)
        .where(Collection.id == sample.collection_id)
    )
    if participant is not None and participant.biospecimen_consent and not participant.withdrawn_at:
        return None
    why = (
        f"withdrew on {participant.withdrawn_at:%Y-%m-%d}"
        if participant is not None and participant.withdrawn_at
        else "has no consent to research use on record"
    )
    return Conflict(
        f"The participant of tube {sample.display_barcode} {why}: the tube cannot go to the "
        f"study. Release it from request {request.id} instead of {doing}.",
        barcode=sample.barcode,
        withdrawn=True,
    )


def reservation_refusal(sample: Sample, doing: str) -> Conflict | None:
    """Why a reserved tube is not checked out, aliquoted, withdrawn or disposed of (``doing``),
    or None. Asked of a tube read after its row lock, so it is the tube's state as it is."""
    request = held_for(sample)
    if request is None:
        return None
    protocol = request.protocol
    return Conflict(
        f"Tube {sample.display_barcode} is reserved for distribution request {request.id} "
        f"under protocol {protocol.approval_number} ({protocol.title}): release the "
        f"reservation before {doing}.",
        barcode=sample.barcode,
        reserved_for_request=request.id,
    )

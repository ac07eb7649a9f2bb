"""Label printers at each site, and the print jobs sent to them (ZPL over raw TCP).

Admins register a site's printers; the people of that site print to them, and only them
(another site's printer answers 404, coordinators included; admins print nothing). A job
prints what a ZPL download of the same labels holds and records what a download records
(``labelling.prepare_print`` renders and checks, ``labelling.record_label_prints`` writes the
``labelled`` / ``label_reprinted`` events), but records it only once the printer took the
bytes. A job is three steps; ``biobank.printing`` runs them, each step its own transaction:

1. ``start_print_job``: the printer's row is locked for that moment (one job per printer at a
   time), the labels are rendered and the reason checked, the job is written as ``sending``.
   The caller commits: the job exists before any byte leaves.
2. The bytes go to the printer with no transaction open, so no row stays locked while a
   printer is slow or switched off.
3. ``finish_print_job``: ``sent`` with the tubes' events (each naming the printer and the
   job), or ``failed`` with the reason and nothing recorded as printed.

When the printer took the bytes but step 3 cannot commit, the labels exist and no event says
so. The job, committed in step 1, stays ``sending`` and shows as unconfirmed (``unconfirmed``),
and the person is told to look at the printer before printing again. Recording first and
sending after was the other way, and a worse one: events are never deleted, so a printer that
was off would leave tubes recorded as labelled that carry no label.

Where a printer may be: its host is an IP address or a host name, and the address the server
connects to must lie on a printer network (``BIOBANK_PRINTER_NETWORKS``: the private networks
by default) and its port be a printer port (``BIOBANK_PRINTER_PORTS``: 9100-9109). Checked
when an admin registers the printer, and again for every job after the name is looked up; the
server then connects to the very address it checked. A printer's host cannot make the server
connect anywhere else: not the database, not a cloud metadata address, not the internet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

import labels
from biobank.db import utcnow
from biobank.errors import Conflict, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    PRINTER_DPIS,
    Collection,
    Container,
    EventType,
    LabelBatch,
    Printer,
    PrinterJob,
    PrintJobKind,
    PrintJobStatus,
    Sample,
    User,
)
from biobank.services.collecting import collections, labelling
from biobank.services.core import locks, policy
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import name_problem
from biobank.services.core.samples import already_had, get_sample
from biobank.services.core.settings import setting
from biobank.services.core.sites import site_field
from biobank.services.core.transitions import PRINT_JOBS
from biobank.services.storage import freezer_tree
from biobank.unit_of_work import get_record

DEFAULT_PORT = 9100
MAX_NAME = 64
MAX_HOST = 253
# Tubes named by barcode in one reprint job (a rack's worth).
MAX_REPRINT_TUBES = 100
# A job still ``sending`` this long after it started is not in flight any more: its server
# stopped, or could not record the outcome (unconfirmed). Until then it holds its printer.
IN_FLIGHT_SECONDS = 60
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
HOST_HINT = (
    "Give the printer's IP address or host name only, e.g. 10.20.30.40 or "
    "zebra-bench-2.lab.example.org (no http://, port or path)."
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- where a printer may be -----------------------------------------------------------------


def ip_literal(host: str) -> IPAddress | None:
    """The address a host is written as, or None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a printer's IP address or host name, or None."""
    if not host:
        return "Give the printer's IP address or host name, e.g. 10.20.30.40."
    if len(host) > MAX_HOST:
        return f"A host name is at most {MAX_HOST} characters. {HOST_HINT}"
    address = ip_literal(host)
    if address is not None:
        return address_problem(address)
    labels_ = host.split(".")
    if all(_HOST_LABEL.match(label) for label in labels_) and not labels_[-1].isdigit():
        return None
    return f"{host!r} is not an IP address or a host name. {HOST_HINT}"


def address_problem(address: IPAddress) -> str | None:
    """Why the server may not connect to ``address`` for a print job, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not one printer's address: give the printer's own address."
    networks = setting("BIOBANK_PRINTER_NETWORKS")
    if any(address in network for network in networks if network.version == address.version):
        return None
    allowed = ", ".join(str(network) for network in networks) or "none"
    return (
        f"{address} is not on a printer network this server may reach ({allowed}): give an "
        "address on the site's printer network, or ask the operator to add that network "
        "(BIOBANK_PRINTER_NETWORKS)."
    )


def port_problem(port: int) -> str | None:
    ranges = setting("BIOBANK_PRINTER_PORTS")
    if any(low <= port <= high for low, high in ranges):
        return None
    allowed = ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
    return (
        f"Port {port} is not a printer port this server may use ({allowed or 'none'}): raw "
        f"printing is port {DEFAULT_PORT}; ask the operator to allow another port "
        "(BIOBANK_PRINTER_PORTS)."
    )


def _name_problem(name: str) -> str | None:
    if not name:
        return "Give the printer a name people will recognise, e.g. Bench 2 Zebra."
    if len(name) > MAX_NAME:
        return f"A printer's name is at most {MAX_NAME} characters."
    if not name.isprintable():
        return "A printer's name is one line of visible characters."
    return name_problem(name)


def _stock_problem(code: str, dpi: int | None) -> str | None:
    try:
        stock = labels.get_stock(code)
    except labels.UnknownStock as unknown:
        return str(unknown)
    if not stock.zpl:
        printable = ", ".join(c for c, known in labels.STOCKS.items() if known.zpl)
        return f"{code} is a laser sheet, not printed on a label printer: choose {printable}."
    if dpi is not None and stock.dpi != dpi:
        return (
            f"{code} is laid out for {stock.dpi} dpi: a {dpi}-dpi printer would print it at "
            "the wrong size. Choose a stock made for the printer's resolution, or check the "
            "resolution on the printer's configuration label."
        )
    return None


def _settings_problems(
    *, name: str, host: str, port: int, dpi: int, stock: str
) -> dict[str, list[str]]:
    problems = {
        "name": _name_problem(name),
        "host": host_problem(host),
        "port": port_problem(port) if 1 <= port <= 65535 else "A port is 1 to 65535.",
        "dpi": None
        if dpi in PRINTER_DPIS
        else f"Choose the printer's resolution: {', '.join(map(str, PRINTER_DPIS))} dpi.",
        "stock": _stock_problem(stock, dpi if dpi in PRINTER_DPIS else None),
    }
    return {field: [message] for field, message in problems.items() if message}


def _refuse(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationFailed.for_fields(problems)


def _named_already(site_id: int, name: str, but: int | None = None) -> bool:
    stmt = sa.select(Printer.id).where(
        Printer.site_id == site_id, sa.func.lower(Printer.name) == name.lower()
    )
    if but is not None:
        stmt = stmt.where(Printer.id != but)
    return db.session.scalar(stmt.limit(1)) is not None


# --- registering printers (admins) ------------------------------------------------------------


def register_printer(
    actor: User,
    *,
    site: str,
    name: str,
    host: str,
    port: int = DEFAULT_PORT,
    dpi: int = 300,
    stock: str = labels.DEFAULT_STOCK,
) -> Printer:
    """A label printer at ``site``, reached at ``host``:``port``, loaded with ``stock``."""
    policy.require(actor, policy.Action.MANAGE_PRINTERS)
    target = site_field(site)
    name, host = name.strip(), host.strip()
    _refuse(_settings_problems(name=name, host=host, port=port, dpi=dpi, stock=stock))
    if _named_already(target.id, name):
        raise Conflict(f"{target.code} has a printer named {name!r} already: choose another name.")
    printer = Printer(site=target, name=name, host=host, port=port, dpi=dpi, stock=stock)
    db.session.add(printer)
    db.session.flush()
    return printer


def update_printer(
    actor: User,
    printer: Printer,
    *,
    name: str | None = None,
    host: str | None = None,
    port: int | None = None,
    dpi: int | None = None,
    stock: str | None = None,
    active: bool | None = None,
) -> Printer:
    """Change what is given: its name, where it is, what it prints on, or take it out of use
    (``active=False``; its jobs stay) and back."""
    policy.require(actor, policy.Action.MANAGE_PRINTERS)
    new_name = printer.name if name is None else name.strip()
    new_host = printer.host if host is None else host.strip()
    new_port = printer.port if port is None else port
    new_dpi = printer.dpi if dpi is None else dpi
    new_stock = printer.stock if stock is None else stock
    _refuse(
        _settings_problems(
            name=new_name, host=new_host, port=new_port, dpi=new_dpi, stock=new_stock
        )
    )
    if _named_already(printer.site_id, new_name, but=printer.id):
        raise Conflict(
            f"{printer.site.code} has a printer named {new_name!r} already: choose another name."
        )
    printer.name, printer.host, printer.port = new_name, new_host, new_port
    printer.dpi, printer.stock = new_dpi, new_stock
    if active is not None:
        printer.active = active
    db.session.flush()
    return printer


def get_printer(actor: User, printer_id: int) -> Printer:
    """A printer of the actor's site (any site's for an admin); otherwise 404."""
    return policy.ensure_printer_visible(actor, get_record(Printer, printer_id))


def list_printers(
    actor: User,
    *,
    site: str | None = None,
    active: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Printer]:
    stmt = policy.scope_printers(sa.select(Printer), actor)
    if site:
        stmt = stmt.where(Printer.site_id == site_field(site).id)
    if active is not None:
        stmt = stmt.where(Printer.active.is_(active))
    return paginate(
        stmt.order_by(Printer.site_id, Printer.name, Printer.id), page=page, per_page=per_page
    )


def printers_for(actor: User) -> list[Printer]:
    """The printers a person may print to now: their own site's, in use (none for a role
    that does not print labels)."""
    if not policy.can(actor, policy.Action.PRINT_LABELS):
        return []
    return list(
        db.session.scalars(
            sa.select(Printer)
            .where(Printer.site_id == actor.site_id, Printer.active.is_(True))
            .order_by(Printer.name, Printer.id)
        )
    )


# --- print jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    """A job on its way: everything the send and the record after it need, as plain values
    (nothing here is read from the database while the printer is being talked to)."""

    job_id: int
    printer_id: int
    printer_name: str
    host: str
    port: int
    prepared: labelling.PreparedPrint
    sample_ids: tuple[int, ...]
    collection_id: int | None

    @property
    def content(self) -> bytes:
        return self.prepared.content


@dataclass(frozen=True)
class _Subject:
    kind: PrintJobKind
    samples: list[Sample]
    collection: Collection | None = None
    batch: LabelBatch | None = None
    box: Container | None = None


def _subject(
    actor: User,
    *,
    collection: int | None,
    label_batch: int | None,
    box: int | None,
    barcodes: Sequence[str],
    reason: str | None,
) -> _Subject:
    named = [
        field
        for field, value in (("collection", collection), ("label_batch", label_batch), ("box", box))
        if value is not None
    ]
    if len(named) > 1:
        raise ValidationFailed.for_field(
            named[1], f"Print one thing per job: {' or '.join(named)}, not both."
        )
    if barcodes and named and named[0] != "collection":
        raise ValidationFailed.for_field(
            "barcodes",
            f"Tubes by barcode go alone, or with their collection, not with a {named[0]}.",
        )
    if collection is not None:
        found = collections.get_collection(actor, collection)
        return _Subject(
            PrintJobKind.COLLECTION,
            labelling.collection_samples(found, barcodes),
            collection=found,
        )
    if label_batch is not None:
        batch = labelling.get_label_batch(actor, label_batch)
        return _Subject(PrintJobKind.LABEL_BATCH, labelling.batch_samples(batch), batch=batch)
    if box is not None:
        found_box = freezer_tree.get_box(actor, box)
        boxed = [p.sample for p in found_box.positions if p.sample is not None]
        if not boxed:
            raise ValidationFailed.for_field(
                "box", f"{found_box.name} holds no tubes: there are no labels to print."
            )
        return _Subject(PrintJobKind.BOX, boxed, box=found_box)
    if barcodes:
        if len(barcodes) > MAX_REPRINT_TUBES:
            raise ValidationFailed.for_field(
                "barcodes", f"Reprint at most {MAX_REPRINT_TUBES} tubes per job."
            )
        if not (reason or "").strip():
            raise ValidationFailed.for_field(
                "reason", "A reprint needs a reason (e.g. 'label smudged')."
            )
        samples: list[Sample] = []
        for barcode in barcodes:
            sample = get_sample(actor, barcode, field="barcodes")
            if sample not in samples:
                samples.append(sample)
        return _Subject(PrintJobKind.REPRINT, samples)
    raise ValidationFailed.for_field(
        "collection",
        "Say what to print: a collection, a label_batch, a box, or tubes by barcodes (with a "
        "reason).",
    )


def _locked(printer: Printer) -> Printer:
    """The printer's row locked until this transaction ends (a moment: nothing is sent in
    it) and read again: two jobs for one printer take turns to start."""
    return db.session.scalars(
        locks.locked(sa.select(Printer).where(Printer.id == printer.id), Printer)
    ).one()


def in_flight(printer: Printer, now: datetime | None = None) -> PrinterJob | None:
    """The printer's job being sent now, if any."""
    since = (now or utcnow()) - timedelta(seconds=IN_FLIGHT_SECONDS)
    return db.session.scalar(
        sa.select(PrinterJob)
        .where(
            PrinterJob.printer_id == printer.id,
            PrinterJob.status == PrintJobStatus.SENDING,
            PrinterJob.created_at > since,
        )
        .order_by(PrinterJob.id.desc())
        .limit(1)
    )


def unconfirmed(job: PrinterJob, now: datetime | None = None) -> bool:
    """A job left ``sending``: sent, perhaps printed, never recorded either way."""
    since = (now or utcnow()) - timedelta(seconds=IN_FLIGHT_SECONDS)
    return job.status == PrintJobStatus.SENDING and job.created_at <= since


def start_print_job(
    actor: User,
    printer_id: int,
    *,
    collection: int | None = None,
    label_batch: int | None = None,
    box: int | None = None,
    barcodes: Sequence[str] = (),
    reason: str | None = None,
) -> tuple[PrinterJob, Outbound]:
    """Step 1: the job written as ``sending``, its labels rendered and checked; nothing is
    recorded as printed and nothing is sent. The caller commits, then sends ``Outbound``."""
    policy.require(actor, policy.Action.PRINT_LABELS)
    printer = _locked(get_printer(actor, printer_id))
    if not printer.active:
        raise Conflict(
            f"{printer.name} is out of use (an admin took it out): print to another printer, "
            "or as PDF."
        )
    now = utcnow()
    busy = in_flight(printer, now)
    if busy is not None:
        raise Conflict(
            f"{printer.name} is printing job {busy.id} (started by {busy.requested_by.username} "
            f"{int((now - busy.created_at).total_seconds())} s ago): wait until it finishes, "
            "then print again."
        )
    subject = _subject(
        actor,
        collection=collection,
        label_batch=label_batch,
        box=box,
        barcodes=barcodes,
        reason=reason,
    )
    prepared = labelling.prepare_print(
        actor, subject.samples, fmt="zpl", stock=printer.stock, reason=reason
    )
    job = PrinterJob(
        printer=printer,
        requested_by_id=actor.id,
        kind=subject.kind,
        status=PrintJobStatus.SENDING,
        collection_id=subject.collection.id if subject.collection else None,
        label_batch_id=subject.batch.id if subject.batch else None,
        container_id=subject.box.id if subject.box else None,
        sample_ids=[sample.id for sample in subject.samples],
        reason=prepared.reason,
        stock=printer.stock,
        labels=prepared.labels,
        size_bytes=len(prepared.content),
        content_sha256=hashlib.sha256(prepared.content).hexdigest(),
        created_at=now,
    )
    db.session.add(job)
    db.session.flush()
    return job, Outbound(
        job_id=job.id,
        printer_id=printer.id,
        printer_name=printer.name,
        host=printer.host,
        port=printer.port,
        prepared=prepared,
        sample_ids=tuple(job.sample_ids),
        collection_id=job.collection_id,
    )


def finish_print_job(
    actor: User, outbound: Outbound, *, address: str | None, failure: str | None
) -> PrinterJob:
    """Step 3, after the send: ``failed`` with ``failure`` (nothing recorded as printed), or
    ``sent`` with the tubes' label events, recorded as a download of the same labels is."""
    job = db.session.scalar(
        locks.locked(sa.select(PrinterJob).where(PrinterJob.id == outbound.job_id), PrinterJob)
    )
    if job is None:
        raise NotFound(f"Print job {outbound.job_id} is not there any more.")
    if job.status != PrintJobStatus.SENDING:
        raise Conflict(f"Print job {job.id} is {job.status} already.")
    job.address = address
    if failure is not None:
        PRINT_JOBS.move(job, PrintJobStatus.FAILED, name=f"Print job {job.id}")
        job.failure, job.finished_at = failure, utcnow()
        db.session.flush()
        return job
    by_id = {
        sample.id: sample
        for sample in db.session.scalars(
            sa.select(Sample).where(Sample.id.in_(outbound.sample_ids))
        )
    }
    samples = [by_id[sample_id] for sample_id in outbound.sample_ids]
    # Printed before now, perhaps by another job that finished while this one was sent.
    printed_before = frozenset(already_had(samples, EventType.LABELLED))
    reason = outbound.prepared.reason
    if printed_before - outbound.prepared.printed_before and not reason:
        reason = f"Printed by print job {job.id} while another print of these labels was under way."
    prepared = dataclasses.replace(outbound.prepared, printed_before=printed_before, reason=reason)
    labelling.record_label_prints(
        actor,
        samples,
        prepared,
        collection=db.session.get(Collection, job.collection_id) if job.collection_id else None,
        details={"printer": outbound.printer_name, "print_job": job.id},
    )
    PRINT_JOBS.move(job, PrintJobStatus.SENT, name=f"Print job {job.id}")
    job.finished_at = utcnow()
    db.session.flush()
    return job


def list_printer_jobs(
    actor: User, printer: Printer, *, page: int = 1, per_page: int = 50
) -> Page[PrinterJob]:
    """The printer's jobs, newest first."""
    policy.ensure_printer_visible(actor, printer)
    return paginate(
        sa.select(PrinterJob)
        .where(PrinterJob.printer_id == printer.id)
        .order_by(PrinterJob.id.desc()),
        page=page,
        per_page=per_page,
    )


def get_printer_job(actor: User, printer: Printer, job_id: int) -> PrinterJob:
    policy.ensure_printer_visible(actor, printer)
    job = get_record(PrinterJob, job_id)
    if job is None or job.printer_id != printer.id:
        raise NotFound(f"{printer.name} has no print job {job_id}.")
    return job

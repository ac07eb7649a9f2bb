"""Label printers and print jobs, without HTTP: a real TCP listener on 127.0.0.1 is the
printer; what it received is rendered with zplkit and decoded with zxing-cpp."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from biobank.errors import Conflict, Forbidden, NotFound, PrinterUnavailable, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, Printer, PrinterJob, PrintJobStatus, Role
from biobank.printing import PrintNotRecorded, deliver, print_to_printer
from biobank.services.collecting import labelling, printers
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import ON_POSTGRES
from tests.printers import (
    allow_local_printers,
    fake_printer,
    refusing_port,
    scanned,
    unanswering_port,
)

PARTICIPANT = "P123456789"


@pytest.fixture
def printer_at(app, admin):
    """Register a printer (through the service, as an admin) at a site, on a port."""

    def register(site: str, port: int, name: str = "Bench Zebra", **options) -> Printer:
        allow_local_printers(app, port, *app_ports(app), timeout=options.pop("timeout", 2.0))
        with unit_of_work():
            return printers.register_printer(
                admin,
                site=site,
                name=name,
                host=options.pop("host", "127.0.0.1"),
                port=port,
                **options,
            )

    return register


def app_ports(app) -> list[int]:
    return [low for low, _ in app.config["BIOBANK_PRINTER_PORTS"]]


def label_events(**where) -> list[Event]:
    db.session.rollback()
    stmt = sa.select(Event).where(Event.type.in_(["labelled", "label_reprinted"]))
    for name, value in where.items():
        stmt = stmt.where(getattr(Event, name) == value)
    return list(db.session.scalars(stmt.order_by(Event.id)))


def job_row(job_id: int) -> PrinterJob:
    db.session.rollback()
    return db.session.get(PrinterJob, job_id)


def expected_scans(samples) -> list[str]:
    return [s.barcode for s in samples for _ in range(s.tube_type.labels_per_tube)]


# --- printing -----------------------------------------------------------------------------------


def test_a_collection_printed_to_a_printer_scans_and_is_recorded_as_a_download_would_be(
    app, collector, clinic, start_collection, printer_at
):
    by_printer = start_collection(collector, PARTICIPANT)
    by_download = start_collection(collector, "P987654321")
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        job = print_to_printer(collector, printer.id, collection=by_printer.id)
    [received] = fake.received
    assert scanned(received) == expected_scans(by_printer.samples)  # urine twice
    # The very bytes a ZPL download of these labels holds.
    preview = labelling.collection_labels(collector, by_printer, preview=True, fmt="zpl")
    assert received == preview.content

    job = job_row(job.id)
    assert job.status == PrintJobStatus.SENT and job.failure is None
    assert job.labels == 9 and job.size_bytes == len(received) and job.address == "127.0.0.1"
    assert job.sample_ids == [s.id for s in by_printer.samples]

    with unit_of_work():
        labelling.collection_labels(collector, by_download, fmt="zpl")

    printed, downloaded = (
        label_events(collection_id=by_printer.id),
        label_events(collection_id=by_download.id),
    )
    assert [e.type for e in printed] == [e.type for e in downloaded] == ["labelled"] * 8
    assert [e.actor_id for e in printed] == [e.actor_id for e in downloaded]
    for event_, twin in zip(printed, downloaded, strict=True):
        extra = {"printer": "Bench Zebra", "print_job": job.id}
        assert event_.details == {**twin.details, **extra}
        assert event_.reason is None and event_.site_id == twin.site_id


def test_the_printer_gets_nothing_but_the_tube_id_code_and_date(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        print_to_printer(collector, printer.id, collection=collection.id)
    [received] = fake.received
    assert PARTICIPANT.encode() not in received
    for needle in (collector.username, collector.full_name, clinic.code, clinic.name):
        assert needle.encode() not in received
    allowed = set()
    for sample in collection.samples:
        spec = labelling.label_spec(sample)
        allowed |= {spec.sample_id, spec.display_id, spec.tube_code, spec.display_date}
    fields = set(re.findall(rb"\^FD(.*?)\^FS", received))
    assert {field.decode() for field in fields} <= allowed


def test_a_label_batch_and_a_box_print_their_tubes_in_order(
    app,
    coordinator,
    technician,
    collector,
    clinic,
    biobank_site,
    received_tubes,
    boxes,
    printer_at,
):
    with unit_of_work():
        batch = labelling.create_label_batch(coordinator, site="UCSD-01", kit="URINE-ONLY", count=3)
    tubes = received_tubes(collector)
    box = boxes[0]
    with unit_of_work():
        for tube in tubes:
            placing.store_sample(technician, box, tube.barcode)
    with fake_printer() as fake:
        at_biobank = printer_at("MAYO-BB", fake.port)
        batch_job = print_to_printer(coordinator, at_biobank.id, label_batch=batch.id)
        box_job = print_to_printer(
            technician, at_biobank.id, box=box.id, reason="labels frosted over"
        )
    batch_labels, box_labels = fake.received
    assert scanned(batch_labels) == expected_scans(labelling.batch_samples(batch))
    db.session.rollback()
    in_box = [p.sample for p in box.positions]
    assert scanned(box_labels) == expected_scans(in_box)
    assert job_row(batch_job.id).kind == "label_batch"
    assert job_row(box_job.id).container_id == box.id
    # Nobody printed these tubes' labels before: the box job is their first print.
    by_box = label_events(type="labelled")
    by_box = [e for e in by_box if e.details["print_job"] == box_job.id]
    assert [e.sample_id for e in by_box] == [t.id for t in in_box]
    assert job_row(box_job.id).reason == "labels frosted over"


def test_a_reprint_needs_a_reason_and_records_it(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    first = collection.samples[0]
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        print_to_printer(collector, printer.id, collection=collection.id)
        with pytest.raises(ValidationFailed) as again:
            print_to_printer(collector, printer.id, collection=collection.id)
        assert "a reprint needs a reason" in again.value.errors["reason"][0]
        with pytest.raises(ValidationFailed) as bare:
            print_to_printer(collector, printer.id, barcodes=[first.barcode])
        assert "reason" in bare.value.errors
        job = print_to_printer(
            collector, printer.id, barcodes=[first.barcode], reason="label smudged"
        )
    assert len(fake.received) == 2  # the refused ones never reached the printer
    assert scanned(fake.received[1]) == [first.barcode]
    assert db.session.scalar(sa.select(sa.func.count(PrinterJob.id))) == 2
    [reprint] = label_events(type="label_reprinted")
    assert reprint.sample_id == first.id and reprint.reason == "label smudged"
    assert reprint.details["print_job"] == job.id and job_row(job.id).kind == "reprint"


# --- a printer that does not print ------------------------------------------------------------


@contextmanager
def nothing_recorded_as_printed() -> Iterator[None]:
    before = len(label_events())
    yield
    assert len(label_events()) == before


def _failed_job(collector, printer, collection) -> tuple[PrinterUnavailable, PrinterJob]:
    with nothing_recorded_as_printed(), pytest.raises(PrinterUnavailable) as failed:
        print_to_printer(collector, printer.id, collection=collection.id)
    job = job_row(failed.value.extra["print_job"]["id"])
    assert job.status == PrintJobStatus.FAILED and job.finished_at is not None
    assert job.failure in failed.value.detail
    assert failed.value.detail.endswith(f"Nothing was recorded as printed (print job {job.id}).")
    return failed.value, job


def test_a_printer_that_refuses_fails_the_job_with_a_clear_message(
    app, admin, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    printer = printer_at("UCSD-01", refusing_port())
    refused, job = _failed_job(collector, printer, collection)
    assert f"Bench Zebra (127.0.0.1:{printer.port}) refused the connection" in refused.detail
    assert "switched on" in refused.detail
    assert job.address is None
    # Printed later, once it is on: a first print, no reason asked.
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        with unit_of_work():
            printers.update_printer(admin, db.session.get(Printer, printer.id), port=fake.port)
        print_to_printer(collector, printer.id, collection=collection.id)
    assert {e.type for e in label_events()} == {"labelled"}


def test_a_printer_that_does_not_answer_fails_within_the_timeout(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    with unanswering_port() as port:
        printer = printer_at("UCSD-01", port, timeout=0.5)
        failed, _ = _failed_job(collector, printer, collection)
    assert "did not answer within 0.5 s" in failed.detail


def test_a_printer_that_breaks_off_or_never_confirms_fails_the_job(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer("resets") as resetting:
        printer = printer_at("UCSD-01", resetting.port, timeout=1.0)
        failed, _ = _failed_job(collector, printer, collection)
    assert "broke off the connection" in failed.detail or "did not confirm" in failed.detail
    with fake_printer("never_confirms") as wedged:
        printer = printer_at("UCSD-01", wedged.port, name="Wedged Zebra", timeout=0.5)
        failed, job = _failed_job(collector, printer, collection)
    assert "took the labels but did not confirm within 0.5 s" in failed.detail
    assert "before printing again" in failed.detail
    assert job.address == "127.0.0.1"
    assert len(wedged.received) == 1  # it had the bytes: only its confirmation was missing


# --- who may print where ----------------------------------------------------------------------


def test_people_print_only_to_their_own_sites_printers(
    app,
    make_user,
    admin,
    collector,
    coordinator,
    other_collector,
    clinic,
    other_clinic,
    start_collection,
    printer_at,
):
    mine = start_collection(collector, PARTICIPANT)
    theirs = start_collection(other_collector, "P987654321")
    with fake_printer() as fake:
        at_clinic = printer_at("UCSD-01", fake.port)
        at_other = printer_at("BWH-01", fake.port, name="BWH Zebra")
        with pytest.raises(NotFound):  # another site's printer, even for a coordinator
            print_to_printer(collector, at_other.id, collection=mine.id)
        with pytest.raises(NotFound):
            print_to_printer(coordinator, at_clinic.id, collection=mine.id)
        with pytest.raises(NotFound):  # own printer, another site's collection
            print_to_printer(collector, at_clinic.id, collection=theirs.id)
        with pytest.raises(Forbidden):  # admins register printers and print nothing
            print_to_printer(admin, at_clinic.id, collection=mine.id)
        with pytest.raises(NotFound):
            printers.get_printer(other_collector, at_clinic.id)
        assert [p.id for p in printers.list_printers(collector).items] == [at_clinic.id]
        assert {p.id for p in printers.list_printers(admin).items} == {at_clinic.id, at_other.id}
        assert printers.list_printers(coordinator).items == []
    assert fake.received == []
    assert db.session.scalar(sa.select(sa.func.count(PrinterJob.id))) == 0


def test_a_printer_out_of_use_or_busy_refuses_new_jobs(
    app, admin, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        with unit_of_work():
            _, outbound = printers.start_print_job(collector, printer.id, collection=collection.id)
        with pytest.raises(Conflict) as busy:
            print_to_printer(collector, printer.id, collection=collection.id, reason="again")
        assert f"is printing job {outbound.job_id}" in busy.value.detail
        with unit_of_work():
            printers.finish_print_job(collector, outbound, address=None, failure="test")
        with unit_of_work():
            printers.update_printer(admin, db.session.get(Printer, printer.id), active=False)
        with pytest.raises(Conflict) as retired:
            print_to_printer(collector, printer.id, collection=collection.id)
        assert "out of use" in retired.value.detail
        assert printers.printers_for(collector) == []
    assert fake.received == []


# --- registering: where a printer may be ---------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("http://10.1.2.3", "not an IP address or a host name"),
        ("10.1.2.3:9100", "not an IP address or a host name"),
        ("zebra/../admin", "not an IP address or a host name"),
        ("user@10.1.2.3", "not an IP address or a host name"),
        ("10.1.2.999", "not an IP address or a host name"),
        ("", "Give the printer's IP address or host name"),
        ("127.0.0.1", "not on a printer network"),
        ("169.254.169.254", "not on a printer network"),
        ("8.8.8.8", "not on a printer network"),
        ("::ffff:127.0.0.1", "not on a printer network"),
        ("0.0.0.0", "not one printer's address"),
        ("224.0.0.1", "not one printer's address"),
    ],
)
def test_a_printer_host_that_is_not_a_printer_on_a_printer_network_is_refused(
    app, admin, clinic, host, says
):
    with pytest.raises(ValidationFailed) as refused, unit_of_work():
        printers.register_printer(admin, site="UCSD-01", name="Zebra", host=host)
    assert says in refused.value.errors["host"][0]
    assert db.session.scalar(sa.select(sa.func.count(Printer.id))) == 0


def test_registering_checks_port_resolution_stock_and_name(app, admin, collector, clinic):
    def problems(**given):
        fields = {"site": "UCSD-01", "name": "Zebra", "host": "10.20.30.40", **given}
        with pytest.raises((ValidationFailed, Conflict, Forbidden)) as refused, unit_of_work():
            printers.register_printer(admin, **fields)
        return refused.value

    assert "Port 5432 is not a printer port" in problems(port=5432).errors["port"][0]
    assert "laid out for 300 dpi" in problems(dpi=203).errors["stock"][0]
    assert "Choose the printer's resolution" in problems(dpi=150).errors["dpi"][0]
    assert "laser sheet" in problems(stock="cryo-sheet-letter").errors["stock"][0]
    assert "Unknown label stock" in problems(stock="nope").errors["stock"][0]
    assert "name" in problems(name="Jane Smith's printer DOB 03/04/1961").errors
    assert "Unknown site" in problems(site="NOPE").detail or "site" in problems(site="NOPE").errors
    with unit_of_work():
        made = printers.register_printer(
            admin, site="UCSD-01", name="Zebra", host="zebra-2.lab.example.org", stock="cap-2d"
        )
    assert (made.port, made.dpi, made.stock, made.active) == (9100, 300, "cap-2d", True)
    assert isinstance(problems(name="zebra"), Conflict)  # one name per site
    with pytest.raises(Forbidden), unit_of_work():
        printers.register_printer(collector, site="UCSD-01", name="Mine", host="10.0.0.9")


def test_a_host_name_is_checked_again_where_it_points_when_a_job_is_sent(
    app, collector, clinic, start_collection, printer_at
):
    """localhost is a fine name to register, and 127.0.0.1 is not on the printer networks:
    the job fails without connecting (a name pointed somewhere new after registration)."""
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port, host="localhost")
        app.config["BIOBANK_PRINTER_NETWORKS"] = (ipaddress.ip_network("10.0.0.0/8"),)
        failed, job = _failed_job(collector, printer, collection)
    assert (
        "localhost is at 127.0.0.1" in failed.detail and "not on a printer network" in failed.detail
    )
    assert fake.received == [] and job.address is None


def test_an_unknown_host_name_fails_the_job_without_a_connection(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    printer = printer_at("UCSD-01", 9100, host="no-such-printer.invalid")
    failed, _ = _failed_job(collector, printer, collection)
    assert "cannot find no-such-printer.invalid" in failed.detail


# --- transactions around the network ------------------------------------------------------------


def test_no_transaction_is_open_while_the_printer_is_sent_to(
    app, collector, clinic, start_collection, printer_at, monkeypatch
):
    collection = start_collection(collector, PARTICIPANT)
    seen = []

    def watched(outbound, *, timeout):
        seen.append(db.session().in_transaction())
        return deliver(outbound, timeout=timeout)

    monkeypatch.setattr("biobank.printing.deliver", watched)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        print_to_printer(collector, printer.id, collection=collection.id)
    assert seen == [False]
    assert job_row(1).status == PrintJobStatus.SENT  # the job was committed before the send


@pytest.mark.postgres
def test_nothing_is_locked_while_a_printer_takes_its_time(
    app, collector, clinic, start_collection, printer_at
):
    """While the printer holds the bytes (before it confirms), another connection can lock
    the printer, the job and the tubes at once (NOWAIT), and no connection of ours sits idle
    inside a transaction."""
    assert ON_POSTGRES
    collection = start_collection(collector, PARTICIPANT)
    sample_ids = [s.id for s in collection.samples]
    observed = {}
    url = db.engine.url

    def look(_job: bytes) -> None:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as other:
                other.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                observed["printer"] = other.execute(
                    sa.text("SELECT id FROM printers FOR UPDATE NOWAIT")
                ).all()
                observed["job"] = other.execute(
                    sa.text("SELECT id, status FROM printer_jobs FOR UPDATE NOWAIT")
                ).all()
                observed["tubes"] = other.execute(
                    sa.text("SELECT id FROM samples WHERE id = ANY(:ids) FOR UPDATE NOWAIT"),
                    {"ids": sample_ids},
                ).all()
                observed["idle_in_transaction"] = other.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
        finally:
            engine.dispose()

    with fake_printer() as fake:
        fake.on_job = look
        printer = printer_at("UCSD-01", fake.port)
        print_to_printer(collector, printer.id, collection=collection.id)
    assert len(observed["printer"]) == 1 and len(observed["tubes"]) == len(sample_ids)
    assert [tuple(row) for row in observed["job"]] == [(1, "sending")]
    assert observed["idle_in_transaction"] == 0


@contextmanager
def database_fails(on: str, times: int) -> Iterator[None]:
    """The first ``times`` statements containing ``on`` fail, as a dropped connection would."""
    left = {"failures": times}

    def fail(conn, cursor, statement, parameters, context, executemany):
        if on in statement and left["failures"]:
            left["failures"] -= 1
            raise OperationalError(statement, parameters, Exception("connection lost"))

    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", fail)


def test_when_the_record_after_printing_fails_once_it_is_written_on_the_second_try(
    app, collector, clinic, start_collection, printer_at
):
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        with database_fails("UPDATE printer_jobs", times=1):
            job = print_to_printer(collector, printer.id, collection=collection.id)
    assert len(fake.received) == 1
    assert job_row(job.id).status == PrintJobStatus.SENT
    assert len(label_events()) == 8  # recorded once


def test_labels_printed_but_never_recorded_leave_the_job_unconfirmed(
    app, collector, clinic, start_collection, printer_at
):
    """The printer took the bytes; the database then refuses every write: the labels exist,
    no event says so, the job (committed before sending) stays ``sending``, and the person is
    told to look at the printer before printing again."""
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        with (
            nothing_recorded_as_printed(),
            database_fails("UPDATE printer_jobs", times=2),
            pytest.raises(PrintNotRecorded) as lost,
        ):
            print_to_printer(collector, printer.id, collection=collection.id)
    assert len(fake.received) == 1
    assert lost.value.status == 503
    assert "took the labels (print job 1), but the server could not record" in lost.value.detail
    assert "Check the labels came out before printing them again" in lost.value.detail
    job = job_row(1)
    assert job.status == PrintJobStatus.SENDING and job.finished_at is None
    assert not printers.unconfirmed(job)
    a_minute_on = job.created_at + timedelta(seconds=printers.IN_FLIGHT_SECONDS)
    assert printers.unconfirmed(job, a_minute_on)


def test_labels_printed_elsewhere_meanwhile_are_recorded_as_a_reprint_saying_so(
    app, collector, clinic, start_collection, printer_at
):
    """A download of the same labels recorded between the job's start and its end: the
    printer's labels are a second print, and the record says so rather than refusing."""
    collection = start_collection(collector, PARTICIPANT)
    with fake_printer() as fake:
        printer = printer_at("UCSD-01", fake.port)
        with unit_of_work():
            _, outbound = printers.start_print_job(collector, printer.id, collection=collection.id)
        with unit_of_work():
            labelling.collection_labels(collector, db.session.merge(collection))
        delivery = deliver(outbound, timeout=2.0)
        with unit_of_work():
            printers.finish_print_job(
                collector, outbound, address=delivery.address, failure=delivery.failure
            )
    events = label_events()
    assert [e.type for e in events] == ["labelled"] * 8 + ["label_reprinted"] * 8
    assert {e.reason for e in events[8:]} == {
        f"Printed by print job {outbound.job_id} while another print of these labels was under way."
    }


def test_role_table_has_printer_registration_for_admins_only():
    from biobank.services.core import policy

    assert policy.PERMISSIONS[policy.Action.MANAGE_PRINTERS] == frozenset({Role.ADMIN})

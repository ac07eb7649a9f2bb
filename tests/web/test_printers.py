"""The label printer pages: admins register a site's printers and take them out of use; the
collection and label kit pages print to the site's printers ("Print to <printer>"), and a
printer that did not take the labels leaves nothing recorded as printed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, Printer, PrinterJob, Sample
from biobank.services.collecting import labelling, printers
from biobank.unit_of_work import unit_of_work
from tests.conftest import csrf_token_from
from tests.printers import allow_local_printers, fake_printer, refusing_port, scanned


def add_printer(admin, site: str, port: int, name: str = "Bench Zebra", **settings) -> Printer:
    with unit_of_work():
        return printers.register_printer(
            admin, site=site, name=name, host="127.0.0.1", port=port, **settings
        )


def label_events(*types: str) -> list[tuple[str, str]]:
    db.session.rollback()
    return [
        (kind, barcode)
        for kind, barcode in db.session.execute(
            sa.select(Event.type, Sample.barcode)
            .join(Sample, Sample.id == Event.sample_id)
            .where(Event.type.in_(types or ("labelled", "label_reprinted")))
            .order_by(Event.id)
        )
    ]


def labelled_count() -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count(Event.id)).where(Event.type.in_(["labelled", "label_reprinted"]))
    )


def jobs() -> list[tuple[str, str | None]]:
    db.session.rollback()
    return [
        (str(status), failure)
        for status, failure in db.session.execute(
            sa.select(PrinterJob.status, PrinterJob.failure).order_by(PrinterJob.id)
        )
    ]


def post_from(client, page: str, action: str, **data):
    """Press a button of ``page`` whose form (or formaction) posts to ``action``."""
    html = client.get(page).get_data(as_text=True)
    assert f'"{action}"' in html, f"no button posts to {action} on {page}"
    return client.post(action, data={"csrf_token": csrf_token_from(html), **data})


def flashes(client, page: str) -> str:
    return " ".join(
        re.sub(r"<[^>]+>", "", match)
        for match in re.findall(
            r'<div class="flash[^"]*"[^>]*>(.*?)</div>', client.get(page).get_data(as_text=True)
        )
    )


# --- registering printers (admins) ------------------------------------------------------------


def test_an_admin_registers_a_printer_from_the_admin_pages(app, login, admin, clinic):
    allow_local_printers(app)
    client = login(admin)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/admin/printers"' in home  # in the navigation and on the admin home
    page = client.get("/admin/printers").get_data(as_text=True)
    assert "No printer registered yet" in page
    assert "127.0.0.1/32" in page and "BIOBANK_PRINTER_NETWORKS" in page  # what is allowed
    made = post_from(
        client,
        "/admin/printers",
        "/admin/printers",
        site="UCSD-01",
        name="Bench Zebra",
        host="127.0.0.1",
        port="9100",
        dpi="300",
        stock="cap-2d",
    )
    assert made.status_code == 302 and made.headers["Location"] == "/admin/printers?site=UCSD-01"
    listed = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "Bench Zebra is registered at UCSD-01" in listed
    assert "<code>127.0.0.1:9100</code>" in listed
    printer = db.session.scalar(sa.select(Printer))
    assert (printer.site.code, printer.name, printer.port, printer.dpi, printer.stock) == (
        "UCSD-01",
        "Bench Zebra",
        9100,
        300,
        "cap-2d",
    )


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("host", "http://10.0.0.5/", "is not an IP address or a host name"),
        ("host", "169.254.169.254", "is not on a printer network this server may reach"),
        ("port", "5432", "Port 5432 is not a printer port this server may use"),
        ("port", "", "Give the printer&#39;s raw printing port"),
        ("stock", "cryo-sheet-letter", "is a laser sheet, not printed on a label printer"),
        ("name", "", "Give the printer a name people will recognise"),
    ],
)
def test_registering_shows_what_is_wrong_beside_the_field(
    app, login, admin, clinic, field, value, says
):
    client = login(admin)
    settings = {
        "site": "UCSD-01",
        "name": "Zebra",
        "host": "10.0.0.5",
        "port": "9100",
        "dpi": "300",
        "stock": "cryo-roll",
    }
    refused = post_from(client, "/admin/printers", "/admin/printers", **{**settings, field: value})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="register-{field}-error">(.*?)</p>', html, re.S)
    assert error and says in error.group(1), html
    assert f'value="{settings["name"]}"' in html or field == "name"  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count(Printer.id))) == 0


def test_a_second_printer_of_the_same_name_is_refused(app, login, admin, clinic):
    allow_local_printers(app)
    add_printer(admin, "UCSD-01", 9100)
    client = login(admin)
    refused = post_from(
        client,
        "/admin/printers",
        "/admin/printers",
        site="UCSD-01",
        name="bench zebra",
        host="127.0.0.1",
        port="9100",
        dpi="300",
        stock="cryo-roll",
    )
    assert refused.status_code == 409
    assert "UCSD-01 has a printer named &#39;bench zebra&#39; already" in refused.get_data(
        as_text=True
    )


def test_an_admin_changes_a_printer_and_takes_it_out_of_use(
    app, login, admin, collector, clinic, start_collection
):
    allow_local_printers(app, 9101)
    printer = add_printer(admin, "UCSD-01", 9100)
    collection = start_collection(collector)
    client = login(admin)
    page = f"/admin/printers/{printer.id}"
    changed = post_from(
        client,
        page,
        page,
        name="Bench 2 Zebra",
        host="127.0.0.1",
        port="9101",
        dpi="300",
        stock="cryo-roll",
    )
    assert changed.status_code == 302 and changed.headers["Location"] == page
    assert "Bench 2 Zebra is changed." in flashes(client, page)
    bad = post_from(client, page, page, name="Bench 2 Zebra", host="8.8.8.8", port="9101")
    assert bad.status_code == 422
    assert "8.8.8.8 is not on a printer network" in bad.get_data(as_text=True)

    out = post_from(client, page, f"{page}/out-of-use")
    assert out.status_code == 302
    shown = client.get(page).get_data(as_text=True)
    assert "Bench 2 Zebra is out of use" in shown and "Put Bench 2 Zebra back in use" in shown
    db.session.rollback()
    assert db.session.get(Printer, printer.id).active is False

    collector_page = login(collector).get(f"/collections/{collection.id}").get_data(as_text=True)
    assert "Print to Bench 2 Zebra" not in collector_page

    client = login(admin)
    back = post_from(client, page, f"{page}/in-use")
    assert back.status_code == 302 and "Bench 2 Zebra is in use again." in flashes(client, page)
    collector_page = login(collector).get(f"/collections/{collection.id}").get_data(as_text=True)
    assert "Print to Bench 2 Zebra" in collector_page


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator"])
def test_only_admins_reach_the_printer_pages(app, request, login, admin, clinic, role):
    allow_local_printers(app)
    printer = add_printer(admin, "UCSD-01", 9100)
    client = login(request.getfixturevalue(role))
    assert client.get("/admin/printers").status_code == 403
    assert client.get(f"/admin/printers/{printer.id}").status_code == 403
    assert 'href="/admin/printers"' not in client.get("/").get_data(as_text=True)


# --- printing from the collection page ----------------------------------------------------------


def test_a_collector_prints_a_collections_labels_to_the_sites_printer(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    page = f"/collections/{collection.id}"
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        printer = add_printer(admin, "UCSD-01", fake.port)
        client = login(collector)
        html = client.get(page).get_data(as_text=True)
        assert "Print to Bench Zebra" in html
        printed = post_from(
            client,
            page,
            f"/collections/{collection.id}/print/{printer.id}",
            stock="cryo-sheet-letter",  # the PDF's choice: a printer prints on its own roll
            start_position="1",
            reason="",
        )
        assert printed.status_code == 302 and printed.headers["Location"] == page
        message = flashes(client, page)  # the redirect's page; reloading it prints nothing
        assert client.get(page).status_code == 200
    assert message.startswith("Sent 9 labels to Bench Zebra (8 tubes, print job ")
    assert len(fake.received) == 1
    expected = [s.barcode for s in collection.samples for _ in range(s.tube_type.labels_per_tube)]
    assert scanned(fake.received[0]) == expected
    assert [kind for kind, _ in label_events()] == ["labelled"] * 8
    assert jobs() == [("sent", None)]


def test_a_printer_that_is_off_prints_nothing_and_nothing_is_recorded(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    port = refusing_port()
    allow_local_printers(app, port)
    printer = add_printer(admin, "UCSD-01", port)
    client = login(collector)
    page = f"/collections/{collection.id}"
    failed = post_from(client, page, f"/collections/{collection.id}/print/{printer.id}")
    assert failed.status_code == 302 and failed.headers["Location"] == page
    message = flashes(client, page)
    assert f"Bench Zebra (127.0.0.1:{port}) refused the connection" in message
    assert "check that it is switched on" in message
    assert "Nothing was recorded as printed" in message
    assert labelled_count() == 0
    [(status, failure)] = jobs()
    assert status == "failed" and "refused the connection" in failure


def test_a_printer_that_resets_the_connection_prints_nothing_recorded(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    with fake_printer("resets") as fake:
        allow_local_printers(app, fake.port)
        printer = add_printer(admin, "UCSD-01", fake.port)
        client = login(collector)
        page = f"/collections/{collection.id}"
        failed = post_from(client, page, f"/collections/{collection.id}/print/{printer.id}")
    assert failed.status_code == 302
    message = flashes(client, page)
    assert "Nothing was recorded as printed" in message and "Sent" not in message
    assert labelled_count() == 0


def test_printing_again_asks_for_the_reason_beside_the_field(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    page = f"/collections/{collection.id}"
    action = f"/collections/{collection.id}/print/"
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        printer = add_printer(admin, "UCSD-01", fake.port)
        client = login(collector)
        assert post_from(client, page, action + str(printer.id)).status_code == 302
        again = post_from(client, page, action + str(printer.id), reason="")
        assert again.status_code == 422
        html = again.get_data(as_text=True)
        error = re.search(r'<p class="error" id="labels-reason-error">(.*?)</p>', html, re.S)
        assert error and "needs a reason" in error.group(1)
        assert len(fake.received) == 1  # nothing sent the second time
        assert labelled_count() == 8
        reprinted = post_from(client, page, action + str(printer.id), reason="roll jammed")
        assert reprinted.status_code == 302
        assert flashes(client, page).startswith("Sent 9 labels to Bench Zebra")
    assert len(fake.received) == 2
    reprints = label_events("label_reprinted")
    assert len(reprints) == 8
    assert jobs() == [("sent", None), ("sent", None)]


def test_one_tubes_label_is_reprinted_to_a_printer_with_its_reason(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    with unit_of_work():
        labelling.collection_labels(collector, collection, fmt="pdf")
    tube = collection.samples[0]
    page = f"/collections/{collection.id}"
    action = f"/collections/{collection.id}/tubes/{tube.barcode}/print/"
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        printer = add_printer(admin, "UCSD-01", fake.port)
        client = login(collector)
        refused = post_from(client, page, action + str(printer.id), reason="")
        assert refused.status_code == 422
        html = refused.get_data(as_text=True)
        error_id = f"tube-{tube.barcode}-reprint-reason-error"
        assert re.search(rf'id="{error_id}">[^<]*needs a reason', html)
        done = post_from(client, page, action + str(printer.id), reason="label smudged")
        assert done.status_code == 302
        assert done.headers["Location"] == f"{page}#tube-{tube.barcode}"
        assert flashes(client, page).startswith("Sent 1 label to Bench Zebra (1 tube")
    assert scanned(fake.received[0]) == [tube.barcode]
    assert label_events("label_reprinted") == [("label_reprinted", tube.barcode)]


def test_a_printer_out_of_use_or_of_another_site_is_refused(
    app, login, admin, collector, other_collector, clinic, other_clinic, start_collection
):
    collection = start_collection(collector)
    theirs_collection = start_collection(other_collector, "P987654321")
    allow_local_printers(app, 9101)
    mine = add_printer(admin, "UCSD-01", 9101)
    theirs = add_printer(admin, "BWH-01", 9101, name="BWH Zebra")
    client = login(collector)
    page = f"/collections/{collection.id}"
    html = client.get(page).get_data(as_text=True)
    assert "Print to Bench Zebra" in html and "BWH Zebra" not in html
    token = csrf_token_from(html)
    other_printer = client.post(
        f"/collections/{collection.id}/print/{theirs.id}", data={"csrf_token": token}
    )
    assert other_printer.status_code == 404
    other_collection = client.post(
        f"/collections/{theirs_collection.id}/print/{mine.id}", data={"csrf_token": token}
    )
    assert other_collection.status_code == 404
    with unit_of_work():
        printers.update_printer(admin, db.session.get(Printer, mine.id), active=False)
    out = client.post(f"/collections/{collection.id}/print/{mine.id}", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"] == page
    assert "Bench Zebra is out of use" in flashes(client, page)
    assert jobs() == [] and labelled_count() == 0


def test_a_post_without_the_pages_token_prints_nothing(
    app, login, admin, collector, clinic, start_collection
):
    collection = start_collection(collector)
    allow_local_printers(app, 9101)
    printer = add_printer(admin, "UCSD-01", 9101)
    client = login(collector)
    refused = client.post(f"/collections/{collection.id}/print/{printer.id}", data={})
    assert refused.status_code == 400
    assert jobs() == [] and labelled_count() == 0


def test_an_admin_prints_nothing(app, login, admin, collector, clinic, start_collection):
    collection = start_collection(collector)
    allow_local_printers(app, 9101)
    printer = add_printer(admin, "UCSD-01", 9101)
    client = login(admin)
    html = client.get(f"/collections/{collection.id}").get_data(as_text=True)
    assert "Print to" not in html
    response = client.post(
        f"/collections/{collection.id}/print/{printer.id}",
        data={"csrf_token": csrf_token_from(html)},
    )
    assert response.status_code == 403 and jobs() == []


# --- printing a label batch ---------------------------------------------------------------------


def test_a_coordinator_prints_a_label_batch_to_the_biobanks_printer(
    app, login, admin, coordinator, clinic, biobank_site
):
    with unit_of_work():
        batch = labelling.create_label_batch(coordinator, site="UCSD-01", kit="SALIVA", count=2)
    barcodes = [sample.barcode for sample in labelling.batch_samples(batch)]
    page = f"/label-batches/{batch.id}"
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        printer = add_printer(admin, "MAYO-BB", fake.port, name="Kit Room Zebra")
        add_printer(admin, "UCSD-01", fake.port, name="Clinic Zebra")
        client = login(coordinator)
        html = client.get(page).get_data(as_text=True)
        assert "Print to Kit Room Zebra" in html and "Clinic Zebra" not in html
        printed = post_from(client, page, f"/label-batches/{batch.id}/print/{printer.id}")
        assert printed.status_code == 302 and printed.headers["Location"] == page
        assert flashes(client, page).startswith("Sent 2 labels to Kit Room Zebra (2 tubes")
        again = post_from(client, page, f"/label-batches/{batch.id}/print/{printer.id}")
        assert again.status_code == 422
        assert "needs a reason" in again.get_data(as_text=True)
        assert "Reprint the labels" in again.get_data(as_text=True)
    assert scanned(fake.received[0]) == barcodes and len(fake.received) == 1
    assert [barcode for _, barcode in label_events()] == barcodes

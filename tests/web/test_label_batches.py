"""The label batch pages: coordinators make pre-labelled kits for a clinic, print and reprint
their labels (recorded as printed), and see which kits clinics have claimed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Event, LabelBatch
from tests.conftest import csrf_token_from
from tests.decoding import decode, rasterize


@pytest.fixture
def coordinator_client(coordinator, login, clinic):
    return login(coordinator)


def make_batch(client, **data):
    token = csrf_token_from(client.get("/label-batches").get_data(as_text=True))
    return client.post("/label-batches", data={"csrf_token": token, **data})


def print_batch(client, batch_id: int, fmt: str = "pdf", **data):
    token = csrf_token_from(client.get(f"/label-batches/{batch_id}").get_data(as_text=True))
    return client.post(
        f"/label-batches/{batch_id}/labels.{fmt}",
        data={"csrf_token": token, "stock": "cryo-roll", "start_position": "1", **data},
    )


def test_a_coordinator_makes_a_batch_prints_it_and_a_reprint_needs_a_reason(
    coordinator_client,
):
    home = coordinator_client.get("/").get_data(as_text=True)
    assert 'href="/label-batches"' in home  # in the navigation
    made = make_batch(coordinator_client, site="UCSD-01", kit="URINE-ONLY", count="3")
    assert made.status_code == 302
    batch = db.session.scalar(sa.select(LabelBatch))
    assert made.headers["Location"] == f"/label-batches/{batch.id}"
    page = coordinator_client.get(made.headers["Location"]).get_data(as_text=True)
    assert "3 URINE-ONLY kits for UCSD-01 are ready to print" in page
    assert "Claimed by a collection</dt><dd>0 of 3" in page
    barcodes = [sample.barcode for sample in batch.samples]
    for barcode in barcodes:
        assert barcode[:5] in page

    printed = print_batch(coordinator_client, batch.id)
    assert printed.status_code == 200 and printed.mimetype == "application/pdf"
    found = [text for image in rasterize(printed.data, 300) for (_, text) in decode(image)]
    assert sorted(set(found)) == sorted(barcodes)  # every kit's labels
    labelled = sa.select(sa.func.count(Event.id)).where(Event.type == "labelled")
    assert db.session.scalar(labelled) == 3

    again = print_batch(coordinator_client, batch.id)
    assert again.status_code == 422
    assert "a reprint needs a reason" in again.get_data(as_text=True)
    assert "Reprint the labels" in again.get_data(as_text=True)
    reprinted = print_batch(coordinator_client, batch.id, "zpl", reason="printer jam")
    assert reprinted.status_code == 200 and reprinted.data.count(b"^XA") == 6  # 2 per urine
    assert db.session.scalar(labelled) == 3


def test_a_bad_batch_is_refused_beside_its_field(coordinator_client):
    refused = make_batch(coordinator_client, site="MAYO-BB", kit="URINE-ONLY", count="3")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert (
        "is a biobank: label kits go to collection sites" in html.split('id="batch-site-error"')[1]
    )
    too_many = make_batch(coordinator_client, site="UCSD-01", kit="URINE-ONLY", count="500")
    assert "Print between 1 and" in too_many.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(LabelBatch.id))) == 0


def test_a_claimed_kit_shows_its_collection(coordinator_client, collector, start_collection):
    make_batch(coordinator_client, site="UCSD-01", kit="URINE-ONLY", count="2")
    batch = db.session.scalar(sa.select(LabelBatch))
    claimed = start_collection(collector, claim_barcode=batch.samples[1].barcode)
    page = coordinator_client.get(f"/label-batches/{batch.id}").get_data(as_text=True)
    assert "Claimed by a collection</dt><dd>1 of 2" in page
    assert f'href="/collections/{claimed.id}"' in page


@pytest.mark.parametrize("role", ["collector", "technician"])
def test_only_coordinators_print_label_batches(request, login, role, clinic):
    client = login(request.getfixturevalue(role))
    assert client.get("/label-batches").status_code == 403
    assert 'href="/label-batches"' not in client.get("/").get_data(as_text=True)

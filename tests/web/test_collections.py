"""The clinic's collection pages over HTTP: status codes, what the page shows, and that each
form posts what the services need (site-local times become the right UTC instants)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from biobank.extensions import db
from biobank.models import Collection, CollectionStatus, Sample, SampleStatus
from biobank.services.collecting import collections, labelling
from biobank.unit_of_work import unit_of_work
from tests.conftest import csrf_token_from

PARTICIPANT = "P123456789"


# --- reading the pages as a browser would -----------------------------------------------------


class _Forms(HTMLParser):
    """Every <form> of a page with the values it would post as rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action")}
            )
            self.forms[-1]["fields"] = {}
            return
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and attrs.get("name"):
            if attrs.get("type") in ("radio", "checkbox") and "checked" not in attrs:
                return
            fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            if "selected" in attrs or self._select not in fields:
                fields[self._select] = attrs.get("value") or ""
        elif tag == "textarea":
            self._textarea = attrs.get("name")
            fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data.lstrip("\n")


def forms_on(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form_posting_to(html: str, action: str) -> dict[str, str]:
    """The fields of the form posting to ``action``, as rendered (prefilled values included)."""
    found = [form for form in forms_on(html) if form["action"] == action]
    assert found, f"no form posts to {action}"
    return dict(found[0]["fields"])


def fresh(collection_id: int) -> Collection:
    """The collection as stored now (the test shares the app's session)."""
    db.session.expire_all()
    return db.session.get(Collection, collection_id)


def page_of(client, collection) -> tuple[str, str]:
    """The collection page's HTML and its CSRF token."""
    html = client.get(f"/collections/{collection.id}").get_data(as_text=True)
    return html, csrf_token_from(html)


def tube(collection: Collection, family: str) -> Sample:
    return next(s for s in collection.samples if s.tube_type.code[1:4] == family)


@pytest.fixture
def collector_client(collector, login):
    return login(collector)


@pytest.fixture
def draft(collector, start_collection):
    return start_collection(collector, PARTICIPANT)


def post_on_page(client, collection, path: str, **data):
    _, token = page_of(client, collection)
    return client.post(f"/collections/{collection.id}{path}", data={"csrf_token": token, **data})


# --- starting a collection ------------------------------------------------------------------


def test_a_new_collection_with_a_kit_opens_its_page_with_every_tube(collector_client):
    form_page = collector_client.get("/collections/new")
    assert form_page.status_code == 200
    html = form_page.get_data(as_text=True)
    assert 'id="participant_id"' in html and "data-scan" in html
    assert "Baseline adult biobank order" in html

    response = collector_client.post(
        "/collections/new",
        data={
            "csrf_token": csrf_token_from(html),
            "participant_id": "p123456789",
            "kit": "BASELINE-ADULT",
        },
    )
    assert response.status_code == 302
    page = collector_client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    collection = db.session.scalar(db.select(Collection))
    assert response.headers["Location"] == f"/collections/{collection.id}"
    assert collection.participant_id == "P123456789"
    assert len(collection.samples) == 8
    for sample in collection.samples:
        assert sample.display_barcode in html
        assert f'id="tube-{sample.barcode}"' in html
    assert "started with 8 tubes" in html


def test_a_bad_participant_id_is_shown_beside_the_field_and_kept(collector_client):
    token = csrf_token_from(collector_client.get("/collections/new").get_data(as_text=True))
    response = collector_client.post(
        "/collections/new",
        data={"csrf_token": token, "participant_id": "12345X", "kit": "BASELINE-ADULT"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="12345X"' in html
    assert 'aria-describedby="participant_id-hint participant_id-error"' in html
    error = html.split('id="participant_id-error">', 1)[1].split("</p>", 1)[0]
    assert "is not a participant ID" in error
    # the chosen kit stays chosen
    assert form_posting_to(html, "/collections/new")["kit"] == "BASELINE-ADULT"
    assert db.session.scalar(db.select(db.func.count(Collection.id))) == 0


def test_no_kit_chosen_is_shown_beside_the_kit_picker(collector_client):
    token = csrf_token_from(collector_client.get("/collections/new").get_data(as_text=True))
    response = collector_client.post(
        "/collections/new", data={"csrf_token": token, "participant_id": PARTICIPANT}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error = html.split('id="kit-error">', 1)[1].split("</p>", 1)[0]
    assert "Choose the kit being drawn" in error and "not both" not in error
    assert f'value="{PARTICIPANT}"' in html


def test_the_pages_need_a_login(client, draft):
    for path in ("/collections", "/collections/new", f"/collections/{draft.id}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_a_technician_may_not_start_a_collection(technician, login):
    client = login(technician)
    assert client.get("/collections/new").status_code == 403
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post(
        "/collections/new",
        data={"csrf_token": token, "participant_id": PARTICIPANT, "kit": "BASELINE-ADULT"},
    )
    assert response.status_code == 403


def test_a_prelabelled_kit_is_claimed_by_scanning_one_of_its_labels(
    coordinator, collector_client, clinic
):
    with unit_of_work():
        batch = labelling.create_label_batch(coordinator, site="UCSD-01", kit="URINE-ONLY", count=1)
    label = labelling.batch_samples(batch)[0]
    token = csrf_token_from(collector_client.get("/collections/new").get_data(as_text=True))
    claim = {"csrf_token": token, "claim_barcode": label.display_barcode.lower()}

    response = collector_client.post(
        "/collections/new", data={**claim, "participant_id": PARTICIPANT}
    )
    assert response.status_code == 302
    collection = db.session.scalar(db.select(Collection))
    assert [s.barcode for s in fresh(collection.id).samples] == [label.barcode]

    again = collector_client.post(
        "/collections/new", data={**claim, "participant_id": "P987654321"}
    )
    html = again.get_data(as_text=True)
    assert again.status_code == 409
    assert f"belongs to collection {collection.id} already" in html
    assert 'value="P987654321"' in html


# --- per-tube times -------------------------------------------------------------------------


def test_times_typed_in_site_time_are_stored_as_the_right_utc_instant(collector_client, draft):
    sst = tube(draft, "SST")
    response = post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/collected", collected_at="2025-01-15T08:30"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#tube-{sst.barcode}")
    response = post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/processed", processed_at="2025-01-15T09:15"
    )
    assert response.status_code == 302
    # summer: Los Angeles is UTC-7, not UTC-8
    edta = tube(draft, "ED0")
    post_on_page(
        collector_client, draft, f"/tubes/{edta.barcode}/collected", collected_at="2025-07-15T08:30"
    )

    stored = {s.barcode: s for s in fresh(draft.id).samples}
    assert stored[sst.barcode].collected_at == datetime(2025, 1, 15, 16, 30, tzinfo=UTC)
    assert stored[sst.barcode].processed_at == datetime(2025, 1, 15, 17, 15, tzinfo=UTC)
    assert stored[sst.barcode].status == SampleStatus.PROCESSED
    assert stored[edta.barcode].collected_at == datetime(2025, 7, 15, 15, 30, tzinfo=UTC)

    html, _ = page_of(collector_client, draft)
    assert "2025-01-15 08:30 PST" in html and "2025-07-15 08:30 PDT" in html


def test_time_inputs_are_prefilled_with_now_in_the_sites_zone(collector_client, draft):
    html, _ = page_of(collector_client, draft)
    sst = tube(draft, "SST")
    fields = form_posting_to(html, f"/collections/{draft.id}/tubes/{sst.barcode}/collected")
    shown = datetime.strptime(fields["collected_at"], "%Y-%m-%dT%H:%M")
    from zoneinfo import ZoneInfo

    now_there = datetime.now(ZoneInfo("America/Los_Angeles")).replace(tzinfo=None)
    assert abs((now_there - shown).total_seconds()) < 120
    assert 'type="datetime-local"' in html


def test_sst_processed_within_30_minutes_is_warned_on_the_page(collector_client, draft):
    sst = tube(draft, "SST")
    post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/collected", collected_at="2025-01-15T08:30"
    )
    post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/processed", processed_at="2025-01-15T08:45"
    )
    html, _ = page_of(collector_client, draft)
    assert 'id="warnings-title"' in html
    assert f"{sst.display_barcode} processed less than 30 minutes after collection" in html
    assert "early processing" in html


def test_a_refused_time_is_shown_beside_that_tubes_field_with_the_input_kept(
    collector_client, draft
):
    sst = tube(draft, "SST")
    post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/collected", collected_at="2025-01-15T08:30"
    )
    response = post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/processed", processed_at="2025-01-15T08:00"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="2025-01-15T08:00"' in html
    error = html.split(f'id="tube-{sst.barcode}-processed-error">', 1)[1].split("</p>", 1)[0]
    assert "cannot be processed at or before it was collected" in error
    assert fresh(draft.id).samples[0].processed_at is None


def test_a_time_that_is_not_a_time_is_422(collector_client, draft):
    sst = tube(draft, "SST")
    response = post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/collected", collected_at="yesterday"
    )
    assert response.status_code == 422
    assert f'id="tube-{sst.barcode}-collected-error"' in response.get_data(as_text=True)


def test_a_tube_of_another_collection_is_not_found(
    collector_client, draft, collector, start_collection
):
    other = start_collection(collector, "P987654321")
    response = post_on_page(
        collector_client,
        draft,
        f"/tubes/{other.samples[0].barcode}/collected",
        collected_at="2025-01-15T08:30",
    )
    assert response.status_code == 404


def test_times_of_a_finalized_collection_are_a_conflict_shown_on_top(
    collector, collector_client, finalized_collection
):
    collection = finalized_collection(collector)
    sample = collection.samples[0]
    response = post_on_page(
        collector_client,
        collection,
        f"/tubes/{sample.barcode}/collected",
        collected_at="2025-01-15T08:30",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Amend it with a reason to correct times." in html.split('role="alert">', 1)[1]


# --- finalize, cancel, restore, amend -------------------------------------------------------


def _record_every_time(client, collection):
    for sample in collection.samples:
        post_on_page(
            client,
            collection,
            f"/tubes/{sample.barcode}/collected",
            collected_at="2025-01-15T08:30",
        )
        if sample.tube_type.requires_processing:
            post_on_page(
                client,
                collection,
                f"/tubes/{sample.barcode}/processed",
                processed_at="2025-01-15T09:15",
            )


def test_finalize_with_missing_times_names_the_tubes(collector_client, draft):
    response = post_on_page(collector_client, draft, "/finalize")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    errors = html.split('id="finalize-errors"', 1)[1].split("</div>", 1)[0]
    for sample in draft.samples:
        assert f"{sample.tube_type.code} {sample.display_barcode} has no collected time" in errors
    assert fresh(draft.id).status == CollectionStatus.DRAFT


def test_finalize_when_every_time_is_recorded(collector_client, draft):
    _record_every_time(collector_client, draft)
    response = post_on_page(collector_client, draft, "/finalize")
    assert response.status_code == 302
    collection = fresh(draft.id)
    assert collection.status == CollectionStatus.FINALIZED
    assert {s.status for s in collection.samples} == {SampleStatus.FINALIZED}
    html, _ = page_of(collector_client, draft)
    assert "is finalized" in html
    assert "Record collected" not in html  # a finalized collection is amended, not edited
    assert f'action="/collections/{draft.id}/amend"' in html


def test_cancel_needs_a_reason_then_cancels(collector_client, draft):
    response = post_on_page(collector_client, draft, "/cancel", reason="  ")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give a reason to cancel a collection." in html
    assert 'aria-describedby="cancel-reason-hint cancel-reason-error"' in html
    assert '<details class="danger-zone" open>' in html

    response = post_on_page(collector_client, draft, "/cancel", reason="participant fainted")
    assert response.status_code == 302
    collection = fresh(draft.id)
    assert collection.status == CollectionStatus.CANCELLED
    html, _ = page_of(collector_client, draft)
    assert "participant fainted" in html
    assert f'action="/collections/{draft.id}/restore"' in html


def test_cancelling_twice_is_a_conflict_shown_on_top(collector, collector_client, draft):
    with unit_of_work():
        collections.cancel_collection(collector, draft, "duplicate order")
    response = post_on_page(collector_client, draft, "/cancel", reason="again")
    assert response.status_code == 409
    assert 'class="flash flash-error" role="alert">Collection' in response.get_data(as_text=True)


def test_restore_with_a_reason_brings_the_collection_back(collector, collector_client, draft):
    with unit_of_work():
        collections.cancel_collection(collector, draft, "wrong participant scanned")
    assert post_on_page(collector_client, draft, "/restore", reason="").status_code == 422
    response = post_on_page(collector_client, draft, "/restore", reason="it was the right one")
    assert response.status_code == 302
    collection = fresh(draft.id)
    assert collection.status == CollectionStatus.DRAFT
    assert {s.status for s in collection.samples} == {SampleStatus.PENDING}


def test_amend_corrects_only_the_times_that_were_changed(
    collector, collector_client, finalized_collection
):
    collection = finalized_collection(collector)
    recorded = {s.barcode: (s.collected_at, s.processed_at) for s in collection.samples}
    html, _ = page_of(collector_client, collection)
    data = form_posting_to(html, f"/collections/{collection.id}/amend")
    edta = tube(collection, "ED0")
    index = next(key.split("-")[1] for key, value in data.items() if value == edta.barcode)
    data[f"tubes-{index}-collected_at"] = "2025-01-15T08:30"
    data["reason"] = "draw time was written on the wrong line"

    response = collector_client.post(f"/collections/{collection.id}/amend", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    amended = fresh(collection.id)
    assert amended.amend_reason == "draw time was written on the wrong line"
    for sample in amended.samples:
        if sample.barcode == edta.barcode:
            assert sample.collected_at == datetime(2025, 1, 15, 16, 30, tzinfo=UTC)
        else:  # prefilled to the minute, the record kept its seconds: not a change
            assert (sample.collected_at, sample.processed_at) == recorded[sample.barcode]
    assert list(amended.amendments[0].changes) == [edta.barcode]


def test_amend_without_a_change_says_so(collector, collector_client, finalized_collection):
    collection = finalized_collection(collector)
    html, _ = page_of(collector_client, collection)
    data = form_posting_to(html, f"/collections/{collection.id}/amend")
    response = collector_client.post(
        f"/collections/{collection.id}/amend", data={**data, "reason": "checking"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give corrected notes or tube times." in html.split('id="amend-errors"', 1)[1]
    assert '<details class="amend" open>' in html


# --- labels ---------------------------------------------------------------------------------


def test_print_pdf_then_a_reprint_needs_a_reason(collector_client, draft):
    first = post_on_page(
        collector_client, draft, "/labels.pdf", stock="cryo-roll", start_position="1"
    )
    assert first.status_code == 200
    assert first.mimetype == "application/pdf"
    assert first.data.startswith(b"%PDF")
    assert "attachment" in first.headers["Content-Disposition"]
    assert PARTICIPANT not in first.headers["Content-Disposition"]

    second = post_on_page(
        collector_client, draft, "/labels.pdf", stock="cryo-sheet-letter", start_position="12"
    )
    html = second.get_data(as_text=True)
    assert second.status_code == 422
    assert "a reprint needs a reason" in html.split('id="labels-reason-error"', 1)[1]
    assert '<option data-sheet="true" selected value="cryo-sheet-letter">' in html
    assert 'value="12"' in html

    third = post_on_page(
        collector_client,
        draft,
        "/labels.pdf",
        stock="cryo-sheet-letter",
        start_position="12",
        reason="labels smudged",
    )
    assert third.status_code == 200
    assert third.mimetype == "application/pdf"


def test_zpl_download_carries_no_participant_id(collector_client, draft):
    response = post_on_page(
        collector_client, draft, "/labels.zpl", stock="cryo-roll", start_position="1"
    )
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.zebra-zpl"
    body = response.data.decode("ascii")
    assert body.count("^XA") == 9  # 8 tubes, the urine tube twice
    assert PARTICIPANT not in body
    assert PARTICIPANT not in response.headers["Content-Disposition"]


def test_zpl_on_a_laser_sheet_is_refused_beside_the_stock(collector_client, draft):
    response = post_on_page(
        collector_client, draft, "/labels.zpl", stock="cryo-sheet-letter", start_position="1"
    )
    assert response.status_code == 422
    assert (
        "not printed on a ZPL printer"
        in response.get_data(as_text=True).split('id="labels-stock-error"', 1)[1]
    )


def test_one_tubes_label_is_reprinted_with_a_reason(collector_client, draft):
    post_on_page(collector_client, draft, "/labels.pdf", stock="cryo-roll", start_position="1")
    edta = tube(draft, "ED0")
    path = f"/tubes/{edta.barcode}/labels.zpl"
    refused = post_on_page(collector_client, draft, path, stock="cryo-roll", start_position="1")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert f'id="tube-{edta.barcode}-reprint-reason-error"' in html
    assert '<details class="reprint" open>' in html

    reprinted = post_on_page(
        collector_client, draft, path, stock="cryo-roll", start_position="1", reason="torn"
    )
    assert reprinted.status_code == 200
    assert reprinted.data.decode("ascii").count("^XA") == 1
    assert edta.barcode in reprinted.data.decode("ascii")


# --- who sees what --------------------------------------------------------------------------


def test_another_sites_collection_is_not_found(collector_client, other_collector, start_collection):
    theirs = start_collection(other_collector, PARTICIPANT)
    assert collector_client.get(f"/collections/{theirs.id}").status_code == 404
    token = csrf_token_from(collector_client.get("/collections").get_data(as_text=True))
    for path in ("/finalize", "/cancel", "/labels.pdf"):
        response = collector_client.post(
            f"/collections/{theirs.id}{path}", data={"csrf_token": token, "reason": "x"}
        )
        assert response.status_code == 404, path


def test_a_coordinator_reads_any_sites_collection_without_the_collectors_controls(
    coordinator, login, draft
):
    html = login(coordinator).get(f"/collections/{draft.id}").get_data(as_text=True)
    assert draft.samples[0].display_barcode in html
    assert "Record collected" not in html and "Finalize collection" not in html
    assert "Print labels (PDF)" in html  # coordinators print labels too


def test_the_list_opens_on_every_recent_collection_and_filters_by_status(
    collector, collector_client, other_collector, start_collection, finalized_collection
):
    draft = start_collection(collector, "P111111111")
    done = finalized_collection(collector, "P222222222")
    theirs = start_collection(other_collector, "P333333333")

    recent = collector_client.get("/collections").get_data(as_text=True)
    assert (
        f'href="/collections/{draft.id}"' in recent and f'href="/collections/{done.id}"' in recent
    )
    assert recent.index(f'href="/collections/{done.id}"') < recent.index(
        f'href="/collections/{draft.id}"'
    )  # newest first
    assert f'href="/collections/{theirs.id}"' not in recent
    assert 'href="/collections?status=all" aria-current="page"' in recent

    drafts = collector_client.get("/collections?status=draft").get_data(as_text=True)
    assert f'href="/collections/{draft.id}"' in drafts
    assert f'href="/collections/{done.id}"' not in drafts

    finalized = collector_client.get("/collections?status=finalized").get_data(as_text=True)
    assert f'href="/collections/{done.id}"' in finalized
    assert f'href="/collections/{draft.id}"' not in finalized
    assert "P333333333" not in finalized
    assert collector_client.get("/collections?status=lost").status_code == 404


def test_a_collection_is_found_by_participant_and_start_date(
    app, collector, collector_client, start_collection
):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from biobank.db import clock_at, utcnow

    with clock_at(utcnow() - timedelta(days=10)):
        old = start_collection(collector, "P111111111")
    new = start_collection(collector, "P222222222")
    both = (f'href="/collections/{old.id}"', f'href="/collections/{new.id}"')

    found = collector_client.get("/collections?participant_id=p111111111").get_data(as_text=True)
    assert both[0] in found and both[1] not in found
    assert 'value="p111111111"' in found  # the search stays in its field

    today = utcnow().astimezone(ZoneInfo(collector.site.timezone)).date().isoformat()
    recent = collector_client.get(f"/collections?since={today}").get_data(as_text=True)
    assert both[1] in recent and both[0] not in recent
    # The tabs keep the search.
    assert f'href="/collections?status=draft&amp;since={today}"' in recent

    none = collector_client.get("/collections?participant_id=P999999999").get_data(as_text=True)
    assert "No collection matches" in none

    refused = collector_client.get("/collections?participant_id=12345")
    assert refused.status_code == 422
    error = refused.get_data(as_text=True).split('id="filter-participant-error">', 1)[1]
    assert "is not a participant ID: a participant ID is P followed by 9 digits" in error
    backwards = collector_client.get(f"/collections?since={today}&until=2020-01-01")
    assert backwards.status_code == 422
    assert "The To date is before the From date" in backwards.get_data(as_text=True)


def test_collectors_get_navigation_and_home_links(collector_client, draft):
    home = collector_client.get("/").get_data(as_text=True)
    assert 'href="/collections/new"' in home and 'href="/collections"' in home
    assert f'href="/collections/{draft.id}"' in home


# --- CSRF -----------------------------------------------------------------------------------


def test_every_post_form_on_every_page_carries_a_csrf_token(
    collector, collector_client, start_collection, finalized_collection
):
    draft = start_collection(collector, "P111111111")
    done = finalized_collection(collector, "P222222222")
    cancelled = start_collection(collector, "P333333333")
    with unit_of_work():
        collections.cancel_collection(collector, cancelled, "duplicate")
    token = csrf_token_from(collector_client.get("/").get_data(as_text=True))
    refused_page = collector_client.post(
        f"/collections/{draft.id}/finalize", data={"csrf_token": token}
    )
    pages = [
        collector_client.get(path)
        for path in (
            "/collections",
            "/collections/new",
            f"/collections/{draft.id}",
            f"/collections/{done.id}",
            f"/collections/{cancelled.id}",
        )
    ] + [refused_page]
    checked = 0
    for page in pages:
        for form in forms_on(page.get_data(as_text=True)):
            if form["method"] == "post":
                assert form["fields"].get("csrf_token"), (page.request.path, form["action"])
                checked += 1
    assert checked > 20


def test_a_post_without_the_csrf_token_is_refused(collector_client, draft):
    response = collector_client.post(f"/collections/{draft.id}/cancel", data={"reason": "x"})
    assert response.status_code == 400
    assert fresh(draft.id).status == CollectionStatus.DRAFT


@pytest.mark.parametrize("typed", ["0001-01-01T00:00", "1900-01-01T08:30", "1999-12-31T08:00"])
def test_a_time_before_2000_is_refused_beside_the_field_with_the_range(
    collector_client, draft, typed
):
    sst = tube(draft, "SST")
    response = post_on_page(
        collector_client, draft, f"/tubes/{sst.barcode}/collected", collected_at=typed
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error = html.split(f'id="tube-{sst.barcode}-collected-error">', 1)[1].split("</p>", 1)[0]
    assert "is before 2000-01-01T00:00:00Z" in error
    assert "give a time from 2000-01-01T00:00:00Z up to now" in error
    assert fresh(draft.id).samples[0].collected_at is None


def test_a_collection_with_times_stored_before_2000_still_shows_and_prints(
    collector_client, collector, start_collection
):
    from tests.api.test_collections import _store_times_from_before_the_range

    collection = start_collection(collector, tube_types=["1SST8", "1ED04"])
    _store_times_from_before_the_range(collection)
    html, _ = page_of(collector_client, collection)
    assert "0001-01-01" in html or "1-01-01" in html
    response = post_on_page(
        collector_client, collection, "/labels.pdf", stock="cryo-roll", start_position="1"
    )
    assert response.status_code == 200, response.get_data(as_text=True)[-3000:]
    assert response.mimetype == "application/pdf"
    for sample in collection.samples:
        assert collector_client.get(f"/samples/{sample.barcode}").status_code == 200


def test_every_tube_at_once_from_the_page_with_one_left_for_its_own_time(collector_client, draft):
    html = collector_client.get(f"/collections/{draft.id}").get_data(as_text=True)
    form = html.split(f'action="/collections/{draft.id}/times"', 1)[1].split("</form>", 1)[0]
    ticked = re.findall(
        r'<input checked id="tubes-\d+" name="tubes" type="checkbox" value="(\w+)"', form
    )
    assert ticked == [sample.barcode for sample in draft.samples]  # every tube, ticked
    assert 'aria-label="Now, draw time of every ticked tube"' in form
    first, *others = [sample.barcode for sample in draft.samples]
    response = post_on_page(
        collector_client,
        draft,
        "/times",
        collected_at="2025-01-15T08:30",
        processed_at="2025-01-15T09:15",
        centrifuge="swinging_bucket",
        tubes=others,
    )
    assert response.status_code == 302
    page = collector_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Times recorded for 7 tubes." in page
    collection = fresh(draft.id)
    by_barcode = {sample.barcode: sample for sample in collection.samples}
    assert by_barcode[first].collected_at is None  # the exception: its own time, later
    assert all(by_barcode[b].collected_at is not None for b in others)

    refused = post_on_page(collector_client, draft, "/times", collected_at="", processed_at="")
    assert refused.status_code == 422
    error = refused.get_data(as_text=True).split('id="all-collected-error">', 1)[1]
    assert "Give the time the tubes were drawn" in error.split("</p>", 1)[0]

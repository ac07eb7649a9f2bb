"""Issue 8: one table says who may reach which route, and a test holds every route to it.

``TABLE`` has one row per route of the app (method and rule, as in ``app.url_map``), with
the answer each role gets for a record of its own site and for one of another site:

- allowed: 200 / 201 / 204, or 302 for a web form that succeeded (POST/redirect/GET);
- ``401``: the API without credentials (``application/problem+json``);
- ``LOGIN``: a web page without a session, a 302 to ``/login``;
- ``403``: the role may not do this (``policy.PERMISSIONS``);
- ``404``: the record belongs to another site and the user cannot see it (DESIGN §1: "another
  site's record answers 404, not 403").

Expectations come from DESIGN §1 and §5 and ``biobank.services.core.policy``, not from what the app
answers today. Where the app disagrees, the row keeps the DESIGN answer and names the cell in
``bugs``; the row's test is then an ``xfail(strict=True)`` that fails for real if any *other*
cell of the row breaks, or if the named cell starts to agree (so the marker is removed).

"Own" and "other" are two parallel chains of custody. Every acting user belongs to the first:

    own:   clinic UCSD-01 (collector)    → biobank MAYO-BB  (technician, coordinator, admin)
    other: clinic BWH-01  (collector.bwh) → biobank OTHER-BB (technician.obb)

so "own" is the record of the acting user's chain (a UCSD collection, a shipment UCSD → MAYO,
a tube received and stored at MAYO, a MAYO box) and "other" the same record in the other
chain. A cell with one value means the relation does not change the answer (a technician
never sees a clinic's collection; a coordinator sees every site).

Every case is a real request with real credentials and a valid body, so a 4xx is the policy
speaking and not input validation; a refused request must leave the database exactly as it
was (every table compared; for a GET, the events, the one thing a GET writes: label prints).
Lists get records of both chains first; a clinic or biobank user must not find the other
chain's barcodes, manifest numbers, box barcodes, freezer names or participant IDs in them,
and a coordinator or admin must. The records are built through the services, afresh after
every request that changed something. ``test_every_route_has_a_row`` fails when a route is
added without a row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import labels
from biobank import printing
from biobank.db import utcnow
from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Container,
    Event,
    Printer,
    PrinterJob,
    PrintJobStatus,
    Role,
    Site,
    SiteKind,
    User,
)
from biobank.sequencer import sequence_pending
from biobank.services.collecting import collections, labelling, participants, printers
from biobank.services.core import accounts, ids
from biobank.services.distribution import outbound, picking, protocols, requests
from biobank.services.reporting import reports
from biobank.services.shipping import receiving, sending
from biobank.services.storage import freezer_tree, lifecycle, placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from
from tests.printers import allow_local_printers, fake_printer

ROLES = ("anonymous", "collector", "technician", "coordinator", "admin")
RELATIONS = ("own", "other")
LOGIN = "302 to /login"
DENIED = (401, 403, 404)
PROBLEM_JSON = "application/problem+json"

SST = "1SST8"  # one serum tube: collected, then centrifuged, 8 mL to aliquot from
REASON = "authorization matrix"

# Routes reachable without an account, or tested on their own elsewhere.
EXCLUDED = frozenset(
    {
        ("GET", "/static/<path:filename>"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
        ("GET", "/api/v1/docs"),
        ("GET", "/api/v1/docs/"),
        ("GET", "/api/v1/docs/assets/<path:filename>"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/auth/tokens"),
        ("GET", "/api/v1/health"),  # for a load balancer; tests/api/test_custody.py
    }
)


# --- the world: two chains of custody, built through the services ---------------------------


@dataclass
class Chain:
    clinic: Site
    biobank: Site
    collector: User
    technician: User
    participant_digit: str


def drawn_at() -> datetime:
    return utcnow() - timedelta(hours=2)


def site_local(moment: datetime, site: Site) -> str:
    """A time as a datetime-local input posts it, in the site's zone."""
    return moment.astimezone(ZoneInfo(site.timezone)).strftime("%Y-%m-%dT%H:%M")


class World:
    """Records of each chain, built on first use and rebuilt after anything changed them."""

    def __init__(self, fx: SimpleNamespace) -> None:
        self.fx = fx
        self.chains = {
            "own": Chain(fx.clinic, fx.biobank_site, fx.collector, fx.technician, "1"),
            "other": Chain(
                fx.other_clinic, fx.other_biobank, fx.other_collector, fx.other_technician, "9"
            ),
        }
        self.actors: dict[str, User | None] = {
            "anonymous": None,
            "collector": fx.collector,
            "technician": fx.technician,
            "coordinator": fx.coordinator,
            "admin": fx.admin,
        }
        self._records: dict[tuple[str, str], Any] = {}
        self._headers: dict[int, dict[str, str]] = {}
        self._sequence = itertools.count(1)
        # What each chain's records are called where people read them: none of the other
        # chain's may show up in a list that a clinic or biobank user gets.
        self.codes: dict[str, set[str]] = {relation: set() for relation in RELATIONS}

    # -- plumbing

    def get(self, what: str, relation: str) -> Any:
        key = (what, relation)
        if key not in self._records:
            self._records[key] = getattr(self, f"_build_{what}")(self.chains[relation], relation)
        return self._records[key]

    def forget(self, relation: str | None = None) -> None:
        """Drop the records of one chain (what a request about that chain's record may have
        changed), or of both."""
        for key in [key for key in self._records if relation in (None, key[1])]:
            del self._records[key]

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._sequence):03d}"

    def participant(self, relation: str) -> str:
        code = f"P{self.chains[relation].participant_digit}{next(self._sequence):08d}"
        self.codes[relation].add(code)
        return code

    def headers(self, user: User) -> dict[str, str]:
        if user.id not in self._headers:
            self._headers[user.id] = self.fx.auth_headers(user)
        return self._headers[user.id]

    def token_id(self, owner: User) -> int:
        with unit_of_work():
            _, record = accounts.issue_token(owner, hours=1, name="to revoke")
        return record.id

    def fresh_user(self, relation: str, *, active: bool = True, locked: bool = False) -> User:
        """A collector at the chain's clinic, made for one request (deactivated, or with
        signing locked by wrong signature passwords, if asked)."""
        user = self.fx.make_user(
            self.unique("matrix.user"), Role.COLLECTOR, self.chains[relation].clinic
        )
        if not active:
            with unit_of_work():
                accounts.deactivate_user(None, user)
        if locked:
            for _ in range(self.fx.app.config["BIOBANK_SIGNATURE_MAX_FAILURES"]):
                with contextlib.suppress(ValidationFailed), unit_of_work():
                    accounts.sign(user, "not-the-password", accounts.Meaning.DISPOSAL)
        return user

    def _remember(self, relation: str, *samples: Any) -> None:
        for sample in samples:
            self.codes[relation] |= {sample.barcode, ids.display(sample.barcode)}

    def populate(self) -> None:
        """Something of every kind in both chains, for the lists to show or to hide."""
        for relation in RELATIONS:
            for what in ("draft_collection", "open_shipment", "in_transit", "stored_tube"):
                self.get(what, relation)

    # -- collections (at the clinic)

    def _build_draft_collection(self, chain: Chain, relation: str):
        collection = self.fx.start_collection(
            chain.collector, self.participant(relation), tube_types=[SST]
        )
        self._remember(relation, *collection.samples)
        return collection

    def _build_collected_collection(self, chain: Chain, relation: str):
        collection = self._build_draft_collection(chain, relation)
        with unit_of_work():
            collections.record_collected(
                chain.collector, collection, collection.samples[0].barcode, drawn_at()
            )
        return collection

    def _build_ready_collection(self, chain: Chain, relation: str):
        """Every tube collected and centrifuged: ready to finalize."""
        collection = self._build_collected_collection(chain, relation)
        with unit_of_work():
            collections.record_processed(
                chain.collector,
                collection,
                collection.samples[0].barcode,
                drawn_at() + timedelta(minutes=45),
            )
        return collection

    def _build_finalized_collection(self, chain: Chain, relation: str):
        collection = self.fx.finalized_collection(
            chain.collector, self.participant(relation), tube_types=[SST]
        )
        self._remember(relation, *collection.samples)
        return collection

    def _build_cancelled_collection(self, chain: Chain, relation: str):
        collection = self._build_draft_collection(chain, relation)
        with unit_of_work():
            collections.cancel_collection(chain.collector, collection, REASON)
        return collection

    def _build_finalized_tube(self, chain: Chain, relation: str):
        return self._build_finalized_collection(chain, relation).samples[0]

    def _build_label_batch(self, chain: Chain, relation: str):
        with unit_of_work():
            batch = labelling.create_label_batch(
                self.fx.coordinator, site=chain.clinic.code, kit="SALIVA", count=1
            )
        self._remember(relation, *batch.samples)
        return batch

    # -- shipments

    def _build_open_shipment(self, chain: Chain, relation: str):
        """An open shipment to the chain's biobank with one tube packed."""
        tube = self._build_finalized_tube(chain, relation)
        with unit_of_work():
            shipment = sending.open_shipment(
                chain.collector, destination=chain.biobank.code, temperature="refrigerated"
            )
            sending.pack_sample(chain.collector, shipment, tube.barcode)
        self.codes[relation].add(shipment.manifest_number)
        return shipment

    def _build_in_transit(self, chain: Chain, relation: str):
        shipment = self.fx.dispatched_shipment(
            chain.collector,
            destination=chain.biobank.code,
            participant_id=self.participant(relation),
            tube_types=[SST],
        )
        self.codes[relation].add(shipment.manifest_number)
        self._remember(relation, *(item.sample for item in shipment.items))
        return shipment

    # -- at the biobank

    def _build_received_tube(self, chain: Chain, relation: str):
        shipment = self._build_in_transit(chain, relation)
        tube = shipment.items[0].sample
        with unit_of_work():
            receiving.receive_scan(chain.technician, shipment, tube.barcode)
            receiving.close_receipt(
                chain.technician, shipment, condition="good", signature_password=PASSWORD
            )
        return tube

    def _build_scanned_in(self, chain: Chain, relation: str):
        """A shipment being received: its first tube scanned in, the receipt still open."""
        shipment = self._build_in_transit(chain, relation)
        with unit_of_work():
            receiving.receive_scan(chain.technician, shipment, shipment.items[0].sample.barcode)
        return shipment

    def _build_quarantined_tube(self, chain: Chain, relation: str):
        tube = self._build_received_tube(chain, relation)
        with unit_of_work():
            lifecycle.quarantine(chain.technician, tube.barcode, REASON)
        return tube

    def _build_storage(self, chain: Chain, relation: str):
        """A -80 °C freezer with a shelf holding two 9 x 9 boxes."""
        with unit_of_work():
            freezer = freezer_tree.create_freezer(
                chain.technician,
                name=self.unique(f"Freezer {chain.biobank.code} "),
                temperature_c=-80,
            )
            shelf = freezer_tree.create_container(
                chain.technician, parent_id=freezer.id, kind="shelf", name="Shelf 1"
            )
            box, box2 = (
                freezer_tree.create_container(
                    chain.technician, parent_id=shelf.id, kind="box", name=name, rows=9, cols=9
                )
                for name in ("Box 1", "Box 2")
            )
        self.codes[relation] |= {freezer.name, box.barcode, box2.barcode}
        return SimpleNamespace(freezer=freezer, shelf=shelf, box=box, box2=box2)

    def _build_empty_shelf(self, chain: Chain, relation: str):
        freezer = self.get("storage", relation).freezer
        with unit_of_work():
            return freezer_tree.create_container(
                chain.technician, parent_id=freezer.id, kind="shelf", name=self.unique("Shelf ")
            )

    def _build_stored_tube(self, chain: Chain, relation: str):
        tube = self._build_received_tube(chain, relation)
        with unit_of_work():
            placing.store_sample(chain.technician, self.get("storage", relation).box, tube.barcode)
        return tube

    def _build_checked_out_tube(self, chain: Chain, relation: str):
        tube = self._build_stored_tube(chain, relation)
        with unit_of_work():
            lifecycle.check_out(chain.technician, tube.barcode, REASON)
        return tube

    # -- label printers: one at each site of each chain, all the one local test printer

    def printer(self, relation: str, actor: User | None) -> Printer:
        """A printer at the actor's own site (its chain's clinic or biobank) for "own", and at
        the same kind of site of the other chain for "other"."""
        at_clinic = actor is not None and actor.site.kind == SiteKind.COLLECTION
        return self.get("clinic_printer" if at_clinic else "biobank_printer", relation)

    def _printer_at(self, site: Site) -> Printer:
        with unit_of_work():
            return printers.register_printer(
                self.fx.admin,
                site=site.code,
                name=self.unique("Zebra "),
                host="127.0.0.1",
                port=self.fx.printer_port,
            )

    def _build_clinic_printer(self, chain: Chain, relation: str):
        return self._printer_at(chain.clinic)

    def _build_biobank_printer(self, chain: Chain, relation: str):
        return self._printer_at(chain.biobank)

    def print_job(self, relation: str, actor: User | None) -> tuple[Printer, PrinterJob]:
        """A job sent to ``printer(relation, actor)``, by someone of that site."""
        at_clinic = actor is not None and actor.site.kind == SiteKind.COLLECTION
        job = self.get("clinic_print_job" if at_clinic else "biobank_print_job", relation)
        return job.printer, job

    def _build_clinic_print_job(self, chain: Chain, relation: str):
        printer = self.get("clinic_printer", relation)
        draft = self.get("draft_collection", relation)
        return printing.print_to_printer(
            chain.collector, printer.id, collection=draft.id, reason=REASON
        )

    def _build_biobank_print_job(self, chain: Chain, relation: str):
        printer = self.get("biobank_printer", relation)
        self.get("stored_tube", relation)
        box = self.get("storage", relation).box
        return printing.print_to_printer(chain.technician, printer.id, box=box.id, reason=REASON)

    def _build_aliquoted_tube(self, chain: Chain, relation: str):
        tube = self._build_stored_tube(chain, relation)
        with unit_of_work():
            made = lifecycle.aliquot(chain.technician, tube.barcode, count=1, volume_ml="1")
        self._remember(relation, *made.children)
        return tube

    # -- distribution to research: a protocol of the chain's biobank and requests under it

    def _build_distribution_protocol(self, chain: Chain, relation: str):
        with unit_of_work():
            protocol = protocols.create_protocol(
                self.fx.coordinator,
                site=chain.biobank.code,
                title="Matrix study",
                approval_number=self.unique(f"IRB-{relation}-"),
                approval_expires_on=utcnow().date() + timedelta(days=365),
                institution="Matrix University",
                institution_address="1 Matrix Way",
                responsible_person="Dr Matrix",
                specimens=["serum"],
            )
        self.codes[relation].add(protocol.approval_number)
        return protocol

    def _build_distribution_request(self, chain: Chain, relation: str):
        """A draft request for one serum tube, which the chain's stored tube matches once its
        participant has consented."""
        protocol = self.get("distribution_protocol", relation)
        tube = self.get("stored_tube", relation)
        with unit_of_work():
            participants.upsert_participant(
                self.fx.coordinator, tube.collection.participant_id, biospecimen_consent=True
            )
            return requests.record_request(
                self.fx.coordinator,
                protocol,
                specimen="serum",
                participants_wanted=1,
                tubes_per_participant=1,
                min_volume_ml="0",
                max_freeze_thaw=5,
                collected_from=utcnow().date() - timedelta(days=7),
                collected_to=utcnow().date() + timedelta(days=1),
            )

    def _build_approved_request(self, chain: Chain, relation: str):
        request = self.get("distribution_request", relation)
        with unit_of_work():
            requests.approve(self.fx.coordinator, request)
        return request

    def _build_picked_request(self, chain: Chain, relation: str):
        """An approved request whose one tube the chain's technician has picked."""
        request = self.get("approved_request", relation)
        with unit_of_work():
            picking.pick(chain.technician, request, self.get("stored_tube", relation).barcode)
        return request

    def _build_outbound_open(self, chain: Chain, relation: str):
        """The picked request's outbound shipment, open and empty."""
        request = self.get("picked_request", relation)
        with unit_of_work():
            outbound.open_shipment(chain.technician, request)
        return request

    def _build_outbound_packed(self, chain: Chain, relation: str):
        request = self.get("outbound_open", relation)
        with unit_of_work():
            outbound.pack(
                chain.technician,
                outbound.shipment_of(request),
                self.get("stored_tube", relation).barcode,
            )
        return request

    def _build_outbound_dispatched(self, chain: Chain, relation: str):
        request = self.get("outbound_packed", relation)
        with unit_of_work():
            outbound.dispatch(
                chain.technician,
                outbound.shipment_of(request),
                carrier="fedex",
                tracking_number="123456789012",
                signature_password=PASSWORD,
            )
        return request

    def _build_withdrawn_after_distribution(self, chain: Chain, relation: str) -> str:
        """The participant whose tube the chain's request shipped, withdrawn since: their
        participant ID, with a study to notify."""
        self.get("outbound_dispatched", relation)
        participant_id = self.get("stored_tube", relation).collection.participant_id
        with unit_of_work():
            participants.upsert_participant(
                self.fx.coordinator,
                participant_id,
                biospecimen_consent=True,
                withdrawn_at=utcnow(),
                withdrawal_reason=REASON,
            )
        return participant_id


@pytest.fixture
def printer_port(app) -> Iterator[int]:
    """Every printer of the world is this local test printer (it prints everything)."""
    with fake_printer() as fake:
        allow_local_printers(app, fake.port)
        yield fake.port


@pytest.fixture
def world(
    app,
    printer_port,
    make_site,
    make_user,
    clinic,
    other_clinic,
    biobank_site,
    collector,
    other_collector,
    technician,
    coordinator,
    admin,
    start_collection,
    finalized_collection,
    dispatched_shipment,
    auth_headers,
) -> World:
    other_biobank = make_site("OTHER-BB", SiteKind.BIOBANK)
    other_technician = make_user("technician.obb", Role.TECHNICIAN, other_biobank)
    return World(SimpleNamespace(**locals()))


# --- one request per case ---------------------------------------------------------------------


@dataclass
class Req:
    path: str
    json: Any = None
    data: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    # Extra checks on an allowed answer (e.g. where a new record landed).
    after: Callable[[Any], str | None] | None = None


Recipe = Callable[[World, str, User | None], Req]


def sitewide(recipe: Recipe) -> Recipe:
    """A route whose answer does not depend on any site's record: asked once per role."""
    recipe.sitewide = True  # type: ignore[attr-defined]
    return recipe


def listing(recipe: Recipe) -> Recipe:
    """A list: both chains get records first, and the other chain's must not show."""
    recipe.listing = True  # type: ignore[attr-defined]
    return sitewide(recipe)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _rack_file(tube) -> bytes:
    return f"Tube Position,Tube Barcode\nA01,{tube.barcode}\n".encode()


# API: auth, sites, catalogue, participants


@sitewide
def api_me(w, rel, actor):
    return Req("/api/v1/auth/me")


@sitewide
def api_auth_failures(w, rel, actor):
    return Req("/api/v1/auth/failures")


def api_revoke_token(w, rel, actor):
    """Own: a second token of the caller's own; other: a token of a user at another site."""
    owner = (actor or w.fx.collector) if rel == "own" else w.fx.other_collector
    return Req(f"/api/v1/auth/tokens/{w.token_id(owner)}")


@sitewide
def api_sites(w, rel, actor):
    return Req("/api/v1/sites")


@sitewide
def api_create_site(w, rel, actor):
    return Req(
        "/api/v1/sites",
        json={
            "code": w.unique("MX-"),
            "name": "Matrix clinic",
            "kind": "collection",
            "timezone": "America/Chicago",
        },
    )


@sitewide
def api_tube_types(w, rel, actor):
    return Req("/api/v1/tube-types")


@sitewide
def api_kits(w, rel, actor):
    return Req("/api/v1/kits")


@sitewide
def api_put_participant(w, rel, actor):
    return Req(f"/api/v1/participants/{w.participant(rel)}", json={"biospecimen_consent": True})


def _names_a_study(response) -> str | None:
    """An allowed answer must name the study to notify (so the row is not vacuous)."""
    if not response.get_json()["studies"]:
        return "no study to notify in the answer"
    return None


def api_studies_to_notify(w, rel, actor):
    participant_id = w.get("withdrawn_after_distribution", rel)
    return Req(f"/api/v1/participants/{participant_id}/studies-to-notify", after=_names_a_study)


@sitewide
def api_users(w, rel, actor):
    return Req("/api/v1/users")


@sitewide
def api_create_user(w, rel, actor):
    return Req(
        "/api/v1/users",
        json={
            "username": w.unique("new.user"),
            "full_name": "New User",
            "role": "collector",
            "site": w.chains[rel].clinic.code,
            "password": PASSWORD,
        },
    )


def api_deactivate_user(w, rel, actor):
    return Req(f"/api/v1/users/{w.fresh_user(rel).username}/deactivate")


def api_reactivate_user(w, rel, actor):
    return Req(f"/api/v1/users/{w.fresh_user(rel, active=False).username}/reactivate")


def api_unlock_user(w, rel, actor):
    user = w.fresh_user(rel, locked=True)
    return Req(f"/api/v1/users/{user.username}/unlock", json={"purpose": "signature"})


# API: collections and labels


@listing
def api_collections(w, rel, actor):
    return Req("/api/v1/collections")


def api_start_collection(w, rel, actor):
    return Req(
        "/api/v1/collections",
        json={
            "participant_id": w.participant(rel),
            "site": w.chains[rel].clinic.code,
            "tube_types": [SST],
        },
    )


def _collection(w, rel, what="draft_collection", tail=""):
    return f"/api/v1/collections/{w.get(what, rel).id}{tail}"


def api_collection(w, rel, actor):
    return Req(_collection(w, rel))


def api_collected(w, rel, actor):
    draft = w.get("draft_collection", rel)
    return Req(
        f"/api/v1/collections/{draft.id}/samples/{draft.samples[0].barcode}/collected",
        json={"at": _iso(drawn_at())},
    )


def api_processed(w, rel, actor):
    collected = w.get("collected_collection", rel)
    return Req(
        f"/api/v1/collections/{collected.id}/samples/{collected.samples[0].barcode}/processed",
        json={"at": _iso(drawn_at() + timedelta(minutes=45))},
    )


def api_finalize(w, rel, actor):
    return Req(_collection(w, rel, "ready_collection", "/finalize"), json={})


def api_cancel(w, rel, actor):
    return Req(_collection(w, rel, tail="/cancel"), json={"reason": REASON})


def api_restore(w, rel, actor):
    return Req(_collection(w, rel, "cancelled_collection", "/restore"), json={"reason": REASON})


def api_amend(w, rel, actor):
    return Req(
        _collection(w, rel, "finalized_collection", "/amend"),
        json={"reason": REASON, "notes": "Amended by the matrix."},
    )


def api_labels_pdf(w, rel, actor):
    return Req(_collection(w, rel, tail="/labels.pdf"), query={"reason": REASON})


def api_labels_zpl(w, rel, actor):
    return Req(_collection(w, rel, tail="/labels.zpl"), query={"reason": REASON})


def api_create_label_batch(w, rel, actor):
    return Req(
        "/api/v1/label-batches",
        json={"site": w.chains[rel].clinic.code, "kit": "SALIVA", "count": 1},
    )


def api_label_batch(w, rel, actor):
    return Req(f"/api/v1/label-batches/{w.get('label_batch', rel).id}")


def api_print_labels_pdf(w, rel, actor):
    return Req(_collection(w, rel, tail="/labels.pdf"), json={"reason": REASON})


def api_print_labels_zpl(w, rel, actor):
    return Req(_collection(w, rel, tail="/labels.zpl"), json={"reason": REASON})


def api_print_batch_labels_pdf(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(f"/api/v1/label-batches/{batch.id}/labels.pdf", json={"reason": REASON})


def api_print_batch_labels_zpl(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(f"/api/v1/label-batches/{batch.id}/labels.zpl", json={"reason": REASON})


def api_batch_labels_pdf(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(f"/api/v1/label-batches/{batch.id}/labels.pdf", query={"reason": REASON})


def api_batch_labels_zpl(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(f"/api/v1/label-batches/{batch.id}/labels.zpl", query={"reason": REASON})


# API: samples and their handling at the biobank


@listing
def api_samples(w, rel, actor):
    return Req("/api/v1/samples")


@listing
def api_samples_csv(w, rel, actor):
    return Req("/api/v1/exports/samples.csv")


def _tube(w, rel, what="received_tube", tail=""):
    return f"/api/v1/samples/{w.get(what, rel).barcode}{tail}"


def api_sample(w, rel, actor):
    return Req(_tube(w, rel))


def api_sample_events(w, rel, actor):
    return Req(_tube(w, rel, tail="/events"))


def api_sample_fhir(w, rel, actor):
    return Req(_tube(w, rel, tail="/fhir"))


def api_sample_custody_proof(w, rel, actor):
    return Req(_tube(w, rel, tail="/custody-proof"))


def api_aliquot(w, rel, actor):
    return Req(_tube(w, rel, "stored_tube", "/aliquot"), json={"count": 1, "volume_ml": 1})


def api_check_in(w, rel, actor):
    return Req(_tube(w, rel, "checked_out_tube", "/check-in"))


def api_check_out(w, rel, actor):
    return Req(_tube(w, rel, "stored_tube", "/check-out"), json={"reason": REASON})


def api_dispose(w, rel, actor):
    return Req(
        _tube(w, rel, "stored_tube", "/dispose"),
        json={"reason": REASON, "signature_password": PASSWORD},
    )


def api_move(w, rel, actor):
    """To the other box of the tube's own biobank."""
    path = _tube(w, rel, "stored_tube", "/move")
    return Req(path, json={"box": w.get("storage", rel).box2.id})


def api_thaw(w, rel, actor):
    return Req(_tube(w, rel, "stored_tube", "/thaw"))


def api_withdraw(w, rel, actor):
    return Req(_tube(w, rel, "stored_tube", "/withdraw"), json={"reason": REASON})


def api_quarantine(w, rel, actor):
    return Req(_tube(w, rel, tail="/quarantine"), json={"reason": REASON})


def api_release(w, rel, actor):
    return Req(_tube(w, rel, "quarantined_tube", "/release"), json={"reason": REASON})


# API: shipments and receiving


@listing
def api_shipments(w, rel, actor):
    return Req("/api/v1/shipments")


def api_open_shipment(w, rel, actor):
    chain = w.chains[rel]
    return Req(
        "/api/v1/shipments",
        json={
            "origin": chain.clinic.code,
            "destination": chain.biobank.code,
            "temperature": "refrigerated",
        },
    )


def _shipment(w, rel, what="in_transit", tail=""):
    return f"/api/v1/shipments/{w.get(what, rel).id}{tail}"


def api_shipment(w, rel, actor):
    return Req(_shipment(w, rel))


def api_shipment_fhir(w, rel, actor):
    return Req(_shipment(w, rel, tail="/fhir"))


def api_cancel_shipment(w, rel, actor):
    return Req(_shipment(w, rel, "open_shipment", "/cancel"), json={"reason": REASON})


def api_dispatch(w, rel, actor):
    return Req(
        _shipment(w, rel, "open_shipment", "/dispatch"),
        json={
            "carrier": "fedex",
            "tracking_number": "123456789012",
            "signature_password": PASSWORD,
        },
    )


def api_pack(w, rel, actor):
    path = _shipment(w, rel, "open_shipment", "/items")
    return Req(path, json={"barcode": w.get("finalized_tube", rel).barcode})


def api_unpack(w, rel, actor):
    shipment = w.get("open_shipment", rel)
    return Req(f"/api/v1/shipments/{shipment.id}/items/{shipment.items[0].sample.barcode}")


def api_manifest(w, rel, actor):
    return Req(_shipment(w, rel, tail="/manifest.pdf"))


def api_open_receipt(w, rel, actor):
    return Req(_shipment(w, rel, tail="/receipt"))


def api_receipt(w, rel, actor):
    return Req(_shipment(w, rel, tail="/receipt"))


def api_close_receipt(w, rel, actor):
    return Req(
        _shipment(w, rel, tail="/receipt/close"),
        json={"condition": "good", "signature_password": PASSWORD},
    )


def api_receipt_scan(w, rel, actor):
    shipment = w.get("in_transit", rel)
    return Req(
        f"/api/v1/shipments/{shipment.id}/receipt/scans",
        json={"barcode": shipment.items[0].sample.barcode},
    )


def api_undo_scan(w, rel, actor):
    shipment = w.get("scanned_in", rel)
    return Req(
        f"/api/v1/shipments/{shipment.id}/receipt/scans/undo",
        json={"barcode": shipment.items[0].sample.barcode, "reason": REASON},
    )


# API: the custody log (DESIGN §7a): the whole log's checkpoints are for every account


@sitewide
def api_custody_checkpoint(w, rel, actor):
    return Req("/api/v1/custody/checkpoint")


@sitewide
def api_custody_log_key(w, rel, actor):
    return Req("/api/v1/custody/log-key")


@sitewide
def api_custody_consistency(w, rel, actor):
    _tube(w, rel)  # a tube's events, sequenced: a log of at least one leaf to prove over
    sequence_pending()
    return Req("/api/v1/custody/consistency", query={"from": 1, "to": 1})


@sitewide
def api_custody_status(w, rel, actor):
    return Req("/api/v1/custody/status")


# API: reports


@sitewide
def api_overdue(w, rel, actor):
    return Req("/api/v1/reports/overdue")


@sitewide
def api_discrepancies(w, rel, actor):
    return Req("/api/v1/reports/discrepancies")


@sitewide
def api_disposals(w, rel, actor):
    return Req("/api/v1/reports/disposals")


@sitewide
def api_occupancy(w, rel, actor):
    return Req("/api/v1/reports/occupancy")


@sitewide
def api_slow_shipments(w, rel, actor):
    return Req("/api/v1/reports/slow-shipments")


@sitewide
def api_processing_deviations(w, rel, actor):
    return Req("/api/v1/reports/processing-deviations")


@sitewide
def api_collection_to_freezer(w, rel, actor):
    return Req("/api/v1/reports/collection-to-freezer")


@sitewide
def api_report_csv(w, rel, actor):
    return Req("/api/v1/reports/processing.csv")


@sitewide
def api_report_pdf(w, rel, actor):
    return Req("/api/v1/reports/occupancy.pdf")


# API: storage


@listing
def api_freezers(w, rel, actor):
    return Req("/api/v1/storage/freezers")


def api_create_freezer(w, rel, actor):
    chain = w.chains[rel]
    return Req(
        "/api/v1/storage/freezers",
        json={"name": w.unique("Freezer "), "site": chain.biobank.code, "temperature_c": -80},
    )


def api_create_container(w, rel, actor):
    freezer = w.get("storage", rel).freezer
    return Req(
        "/api/v1/storage/containers",
        json={"parent": freezer.id, "kind": "shelf", "name": w.unique("Shelf ")},
    )


def api_container(w, rel, actor):
    return Req(f"/api/v1/storage/containers/{w.get('storage', rel).freezer.id}")


def api_rename_container(w, rel, actor):
    shelf = w.get("storage", rel).shelf
    return Req(f"/api/v1/storage/containers/{shelf.id}", json={"name": w.unique("Shelf ")})


def api_deactivate_container(w, rel, actor):
    return Req(f"/api/v1/storage/containers/{w.get('empty_shelf', rel).id}/deactivate")


def api_store_many(w, rel, actor):
    box = w.get("storage", rel).box
    tube = w.get("received_tube", rel)
    return Req(f"/api/v1/storage/containers/{box.id}/store", json={"barcodes": [tube.barcode]})


def api_find_box(w, rel, actor):
    return Req("/api/v1/storage/boxes", query={"barcode": w.get("storage", rel).box.barcode})


def api_box(w, rel, actor):
    return Req(f"/api/v1/storage/boxes/{w.get('storage', rel).box.id}")


def api_store(w, rel, actor):
    box = w.get("storage", rel).box
    tube = w.get("received_tube", rel)
    return Req(f"/api/v1/storage/boxes/{box.id}/positions", json={"barcode": tube.barcode})


def api_rack_scan(w, rel, actor):
    box = w.get("storage", rel).box
    content = _rack_file(w.get("received_tube", rel))
    return Req(
        f"/api/v1/storage/boxes/{box.id}/rack-scan",
        data={"file": (io.BytesIO(content), "rack.csv")},
        query={"apply": "true"},
    )


def _inventory_file(w) -> bytes:
    """One tube for a new box in the acting biobank's freezer (a new box each time)."""
    freezer = w.get("storage", "own").freezer
    clinic = w.chains["own"].clinic.code
    return (
        "tube_type,collection_site,freezer,box,position\n"
        f"1ED04,{clinic},{freezer.name},{w.unique('Imported box ')},A1\n"
    ).encode()


@sitewide
def api_inventory_import(w, rel, actor):
    return Req(
        "/api/v1/storage/inventory-import",
        data={"file": (io.BytesIO(_inventory_file(w)), "inventory.csv")},
        query={"apply": "true"},
    )


# Web: home, scan, collections


@sitewide
def web_home(w, rel, actor):
    return Req("/")


def web_scan(w, rel, actor):
    """The scan box with a tube ID: the tube's page, or not found."""
    return Req("/scan", query={"code": w.get("received_tube", rel).barcode})


@listing
def web_collections(w, rel, actor):
    return Req("/collections")


@sitewide
def web_new_collection_page(w, rel, actor):
    return Req("/collections/new")


@sitewide
def web_new_collection(w, rel, actor):
    return Req(
        "/collections/new",
        data={"participant_id": w.participant(rel), "kit": "SALIVA", "notes": ""},
    )


def _page(w, rel, what="draft_collection", tail=""):
    return f"/collections/{w.get(what, rel).id}{tail}"


def web_collection(w, rel, actor):
    return Req(_page(w, rel))


def web_collected(w, rel, actor):
    draft = w.get("draft_collection", rel)
    return Req(
        f"/collections/{draft.id}/tubes/{draft.samples[0].barcode}/collected",
        data={"collected_at": site_local(drawn_at(), w.chains[rel].clinic)},
    )


def web_processed(w, rel, actor):
    collected = w.get("collected_collection", rel)
    at = site_local(drawn_at() + timedelta(minutes=45), w.chains[rel].clinic)
    return Req(
        f"/collections/{collected.id}/tubes/{collected.samples[0].barcode}/processed",
        data={"processed_at": at, "centrifuge": ""},
    )


def web_finalize(w, rel, actor):
    return Req(_page(w, rel, "ready_collection", "/finalize"), data={})


def web_cancel(w, rel, actor):
    return Req(_page(w, rel, tail="/cancel"), data={"reason": REASON})


def web_restore(w, rel, actor):
    return Req(_page(w, rel, "cancelled_collection", "/restore"), data={"reason": REASON})


def web_amend(w, rel, actor):
    return Req(
        _page(w, rel, "finalized_collection", "/amend"),
        data={"reason": REASON, "notes": "Amended by the matrix."},
    )


LABEL_FORM = {"stock": labels.DEFAULT_STOCK, "start_position": "1", "reason": REASON}


def web_print_labels(w, rel, actor):
    return Req(_page(w, rel, tail="/labels.pdf"), data=dict(LABEL_FORM))


def web_all_times(w, rel, actor):
    draft = w.get("draft_collection", rel)
    return Req(
        f"/collections/{draft.id}/times",
        data={
            "collected_at": site_local(drawn_at(), w.chains[rel].clinic),
            "tubes": [sample.barcode for sample in draft.samples],
        },
    )


@sitewide
def web_participants(w, rel, actor):
    return Req("/participants", query={"participant_id": "P100000001"})


@sitewide
def web_save_participant(w, rel, actor):
    return Req("/participants/P100000001", data={"biospecimen_consent": "y"})


@sitewide
def web_label_batches(w, rel, actor):
    return Req("/label-batches")


def web_create_label_batch(w, rel, actor):
    return Req(
        "/label-batches", data={"site": w.chains[rel].clinic.code, "kit": "SALIVA", "count": "1"}
    )


def web_label_batch(w, rel, actor):
    return Req(f"/label-batches/{w.get('label_batch', rel).id}")


def web_print_batch_labels(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(f"/label-batches/{batch.id}/labels.pdf", data=dict(LABEL_FORM))


def web_reprint_label(w, rel, actor):
    draft = w.get("draft_collection", rel)
    path = f"/collections/{draft.id}/tubes/{draft.samples[0].barcode}/labels.pdf"
    return Req(path, data=dict(LABEL_FORM))


# Web: receiving and reports


@sitewide
def web_receiving(w, rel, actor):
    return Req("/receiving")


def web_scan_manifest(w, rel, actor):
    return Req("/receiving", data={"manifest_number": w.get("in_transit", rel).manifest_number})


def web_receipt(w, rel, actor):
    return Req(f"/receiving/{w.get('in_transit', rel).id}")


def web_undo_scan(w, rel, actor):
    shipment = w.get("scanned_in", rel)
    return Req(
        f"/receiving/{shipment.id}/undo",
        data={"barcode": shipment.items[0].sample.barcode, "reason": REASON},
    )


def web_quarantine_at_receiving(w, rel, actor):
    shipment = w.get("scanned_in", rel)
    return Req(
        f"/receiving/{shipment.id}/quarantine",
        data={"barcode": shipment.items[0].sample.barcode, "reason": REASON},
    )


def web_close_receipt(w, rel, actor):
    return Req(
        f"/receiving/{w.get('in_transit', rel).id}/close",
        data={
            "condition": "good",
            "temperature_c": "",
            "notes": "",
            "signature_password": PASSWORD,
        },
    )


@sitewide
def web_reports(w, rel, actor):
    return Req("/reports")


@sitewide
def web_overdue(w, rel, actor):
    return Req("/reports/overdue")


@sitewide
def web_report_download(w, rel, actor):
    return Req("/reports/overdue.csv")


@sitewide
def web_report_table(w, rel, actor):
    return Req("/reports/collection-to-freezer")


@sitewide
def web_slow_shipments(w, rel, actor):
    return Req("/reports/slow-shipments")


@sitewide
def web_discrepancies(w, rel, actor):
    return Req("/reports/discrepancies")


# Web: samples


def web_find_tube(w, rel, actor):
    return Req("/samples/", query={"barcode": w.get("received_tube", rel).barcode})


def _sample_page(w, rel, what="stored_tube", tail=""):
    return f"/samples/{w.get(what, rel).barcode}{tail}"


def web_sample(w, rel, actor):
    return Req(_sample_page(w, rel, "received_tube"))


def web_store_tube(w, rel, actor):
    box = w.get("storage", rel).box
    path = _sample_page(w, rel, "received_tube", "/store")
    return Req(path, data={"box_id": "", "box": box.barcode, "position": ""})


def web_move(w, rel, actor):
    box2 = w.get("storage", rel).box2
    path = _sample_page(w, rel, tail="/move")
    return Req(path, data={"box_id": "", "box": box2.barcode, "position": ""})


def web_check_out(w, rel, actor):
    return Req(_sample_page(w, rel, tail="/check-out"), data={"reason": REASON})


def web_check_in(w, rel, actor):
    return Req(_sample_page(w, rel, "checked_out_tube", "/check-in"), data={})


def web_thaw(w, rel, actor):
    return Req(_sample_page(w, rel, tail="/thaw"), data={})


def web_aliquot(w, rel, actor):
    return Req(_sample_page(w, rel, tail="/aliquot"), data={"count": "1", "volume_ml": "1"})


def web_aliquot_labels(w, rel, actor):
    parent = w.get("aliquoted_tube", rel)
    return Req(
        f"/samples/{parent.barcode}/aliquot-labels.pdf",
        data={**LABEL_FORM, "barcodes": [child.barcode for child in parent.children]},
    )


def web_quarantine(w, rel, actor):
    return Req(_sample_page(w, rel, "received_tube", "/quarantine"), data={"reason": REASON})


def web_release(w, rel, actor):
    return Req(_sample_page(w, rel, "quarantined_tube", "/release"), data={"reason": REASON})


def web_withdraw(w, rel, actor):
    return Req(_sample_page(w, rel, tail="/withdraw"), data={"reason": REASON})


def web_dispose(w, rel, actor):
    return Req(
        _sample_page(w, rel, tail="/dispose"),
        data={"reason": REASON, "signature_password": PASSWORD},
    )


# Web: shipments


@listing
def web_shipments(w, rel, actor):
    return Req("/shipments")


@sitewide
def web_new_shipment_page(w, rel, actor):
    return Req("/shipments/new")


@sitewide
def web_new_shipment(w, rel, actor):
    return Req("/shipments/new", data={"destination": "MAYO-BB", "temperature": "refrigerated"})


def _shipment_page(w, rel, what="open_shipment", tail=""):
    return f"/shipments/{w.get(what, rel).id}{tail}"


def web_shipment(w, rel, actor):
    return Req(_shipment_page(w, rel, "in_transit"))


def web_pack(w, rel, actor):
    tube = w.get("finalized_tube", rel)
    return Req(_shipment_page(w, rel, tail="/items"), data={"barcode": tube.barcode})


def web_unpack(w, rel, actor):
    shipment = w.get("open_shipment", rel)
    barcode = shipment.items[0].sample.barcode
    return Req(f"/shipments/{shipment.id}/items/{barcode}/remove", data={})


def web_dispatch(w, rel, actor):
    return Req(
        _shipment_page(w, rel, tail="/dispatch"),
        data={
            "carrier": "fedex",
            "tracking_number": "123456789012",
            "dry_ice_kg": "",
            "signature_password": PASSWORD,
        },
    )


def web_cancel_shipment(w, rel, actor):
    return Req(_shipment_page(w, rel, tail="/cancel"), data={"reason": REASON})


def web_manifest(w, rel, actor):
    return Req(_shipment_page(w, rel, "in_transit", "/manifest.pdf"))


# Web: storage


@listing
def web_storage(w, rel, actor):
    return Req("/storage/")


def web_find_box(w, rel, actor):
    return Req("/storage/find", query={"barcode": w.get("storage", rel).box.barcode})


def web_create_freezer(w, rel, actor):
    """Whoever may only act at their own site has no site field: the freezer lands there."""
    site = w.chains[rel].biobank
    name = w.unique("Freezer ")

    def landed_where_allowed(_response) -> str | None:
        freezer = db.session.scalar(sa.select(Container).where(Container.name == name))
        wanted = site if actor.role in (Role.COORDINATOR, Role.ADMIN) else actor.site
        if freezer is None or freezer.site_id != wanted.id:
            where = freezer.site.code if freezer else "nowhere"
            return f"freezer created at {where}, expected at {wanted.code}"
        return None

    return Req(
        "/storage/freezers",
        data={"name": name, "temperature_c": "-80", "site": site.code},
        after=landed_where_allowed,
    )


def web_freezer(w, rel, actor):
    return Req(f"/storage/freezers/{w.get('storage', rel).freezer.id}")


def web_add_container(w, rel, actor):
    freezer = w.get("storage", rel).freezer
    return Req(
        f"/storage/freezers/{freezer.id}/containers",
        data={"parent": str(freezer.id), "kind": "shelf", "name": w.unique("Shelf ")},
    )


def web_box(w, rel, actor):
    return Req(f"/storage/boxes/{w.get('storage', rel).box.id}")


def web_box_label(w, rel, actor):
    return Req(f"/storage/boxes/{w.get('storage', rel).box.id}/label.pdf")


def web_box_contents(w, rel, actor):
    return Req(f"/storage/boxes/{w.get('storage', rel).box.id}/contents")


def web_rack_preview(w, rel, actor):
    box = w.get("storage", rel).box
    content = _rack_file(w.get("received_tube", rel))
    return Req(
        f"/storage/boxes/{box.id}/rack-scan", data={"file": (io.BytesIO(content), "rack.csv")}
    )


def web_rack_apply(w, rel, actor):
    box = w.get("storage", rel).box
    kept = base64.b64encode(_rack_file(w.get("received_tube", rel))).decode("ascii")
    return Req(
        f"/storage/boxes/{box.id}/rack-scan/apply", data={"kept": kept, "filename": "rack.csv"}
    )


@sitewide
def web_inventory_page(w, rel, actor):
    return Req("/storage/inventory")


@sitewide
def web_inventory_preview(w, rel, actor):
    return Req(
        "/storage/inventory", data={"file": (io.BytesIO(_inventory_file(w)), "inventory.csv")}
    )


@sitewide
def web_inventory_apply(w, rel, actor):
    kept = base64.b64encode(_inventory_file(w)).decode("ascii")
    return Req("/storage/inventory/apply", data={"kept": kept, "filename": "inventory.csv"})


def web_store_in_box(w, rel, actor):
    box = w.get("storage", rel).box
    tube = w.get("received_tube", rel)
    return Req(f"/storage/boxes/{box.id}/store", data={"barcode": tube.barcode, "position": ""})


def web_rename_container(w, rel, actor):
    shelf = w.get("storage", rel).shelf
    return Req(f"/storage/containers/{shelf.id}/rename", data={"name": w.unique("Shelf ")})


def web_deactivate_container(w, rel, actor):
    return Req(f"/storage/containers/{w.get('empty_shelf', rel).id}/deactivate", data={})


# API: label printers


@sitewide
def api_printers(w, rel, actor):
    return Req("/api/v1/printers")


@sitewide
def api_register_printer(w, rel, actor):
    return Req(
        "/api/v1/printers",
        json={
            "site": w.chains[rel].clinic.code,
            "name": w.unique("Zebra "),
            "host": "127.0.0.1",
            "port": w.fx.printer_port,
        },
    )


def api_printer(w, rel, actor):
    return Req(f"/api/v1/printers/{w.printer(rel, actor).id}")


def api_update_printer(w, rel, actor):
    return Req(f"/api/v1/printers/{w.printer(rel, actor).id}", json={"name": w.unique("Zebra ")})


def _sent(response) -> str | None:
    """An allowed print must have printed (a 302 alone may be a printer's failure)."""
    db.session.rollback()
    last = db.session.scalar(sa.select(PrinterJob).order_by(PrinterJob.id.desc()).limit(1))
    if last is None or last.status != PrintJobStatus.SENT:
        return f"the print job is not sent: {last and (last.status, last.failure)}"
    return None


def _print_subject(w, rel, actor) -> dict[str, Any]:
    """What each role prints: a technician the tubes of a box, others a collection."""
    if actor is not None and actor.role == Role.TECHNICIAN:
        w.get("stored_tube", rel)
        return {"box": w.get("storage", rel).box.id, "reason": REASON}
    return {"collection": w.get("draft_collection", rel).id, "reason": REASON}


def api_print_job(w, rel, actor):
    return Req(
        f"/api/v1/printers/{w.printer(rel, actor).id}/jobs",
        json=_print_subject(w, rel, actor),
        after=_sent,
    )


def api_print_jobs(w, rel, actor):
    return Req(f"/api/v1/printers/{w.printer(rel, actor).id}/jobs")


def api_print_job_one(w, rel, actor):
    printer, job = w.print_job(rel, actor)
    return Req(f"/api/v1/printers/{printer.id}/jobs/{job.id}")


# API: distribution to research

DISTRIBUTION = "/api/v1/distribution/protocols"
API_REQUEST = f"{DISTRIBUTION}/<id:protocol_id>/requests/<id:request_id>"
API_OUTBOUND = "/api/v1/distribution/shipments/<id:shipment_id>"


@listing
def api_distribution_protocols(w, rel, actor):
    for relation in RELATIONS:
        w.get("distribution_protocol", relation)
    return Req(DISTRIBUTION)


@sitewide
def api_create_protocol(w, rel, actor):
    return Req(
        DISTRIBUTION,
        json={
            "title": "Matrix study",
            "approval_number": w.unique("IRB-API-"),
            "approval_expires_on": (utcnow().date() + timedelta(days=365)).isoformat(),
            "institution": "Matrix University",
            "institution_address": "1 Matrix Way",
            "responsible_person": "Dr Matrix",
            "specimens": ["serum"],
            "site": w.chains[rel].biobank.code,
        },
    )


def _api_protocol(w, rel, tail=""):
    return f"{DISTRIBUTION}/{w.get('distribution_protocol', rel).id}{tail}"


def api_protocol(w, rel, actor):
    return Req(_api_protocol(w, rel))


def api_close_protocol(w, rel, actor):
    return Req(_api_protocol(w, rel, "/close"), json={"reason": REASON})


def api_protocol_requests(w, rel, actor):
    return Req(_api_protocol(w, rel, "/requests"))


def api_protocol_report(w, rel, actor):
    return Req(_api_protocol(w, rel, "/report"))


def api_protocol_report_csv(w, rel, actor):
    return Req(_api_protocol(w, rel, "/report.csv"))


def api_protocol_report_pdf(w, rel, actor):
    return Req(_api_protocol(w, rel, "/report.pdf"))


def api_record_request(w, rel, actor):
    return Req(
        _api_protocol(w, rel, "/requests"),
        json={
            "specimen": "serum",
            "participants_wanted": 1,
            "tubes_per_participant": 1,
            "max_freeze_thaw": 1,
            "collected_from": (utcnow().date() - timedelta(days=7)).isoformat(),
            "collected_to": utcnow().date().isoformat(),
        },
    )


def _api_request(w, rel, what="distribution_request", tail=""):
    request = w.get(what, rel)
    return f"{DISTRIBUTION}/{request.protocol_id}/requests/{request.id}{tail}"


def api_distribution_request(w, rel, actor):
    return Req(_api_request(w, rel))


def api_proposal(w, rel, actor):
    return Req(_api_request(w, rel, tail="/proposal"))


def api_approve_request(w, rel, actor):
    return Req(_api_request(w, rel, tail="/approval"), json={})


def api_release_request(w, rel, actor):
    return Req(_api_request(w, rel, "approved_request", "/release"), json={"reason": REASON})


def api_cancel_request(w, rel, actor):
    return Req(_api_request(w, rel, tail="/cancel"), json={"reason": REASON})


def api_pick_list(w, rel, actor):
    return Req(_api_request(w, rel, "approved_request", "/pick-list"))


def api_pick_list_csv(w, rel, actor):
    return Req(_api_request(w, rel, "approved_request", "/pick-list.csv"))


def api_pick_list_pdf(w, rel, actor):
    return Req(_api_request(w, rel, "approved_request", "/pick-list.pdf"))


def api_pick(w, rel, actor):
    path = _api_request(w, rel, "approved_request", "/picks")
    return Req(path, json={"barcode": w.get("stored_tube", rel).barcode})


def api_open_outbound(w, rel, actor):
    return Req(_api_request(w, rel, "picked_request", "/shipment"))


def _api_outbound(w, rel, what="outbound_open", tail=""):
    shipment = outbound.shipment_of(w.get(what, rel))
    return f"/api/v1/distribution/shipments/{shipment.id}{tail}"


def api_outbound(w, rel, actor):
    return Req(_api_outbound(w, rel))


def api_pack_outbound(w, rel, actor):
    path = _api_outbound(w, rel, tail="/items")
    return Req(path, json={"barcode": w.get("stored_tube", rel).barcode})


def api_unpack_outbound(w, rel, actor):
    path = _api_outbound(w, rel, "outbound_packed", "/items")
    return Req(f"{path}/{w.get('stored_tube', rel).barcode}")


def api_dispatch_outbound(w, rel, actor):
    return Req(
        _api_outbound(w, rel, "outbound_packed", "/dispatch"),
        json={
            "carrier": "fedex",
            "tracking_number": "123456789012",
            "signature_password": PASSWORD,
        },
    )


def api_cancel_outbound(w, rel, actor):
    return Req(_api_outbound(w, rel, "outbound_packed", "/cancel"), json={"reason": REASON})


def api_outbound_manifest_pdf(w, rel, actor):
    return Req(_api_outbound(w, rel, "outbound_dispatched", "/manifest.pdf"))


def api_outbound_manifest_csv(w, rel, actor):
    return Req(_api_outbound(w, rel, "outbound_dispatched", "/manifest.csv"))


def api_outbound_return(w, rel, actor):
    path = _api_outbound(w, rel, "outbound_dispatched", "/returns")
    return Req(path, json={"barcode": w.get("stored_tube", rel).barcode, "reason": REASON})


def api_distribution_fhir(w, rel, actor):
    return Req(_api_request(w, rel, "outbound_dispatched", "/fhir"))


def api_outbound_fhir(w, rel, actor):
    return Req(_api_outbound(w, rel, "outbound_dispatched", "/fhir"))


# Web: label printers


@sitewide
def web_printers(w, rel, actor):
    return Req("/admin/printers")


PRINTER_FORM = {"host": "127.0.0.1", "dpi": "300", "stock": labels.DEFAULT_STOCK}


@sitewide
def web_register_printer(w, rel, actor):
    return Req(
        "/admin/printers",
        data={
            **PRINTER_FORM,
            "site": w.chains[rel].clinic.code,
            "name": w.unique("Zebra "),
            "port": str(w.fx.printer_port),
        },
    )


def web_printer(w, rel, actor):
    return Req(f"/admin/printers/{w.printer(rel, actor).id}")


def web_update_printer(w, rel, actor):
    return Req(
        f"/admin/printers/{w.printer(rel, actor).id}",
        data={**PRINTER_FORM, "name": w.unique("Zebra "), "port": str(w.fx.printer_port)},
    )


def web_printer_out_of_use(w, rel, actor):
    return Req(f"/admin/printers/{w.printer(rel, actor).id}/out-of-use", data={})


def web_printer_in_use(w, rel, actor):
    return Req(f"/admin/printers/{w.printer(rel, actor).id}/in-use", data={})


def web_print_collection(w, rel, actor):
    draft = w.get("draft_collection", rel)
    return Req(
        f"/collections/{draft.id}/print/{w.printer(rel, actor).id}",
        data={"reason": REASON},
        after=_sent,
    )


def web_print_tube(w, rel, actor):
    draft = w.get("draft_collection", rel)
    tube = draft.samples[0].barcode
    return Req(
        f"/collections/{draft.id}/tubes/{tube}/print/{w.printer(rel, actor).id}",
        data={"reason": REASON},
        after=_sent,
    )


def web_print_label_batch(w, rel, actor):
    batch = w.get("label_batch", rel)
    return Req(
        f"/label-batches/{batch.id}/print/{w.printer(rel, actor).id}",
        data={"reason": REASON},
        after=_sent,
    )


# Web: administration


@sitewide
def web_failed_attempts(w, rel, actor):
    return Req("/admin/failed-attempts")


@sitewide
def web_failed_attempts_csv(w, rel, actor):
    return Req("/admin/failed-attempts.csv")


def web_deactivate_user(w, rel, actor):
    return Req(f"/admin/users/{w.fresh_user(rel).username}/deactivate", data={})


def web_reactivate_user(w, rel, actor):
    return Req(f"/admin/users/{w.fresh_user(rel, active=False).username}/reactivate", data={})


def web_unlock_user(w, rel, actor):
    return Req(f"/admin/users/{w.fresh_user(rel, locked=True).username}/unlock", data={})


# Web: distribution to research


@listing
def web_distribution(w, rel, actor):
    for relation in RELATIONS:
        w.get("distribution_protocol", relation)
    return Req("/distribution", query={"status": "all"})


@sitewide
def web_new_protocol_page(w, rel, actor):
    return Req("/distribution/protocols/new")


@sitewide
def web_new_protocol(w, rel, actor):
    return Req(
        "/distribution/protocols/new",
        data={
            "title": "Matrix study",
            "approval_number": w.unique("IRB-NEW-"),
            "approval_expires_on": (utcnow().date() + timedelta(days=365)).isoformat(),
            "institution": "Matrix University",
            "institution_address": "1 Matrix Way",
            "responsible_person": "Dr Matrix",
            "specimens": "serum",
            "site": "MAYO-BB",
        },
    )


def _protocol_page(w, rel, tail=""):
    return f"/distribution/protocols/{w.get('distribution_protocol', rel).id}{tail}"


def web_protocol(w, rel, actor):
    return Req(_protocol_page(w, rel))


def web_protocol_report(w, rel, actor):
    return Req(_protocol_page(w, rel, "/report"))


def web_protocol_report_file(w, rel, actor):
    return Req(_protocol_page(w, rel, "/report.pdf"))


def web_close_protocol(w, rel, actor):
    return Req(_protocol_page(w, rel, "/close"), data={"reason": REASON})


def web_new_request_page(w, rel, actor):
    return Req(_protocol_page(w, rel, "/requests/new"))


def web_new_request(w, rel, actor):
    return Req(
        _protocol_page(w, rel, "/requests/new"),
        data={
            "specimen": "serum",
            "participants_wanted": "1",
            "tubes_per_participant": "1",
            "min_volume_ml": "0",
            "max_freeze_thaw": "1",
            "collected_from": (utcnow().date() - timedelta(days=7)).isoformat(),
            "collected_to": utcnow().date().isoformat(),
        },
    )


def _request_page(w, rel, what="distribution_request", tail=""):
    return f"/distribution/requests/{w.get(what, rel).id}{tail}"


def web_distribution_request(w, rel, actor):
    return Req(_request_page(w, rel))


def web_approve_request(w, rel, actor):
    return Req(_request_page(w, rel, tail="/approve"), data={})


def web_release_request(w, rel, actor):
    return Req(_request_page(w, rel, "approved_request", "/release"), data={"reason": REASON})


def web_cancel_request(w, rel, actor):
    return Req(_request_page(w, rel, tail="/cancel"), data={"reason": REASON})


def web_pick_list(w, rel, actor):
    return Req(_request_page(w, rel, "approved_request", "/pick"))


def web_pick(w, rel, actor):
    tube = w.get("stored_tube", rel)  # the one tube the approved request holds
    return Req(_request_page(w, rel, "approved_request", "/pick"), data={"barcode": tube.barcode})


def web_pick_list_document(w, rel, actor):
    return Req(_request_page(w, rel, "approved_request", "/pick-list.pdf"))


def web_outbound(w, rel, actor):
    return Req(_request_page(w, rel, "approved_request", "/shipment"))


def web_open_outbound(w, rel, actor):
    return Req(_request_page(w, rel, "picked_request", "/shipment"), data={})


def web_pack_outbound(w, rel, actor):
    tube = w.get("stored_tube", rel)
    return Req(
        _request_page(w, rel, "outbound_open", "/shipment/items"), data={"barcode": tube.barcode}
    )


def web_unpack_outbound(w, rel, actor):
    tube = w.get("stored_tube", rel)
    return Req(
        _request_page(w, rel, "outbound_packed", f"/shipment/items/{tube.barcode}/remove"), data={}
    )


def web_dispatch_outbound(w, rel, actor):
    return Req(
        _request_page(w, rel, "outbound_packed", "/shipment/dispatch"),
        data={
            "carrier": "fedex",
            "tracking_number": "123456789012",
            "signature_password": PASSWORD,
        },
    )


def web_cancel_outbound(w, rel, actor):
    return Req(
        _request_page(w, rel, "outbound_packed", "/shipment/cancel"), data={"reason": REASON}
    )


def web_outbound_return(w, rel, actor):
    tube = w.get("stored_tube", rel)
    return Req(
        _request_page(w, rel, "outbound_dispatched", "/shipment/returns"),
        data={"barcode": tube.barcode, "reason": REASON},
    )


def web_outbound_manifest(w, rel, actor):
    return Req(_request_page(w, rel, "outbound_packed", "/shipment/manifest.pdf"))


# --- the table ----------------------------------------------------------------------------------

Expected = int | str
Cell = Expected | tuple[Expected, Expected]


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    cells: dict[str, tuple[Expected, Expected]]
    recipe: Recipe
    # (role, relation) → what the app gets wrong there, for a cell it does not answer as here.
    bugs: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def sitewide(self) -> bool:
        return getattr(self.recipe, "sitewide", False)

    @property
    def listing(self) -> bool:
        return getattr(self.recipe, "listing", False)

    def cases(self) -> Iterator[tuple[str, str]]:
        yield "anonymous", "own"
        for role in ROLES[1:]:
            for relation in ("own",) if self.sitewide else RELATIONS:
                yield role, relation

    def expected(self, role: str, relation: str) -> Expected:
        own, other = self.cells[role]
        return own if relation == "own" else other


def R(
    method: str,
    rule: str,
    anonymous: Cell,
    collector: Cell,
    technician: Cell,
    coordinator: Cell,
    admin: Cell,
    recipe: Recipe,
    bugs: dict[tuple[str, str], str] | None = None,
) -> Row:
    given = (anonymous, collector, technician, coordinator, admin)
    cells = {
        role: cell if isinstance(cell, tuple) else (cell, cell)
        for role, cell in zip(ROLES, given, strict=True)
    }
    return Row(method, rule, cells, recipe, bugs or {})


# What the app gets wrong, by name, marked on its row's cell with bugs={(role, relation): WHY}
# (the row keeps what DESIGN and policy say). None today: the two found were fixed.

# The report routes name their reports in an any() converter, as the app builds them.
REPORTS = "any(" + ", ".join(f'"{name}"' for name in reports.REPORT_TABLES) + ")"
TABLE_REPORTS = (
    "any("
    + ", ".join(
        f'"{name}"' for name in ("processing", "collection-to-freezer", "occupancy", "disposals")
    )
    + ")"
)

# fmt: off
TABLE: list[Row] = [
    # R(method, rule,
    #   anonymous   collector   technician  coordinator admin       request),
    # a cell is one answer, or (answer for the own site's record, for another site's)
    # --- API: tokens, sites, catalogue, participants -----------------------------------------
    R("GET", "/api/v1/auth/me",
        401,        200,        200,        200,        200,        api_me),
    R("GET", "/api/v1/auth/failures",
        401,        403,        403,        403,        200,        api_auth_failures),
    R("DELETE", "/api/v1/auth/tokens/<id:token_id>",
        401,        (204, 404), (204, 404), (204, 404), 204,        api_revoke_token),
    R("GET", "/api/v1/sites",
        401,        200,        200,        200,        200,        api_sites),
    R("POST", "/api/v1/sites",
        401,        403,        403,        403,        201,        api_create_site),
    R("GET", "/api/v1/tube-types",
        401,        200,        200,        200,        200,        api_tube_types),
    R("GET", "/api/v1/kits",
        401,        200,        200,        200,        200,        api_kits),
    R("PUT", "/api/v1/participants/<participant_id>",
        401,        403,        403,        201,        201,        api_put_participant),
    R("GET", "/api/v1/participants/<participant_id>/studies-to-notify",
        401,        403,        403,        200,        200,        api_studies_to_notify),
    R("GET", "/api/v1/users",
        401,        403,        403,        403,        200,        api_users),
    R("POST", "/api/v1/users",
        401,        403,        403,        403,        201,        api_create_user),
    R("POST", "/api/v1/users/<username>/deactivate",
        401,        403,        403,        403,        200,        api_deactivate_user),
    R("POST", "/api/v1/users/<username>/reactivate",
        401,        403,        403,        403,        200,        api_reactivate_user),
    R("POST", "/api/v1/users/<username>/unlock",
        401,        403,        403,        403,        200,        api_unlock_user),
    # --- API: label printers ----------------------------------------------------------------
    R("GET", "/api/v1/printers",
        401,        200,        200,        200,        200,        api_printers),
    R("POST", "/api/v1/printers",
        401,        403,        403,        403,        201,        api_register_printer),
    R("GET", "/api/v1/printers/<id:printer_id>",
        401,        (200, 404), (200, 404), (200, 404), 200,        api_printer),
    R("PATCH", "/api/v1/printers/<id:printer_id>",
        401,        (403, 404), (403, 404), (403, 404), 200,        api_update_printer),
    R("POST", "/api/v1/printers/<id:printer_id>/jobs",
        401,        (201, 404), (201, 404), (201, 404), 403,        api_print_job),
    R("GET", "/api/v1/printers/<id:printer_id>/jobs",
        401,        (200, 404), (200, 404), (200, 404), 200,        api_print_jobs),
    R("GET", "/api/v1/printers/<id:printer_id>/jobs/<id:job_id>",
        401,        (200, 404), (200, 404), (200, 404), 200,        api_print_job_one),
    # --- API: distribution to research (coordinators decide, technicians read and pick) ------
    R("GET", DISTRIBUTION,
        401,        403,        200,        200,        403,        api_distribution_protocols),
    R("POST", DISTRIBUTION,
        401,        403,        403,        201,        403,        api_create_protocol),
    R("GET", f"{DISTRIBUTION}/<id:protocol_id>",
        401,        403,        (200, 404), 200,        403,        api_protocol),
    R("POST", f"{DISTRIBUTION}/<id:protocol_id>/close",
        401,        403,        (403, 404), 200,        403,        api_close_protocol),
    R("GET", f"{DISTRIBUTION}/<id:protocol_id>/requests",
        401,        403,        (200, 404), 200,        403,        api_protocol_requests),
    R("GET", f"{DISTRIBUTION}/<id:protocol_id>/report",
        401,        403,        (200, 404), 200,        403,        api_protocol_report),
    R("GET", f"{DISTRIBUTION}/<id:protocol_id>/report.csv",
        401,        403,        (200, 404), 200,        403,        api_protocol_report_csv),
    R("GET", f"{DISTRIBUTION}/<id:protocol_id>/report.pdf",
        401,        403,        (200, 404), 200,        403,        api_protocol_report_pdf),
    R("POST", f"{DISTRIBUTION}/<id:protocol_id>/requests",
        401,        403,        (403, 404), 201,        403,        api_record_request),
    R("GET", API_REQUEST,
        401,        403,        (200, 404), 200,        403,        api_distribution_request),
    R("GET", f"{API_REQUEST}/proposal",
        401,        403,        (403, 404), 200,        403,        api_proposal),
    R("POST", f"{API_REQUEST}/approval",
        401,        403,        (403, 404), 201,        403,        api_approve_request),
    R("POST", f"{API_REQUEST}/release",
        401,        403,        (403, 404), 200,        403,        api_release_request),
    R("POST", f"{API_REQUEST}/cancel",
        401,        403,        (403, 404), 200,        403,        api_cancel_request),
    R("GET", f"{API_REQUEST}/pick-list",
        401,        403,        (200, 404), 200,        403,        api_pick_list),
    R("GET", f"{API_REQUEST}/pick-list.csv",
        401,        403,        (200, 404), 200,        403,        api_pick_list_csv),
    R("GET", f"{API_REQUEST}/pick-list.pdf",
        401,        403,        (200, 404), 200,        403,        api_pick_list_pdf),
    R("POST", f"{API_REQUEST}/picks",
        401,        403,        (201, 404), 201,        403,        api_pick),
    R("GET", f"{API_REQUEST}/fhir",
        401,        403,        (200, 404), 200,        403,        api_distribution_fhir),
    R("GET", f"{API_OUTBOUND}/fhir",
        401,        403,        (200, 404), 200,        403,        api_outbound_fhir),
    R("POST", f"{API_REQUEST}/shipment",
        401,        403,        (201, 404), 201,        403,        api_open_outbound),
    R("GET", API_OUTBOUND,
        401,        403,        (200, 404), 200,        403,        api_outbound),
    R("POST", f"{API_OUTBOUND}/items",
        401,        403,        (201, 404), 201,        403,        api_pack_outbound),
    R("DELETE", f"{API_OUTBOUND}/items/<barcode>",
        401,        403,        (204, 404), 204,        403,        api_unpack_outbound),
    R("POST", f"{API_OUTBOUND}/dispatch",
        401,        403,        (200, 404), 200,        403,        api_dispatch_outbound),
    R("POST", f"{API_OUTBOUND}/cancel",
        401,        403,        (200, 404), 200,        403,        api_cancel_outbound),
    R("GET", f"{API_OUTBOUND}/manifest.pdf",
        401,        403,        (200, 404), 200,        403,        api_outbound_manifest_pdf),
    R("GET", f"{API_OUTBOUND}/manifest.csv",
        401,        403,        (200, 404), 200,        403,        api_outbound_manifest_csv),
    R("POST", f"{API_OUTBOUND}/returns",
        401,        403,        (201, 404), 201,        403,        api_outbound_return),
    # --- API: collections and labels ---------------------------------------------------------
    R("GET", "/api/v1/collections",
        401,        200,        200,        200,        200,        api_collections),
    R("POST", "/api/v1/collections",
        401,        (201, 403), 403,        403,        403,        api_start_collection),
    R("GET", "/api/v1/collections/<id:collection_id>",
        401,        (200, 404), 404,        200,        200,        api_collection),
    R("POST", "/api/v1/collections/<id:collection_id>/samples/<barcode>/collected",
        401,        (200, 404), 404,        403,        403,        api_collected),
    R("POST", "/api/v1/collections/<id:collection_id>/samples/<barcode>/processed",
        401,        (200, 404), 404,        403,        403,        api_processed),
    R("POST", "/api/v1/collections/<id:collection_id>/finalize",
        401,        (200, 404), 404,        403,        403,        api_finalize),
    R("POST", "/api/v1/collections/<id:collection_id>/cancel",
        401,        (200, 404), 404,        403,        403,        api_cancel),
    R("POST", "/api/v1/collections/<id:collection_id>/restore",
        401,        (200, 404), 404,        403,        403,        api_restore),
    R("POST", "/api/v1/collections/<id:collection_id>/amend",
        401,        (200, 404), 404,        403,        403,        api_amend),
    R("GET", "/api/v1/collections/<id:collection_id>/labels.pdf",
        401,        (200, 404), 404,        200,        403,        api_labels_pdf),
    R("GET", "/api/v1/collections/<id:collection_id>/labels.zpl",
        401,        (200, 404), 404,        200,        403,        api_labels_zpl),
    R("POST", "/api/v1/collections/<id:collection_id>/labels.pdf",
        401,        (200, 404), 404,        200,        403,        api_print_labels_pdf),
    R("POST", "/api/v1/collections/<id:collection_id>/labels.zpl",
        401,        (200, 404), 404,        200,        403,        api_print_labels_zpl),
    R("POST", "/api/v1/label-batches",
        401,        403,        403,        201,        403,        api_create_label_batch),
    R("GET", "/api/v1/label-batches/<id:batch_id>",
        401,        (200, 404), 404,        200,        200,        api_label_batch),
    R("POST", "/api/v1/label-batches/<id:batch_id>/labels.pdf",
        401,        (200, 404), 404,        200,        403,        api_print_batch_labels_pdf),
    R("POST", "/api/v1/label-batches/<id:batch_id>/labels.zpl",
        401,        (200, 404), 404,        200,        403,        api_print_batch_labels_zpl),
    R("GET", "/api/v1/label-batches/<id:batch_id>/labels.pdf",
        401,        (200, 404), 404,        200,        403,        api_batch_labels_pdf),
    R("GET", "/api/v1/label-batches/<id:batch_id>/labels.zpl",
        401,        (200, 404), 404,        200,        403,        api_batch_labels_zpl),
    # --- API: samples and their handling at the biobank --------------------------------------
    R("GET", "/api/v1/samples",
        401,        200,        200,        200,        200,        api_samples),
    R("GET", "/api/v1/exports/samples.csv",
        401,        200,        200,        200,        200,        api_samples_csv),
    R("GET", "/api/v1/samples/<barcode>",
        401,        (200, 404), (200, 404), 200,        200,        api_sample),
    R("GET", "/api/v1/samples/<barcode>/events",
        401,        (200, 404), (200, 404), 200,        200,        api_sample_events),
    R("GET", "/api/v1/samples/<barcode>/fhir",
        401,        (200, 404), (200, 404), 200,        200,        api_sample_fhir),
    R("GET", "/api/v1/samples/<barcode>/custody-proof",
        401,        (200, 404), (200, 404), 200,        200,        api_sample_custody_proof),
    R("GET", "/api/v1/custody/checkpoint",
        401,        200,        200,        200,        200,        api_custody_checkpoint),
    R("GET", "/api/v1/custody/log-key",
        401,        200,        200,        200,        200,        api_custody_log_key),
    R("GET", "/api/v1/custody/consistency",
        401,        200,        200,        200,        200,        api_custody_consistency),
    R("GET", "/api/v1/custody/status",
        401,        200,        200,        200,        200,        api_custody_status),
    R("POST", "/api/v1/samples/<barcode>/move",
        401,        (403, 404), (200, 404), 403,        403,        api_move),
    R("POST", "/api/v1/samples/<barcode>/check-out",
        401,        (403, 404), (200, 404), 403,        403,        api_check_out),
    R("POST", "/api/v1/samples/<barcode>/check-in",
        401,        (403, 404), (200, 404), 403,        403,        api_check_in),
    R("POST", "/api/v1/samples/<barcode>/thaw",
        401,        (403, 404), (200, 404), 403,        403,        api_thaw),
    R("POST", "/api/v1/samples/<barcode>/aliquot",
        401,        (403, 404), (201, 404), 403,        403,        api_aliquot),
    R("POST", "/api/v1/samples/<barcode>/quarantine",
        401,        (403, 404), (200, 404), 403,        403,        api_quarantine),
    R("POST", "/api/v1/samples/<barcode>/release",
        401,        (403, 404), (200, 404), 403,        403,        api_release),
    R("POST", "/api/v1/samples/<barcode>/withdraw",
        401,        (403, 404), (200, 404), 403,        403,        api_withdraw),
    R("POST", "/api/v1/samples/<barcode>/dispose",
        401,        (403, 404), (200, 404), 403,        403,        api_dispose),
    # --- API: shipments and receiving --------------------------------------------------------
    R("GET", "/api/v1/shipments",
        401,        200,        200,        200,        200,        api_shipments),
    R("POST", "/api/v1/shipments",
        401,        (201, 403), 403,        403,        403,        api_open_shipment),
    R("GET", "/api/v1/shipments/<id:shipment_id>",
        401,        (200, 404), (200, 404), 200,        200,        api_shipment),
    R("GET", "/api/v1/shipments/<id:shipment_id>/fhir",
        401,        (200, 404), (200, 404), 200,        200,        api_shipment_fhir),
    R("POST", "/api/v1/shipments/<id:shipment_id>/items",
        401,        (201, 404), (403, 404), 403,        403,        api_pack),
    R("DELETE", "/api/v1/shipments/<id:shipment_id>/items/<barcode>",
        401,        (204, 404), (403, 404), 403,        403,        api_unpack),
    R("POST", "/api/v1/shipments/<id:shipment_id>/dispatch",
        401,        (200, 404), (403, 404), 403,        403,        api_dispatch),
    R("POST", "/api/v1/shipments/<id:shipment_id>/cancel",
        401,        (200, 404), (403, 404), 403,        403,        api_cancel_shipment),
    R("GET", "/api/v1/shipments/<id:shipment_id>/manifest.pdf",
        401,        (200, 404), (200, 404), 200,        403,        api_manifest),
    R("POST", "/api/v1/shipments/<id:shipment_id>/receipt",
        401,        (403, 404), (200, 404), 403,        403,        api_open_receipt),
    R("GET", "/api/v1/shipments/<id:shipment_id>/receipt",
        401,        (200, 404), (200, 404), 200,        200,        api_receipt),
    R("POST", "/api/v1/shipments/<id:shipment_id>/receipt/scans/undo",
        401,        (403, 404), (200, 404), 403,        403,        api_undo_scan),
    R("POST", "/api/v1/shipments/<id:shipment_id>/receipt/scans",
        401,        (403, 404), (200, 404), 403,        403,        api_receipt_scan),
    R("POST", "/api/v1/shipments/<id:shipment_id>/receipt/close",
        401,        (403, 404), (200, 404), 403,        403,        api_close_receipt),
    # --- API: reports ------------------------------------------------------------------------
    R("GET", "/api/v1/reports/overdue",
        401,        403,        403,        200,        200,        api_overdue),
    R("GET", "/api/v1/reports/discrepancies",
        401,        403,        403,        200,        200,        api_discrepancies),
    R("GET", "/api/v1/reports/disposals",
        401,        403,        403,        200,        200,        api_disposals),
    R("GET", "/api/v1/reports/occupancy",
        401,        403,        403,        200,        200,        api_occupancy),
    R("GET", "/api/v1/reports/slow-shipments",
        401,        403,        403,        200,        200,        api_slow_shipments),
    R("GET", "/api/v1/reports/processing-deviations",
        401,        403,        403,        200,        200,        api_processing_deviations),
    R("GET", "/api/v1/reports/collection-to-freezer",
        401,        403,        403,        200,        200,        api_collection_to_freezer),
    R("GET", f"/api/v1/reports/<{REPORTS}:name>.csv",
        401,        403,        403,        200,        200,        api_report_csv),
    R("GET", f"/api/v1/reports/<{REPORTS}:name>.pdf",
        401,        403,        403,        200,        200,        api_report_pdf),
    # --- API: storage ------------------------------------------------------------------------
    R("GET", "/api/v1/storage/freezers",
        401,        200,        200,        200,        200,        api_freezers),
    R("POST", "/api/v1/storage/freezers",
        401,        403,        (201, 403), 403,        201,        api_create_freezer),
    R("POST", "/api/v1/storage/containers",
        401,        404,        (201, 404), 403,        201,        api_create_container),
    R("GET", "/api/v1/storage/containers/<id:container_id>",
        401,        404,        (200, 404), 200,        200,        api_container),
    R("PATCH", "/api/v1/storage/containers/<id:container_id>",
        401,        404,        (200, 404), 403,        200,        api_rename_container),
    R("POST", "/api/v1/storage/containers/<id:container_id>/deactivate",
        401,        404,        (200, 404), 403,        200,        api_deactivate_container),
    R("POST", "/api/v1/storage/containers/<id:container_id>/store",
        401,        404,        (201, 404), 403,        403,        api_store_many),
    R("GET", "/api/v1/storage/boxes",
        401,        404,        (200, 404), 200,        200,        api_find_box),
    R("GET", "/api/v1/storage/boxes/<id:box_id>",
        401,        404,        (200, 404), 200,        200,        api_box),
    R("POST", "/api/v1/storage/boxes/<id:box_id>/positions",
        401,        404,        (201, 404), 403,        403,        api_store),
    R("POST", "/api/v1/storage/boxes/<id:box_id>/rack-scan",
        401,        404,        (200, 404), 403,        403,        api_rack_scan),
    R("POST", "/api/v1/storage/inventory-import",
        401,        403,        200,        403,        200,        api_inventory_import),
    # --- web: home, scan, collections --------------------------------------------------------
    R("GET", "/",
        LOGIN,      200,        200,        200,        200,        web_home),
    R("GET", "/scan",
        LOGIN,      (302, 404), (302, 404), 302,        302,        web_scan),
    R("GET", "/collections",
        LOGIN,      200,        200,        200,        200,        web_collections),
    R("GET", "/collections/new",
        LOGIN,      200,        403,        403,        403,        web_new_collection_page),
    R("POST", "/collections/new",
        LOGIN,      302,        403,        403,        403,        web_new_collection),
    R("GET", "/collections/<int:collection_id>",
        LOGIN,      (200, 404), 404,        200,        200,        web_collection),
    R("POST", "/collections/<int:collection_id>/tubes/<barcode>/collected",
        LOGIN,      (302, 404), 404,        403,        403,        web_collected),
    R("POST", "/collections/<int:collection_id>/tubes/<barcode>/processed",
        LOGIN,      (302, 404), 404,        403,        403,        web_processed),
    R("POST", "/collections/<int:collection_id>/finalize",
        LOGIN,      (302, 404), 404,        403,        403,        web_finalize),
    R("POST", "/collections/<int:collection_id>/cancel",
        LOGIN,      (302, 404), 404,        403,        403,        web_cancel),
    R("POST", "/collections/<int:collection_id>/restore",
        LOGIN,      (302, 404), 404,        403,        403,        web_restore),
    R("POST", "/collections/<int:collection_id>/amend",
        LOGIN,      (302, 404), 404,        403,        403,        web_amend),
    R("POST", "/collections/<int:collection_id>/times",
        LOGIN,      (302, 404), 404,        403,        403,        web_all_times),
    R("GET", "/participants",
        LOGIN,      403,        403,        200,        200,        web_participants),
    R("POST", "/participants/<participant_id>",
        LOGIN,      403,        403,        302,        302,        web_save_participant),
    R("GET", "/label-batches",
        LOGIN,      403,        403,        200,        403,        web_label_batches),
    R("POST", "/label-batches",
        LOGIN,      403,        403,        302,        403,        web_create_label_batch),
    R("GET", "/label-batches/<int:batch_id>",
        LOGIN,      403,        403,        200,        403,        web_label_batch),
    R("POST", "/label-batches/<int:batch_id>/labels.<any(pdf, zpl):fmt>",
        LOGIN,      403,        403,        200,        403,        web_print_batch_labels),
    R("POST", "/collections/<int:collection_id>/labels.<any(pdf, zpl):fmt>",
        LOGIN,      (200, 404), 404,        200,        403,        web_print_labels),
    R("POST", "/collections/<int:collection_id>/tubes/<barcode>/labels.<any(pdf, zpl):fmt>",
        LOGIN,      (200, 404), 404,        200,        403,        web_reprint_label),
    R("POST", "/collections/<int:collection_id>/print/<int:printer_id>",
        LOGIN,      (302, 404), 404,        (302, 404), 403,        web_print_collection),
    R("POST", "/collections/<int:collection_id>/tubes/<barcode>/print/<int:printer_id>",
        LOGIN,      (302, 404), 404,        (302, 404), 403,        web_print_tube),
    R("POST", "/label-batches/<int:batch_id>/print/<int:printer_id>",
        LOGIN,      (302, 404), 404,        (302, 404), 403,        web_print_label_batch),
    # --- web: receiving and reports ----------------------------------------------------------
    R("GET", "/receiving",
        LOGIN,      403,        200,        403,        403,        web_receiving),
    R("POST", "/receiving",
        LOGIN,      403,        (302, 404), 403,        403,        web_scan_manifest),
    R("GET", "/receiving/<int:shipment_id>",
        LOGIN,      403,        (200, 404), 403,        403,        web_receipt),
    R("POST", "/receiving/<int:shipment_id>/undo",
        LOGIN,      403,        (302, 404), 403,        403,        web_undo_scan),
    R("POST", "/receiving/<int:shipment_id>/quarantine",
        LOGIN,      403,        (302, 404), 403,        403,        web_quarantine_at_receiving),
    R("POST", "/receiving/<int:shipment_id>/close",
        LOGIN,      403,        (302, 404), 403,        403,        web_close_receipt),
    R("GET", "/reports",
        LOGIN,      403,        403,        302,        302,        web_reports),
    R("GET", "/reports/overdue",
        LOGIN,      403,        403,        200,        200,        web_overdue),
    R("GET", f"/reports/<{REPORTS}:name>.<any(csv, pdf):fmt>",
        LOGIN,      403,        403,        200,        200,        web_report_download),
    R("GET", f"/reports/<{TABLE_REPORTS}:name>",
        LOGIN,      403,        403,        200,        200,        web_report_table),
    R("GET", "/reports/slow-shipments",
        LOGIN,      403,        403,        200,        200,        web_slow_shipments),
    R("GET", "/reports/discrepancies",
        LOGIN,      403,        403,        200,        200,        web_discrepancies),
    # --- web: samples ------------------------------------------------------------------------
    R("GET", "/samples/",
        LOGIN,      (302, 404), (302, 404), 302,        302,        web_find_tube),
    R("GET", "/samples/<barcode>",
        LOGIN,      (200, 404), (200, 404), 200,        200,        web_sample),
    R("POST", "/samples/<barcode>/store",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_store_tube),
    R("POST", "/samples/<barcode>/move",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_move),
    R("POST", "/samples/<barcode>/check-out",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_check_out),
    R("POST", "/samples/<barcode>/check-in",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_check_in),
    R("POST", "/samples/<barcode>/thaw",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_thaw),
    R("POST", "/samples/<barcode>/aliquot",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_aliquot),
    R("POST", "/samples/<barcode>/aliquot-labels.<any(pdf, zpl):fmt>",
        LOGIN,      (200, 404), (200, 404), 200,        403,        web_aliquot_labels),
    R("POST", "/samples/<barcode>/quarantine",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_quarantine),
    R("POST", "/samples/<barcode>/release",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_release),
    R("POST", "/samples/<barcode>/withdraw",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_withdraw),
    R("POST", "/samples/<barcode>/dispose",
        LOGIN,      (403, 404), (302, 404), 403,        403,        web_dispose),
    # --- web: shipments ----------------------------------------------------------------------
    R("GET", "/shipments",
        LOGIN,      200,        200,        200,        200,        web_shipments),
    R("GET", "/shipments/new",
        LOGIN,      200,        403,        403,        403,        web_new_shipment_page),
    R("POST", "/shipments/new",
        LOGIN,      302,        403,        403,        403,        web_new_shipment),
    R("GET", "/shipments/<int:shipment_id>",
        LOGIN,      (200, 404), (200, 404), 200,        200,        web_shipment),
    R("POST", "/shipments/<int:shipment_id>/items",
        LOGIN,      (302, 404), (403, 404), 403,        403,        web_pack),
    R("POST", "/shipments/<int:shipment_id>/items/<barcode>/remove",
        LOGIN,      (302, 404), (403, 404), 403,        403,        web_unpack),
    R("POST", "/shipments/<int:shipment_id>/dispatch",
        LOGIN,      (302, 404), (403, 404), 403,        403,        web_dispatch),
    R("POST", "/shipments/<int:shipment_id>/cancel",
        LOGIN,      (302, 404), (403, 404), 403,        403,        web_cancel_shipment),
    R("GET", "/shipments/<int:shipment_id>/manifest.pdf",
        LOGIN,      (200, 404), (200, 404), 200,        403,        web_manifest),
    # --- web: administration -----------------------------------------------------------------
    R("GET", "/admin/failed-attempts",
        LOGIN,      403,        403,        403,        200,        web_failed_attempts),
    R("GET", "/admin/failed-attempts.csv",
        LOGIN,      403,        403,        403,        200,        web_failed_attempts_csv),
    R("POST", "/admin/users/<username>/deactivate",
        LOGIN,      403,        403,        403,        302,        web_deactivate_user),
    R("POST", "/admin/users/<username>/reactivate",
        LOGIN,      403,        403,        403,        302,        web_reactivate_user),
    R("POST", "/admin/users/<username>/unlock",
        LOGIN,      403,        403,        403,        302,        web_unlock_user),
    # --- web: label printers (admins) --------------------------------------------------------
    R("GET", "/admin/printers",
        LOGIN,      403,        403,        403,        200,        web_printers),
    R("POST", "/admin/printers",
        LOGIN,      403,        403,        403,        302,        web_register_printer),
    R("GET", "/admin/printers/<int:printer_id>",
        LOGIN,      403,        403,        403,        200,        web_printer),
    R("POST", "/admin/printers/<int:printer_id>",
        LOGIN,      403,        403,        403,        302,        web_update_printer),
    R("POST", "/admin/printers/<int:printer_id>/out-of-use",
        LOGIN,      403,        403,        403,        302,        web_printer_out_of_use),
    R("POST", "/admin/printers/<int:printer_id>/in-use",
        LOGIN,      403,        403,        403,        302,        web_printer_in_use),
    # --- web: storage ------------------------------------------------------------------------
    R("GET", "/storage/",
        LOGIN,      200,        200,        200,        200,        web_storage),
    R("GET", "/storage/find",
        LOGIN,      404,        (302, 404), 302,        302,        web_find_box),
    R("POST", "/storage/freezers",
        LOGIN,      403,        302,        403,        302,        web_create_freezer),
    R("GET", "/storage/freezers/<int:freezer_id>",
        LOGIN,      404,        (200, 404), 200,        200,        web_freezer),
    R("POST", "/storage/freezers/<int:freezer_id>/containers",
        LOGIN,      404,        (302, 404), 403,        302,        web_add_container),
    R("POST", "/storage/containers/<int:container_id>/rename",
        LOGIN,      404,        (302, 404), 403,        302,        web_rename_container),
    R("POST", "/storage/containers/<int:container_id>/deactivate",
        LOGIN,      404,        (302, 404), 403,        302,        web_deactivate_container),
    R("GET", "/storage/boxes/<int:box_id>",
        LOGIN,      404,        (200, 404), 200,        200,        web_box),
    R("GET", "/storage/boxes/<int:box_id>/label.pdf",
        LOGIN,      404,        (200, 404), 200,        200,        web_box_label),
    R("GET", "/storage/boxes/<int:box_id>/contents",
        LOGIN,      404,        (200, 404), 200,        200,        web_box_contents),
    R("POST", "/storage/boxes/<int:box_id>/store",
        LOGIN,      404,        (302, 404), 403,        403,        web_store_in_box),
    R("POST", "/storage/boxes/<int:box_id>/rack-scan",
        LOGIN,      404,        (200, 404), 403,        403,        web_rack_preview),
    R("POST", "/storage/boxes/<int:box_id>/rack-scan/apply",
        LOGIN,      404,        (302, 404), 403,        403,        web_rack_apply),
    R("GET", "/storage/inventory",
        LOGIN,      403,        200,        403,        200,        web_inventory_page),
    R("POST", "/storage/inventory",
        LOGIN,      403,        200,        403,        200,        web_inventory_preview),
    R("POST", "/storage/inventory/apply",
        LOGIN,      403,        200,        403,        200,        web_inventory_apply),
    # --- web: distribution to research (coordinators decide, technicians read and pick) ------
    R("GET", "/distribution",
        LOGIN,      403,        200,        200,        403,        web_distribution),
    R("GET", "/distribution/protocols/new",
        LOGIN,      403,        403,        200,        403,        web_new_protocol_page),
    R("POST", "/distribution/protocols/new",
        LOGIN,      403,        403,        302,        403,        web_new_protocol),
    R("GET", "/distribution/protocols/<int:protocol_id>",
        LOGIN,      403,        (200, 404), 200,        403,        web_protocol),
    R("GET", "/distribution/protocols/<int:protocol_id>/report",
        LOGIN,      403,        (200, 404), 200,        403,        web_protocol_report),
    R("GET", "/distribution/protocols/<int:protocol_id>/report.<any(csv, pdf):fmt>",
        LOGIN,      403,        (200, 404), 200,        403,        web_protocol_report_file),
    R("POST", "/distribution/protocols/<int:protocol_id>/close",
        LOGIN,      403,        (403, 404), 302,        403,        web_close_protocol),
    R("GET", "/distribution/protocols/<int:protocol_id>/requests/new",
        LOGIN,      403,        403,        200,        403,        web_new_request_page),
    R("POST", "/distribution/protocols/<int:protocol_id>/requests/new",
        LOGIN,      403,        403,        302,        403,        web_new_request),
    R("GET", "/distribution/requests/<int:request_id>",
        LOGIN,      403,        (200, 404), 200,        403,        web_distribution_request),
    R("POST", "/distribution/requests/<int:request_id>/approve",
        LOGIN,      403,        (403, 404), 302,        403,        web_approve_request),
    R("POST", "/distribution/requests/<int:request_id>/release",
        LOGIN,      403,        (403, 404), 302,        403,        web_release_request),
    R("POST", "/distribution/requests/<int:request_id>/cancel",
        LOGIN,      403,        (403, 404), 302,        403,        web_cancel_request),
    R("GET", "/distribution/requests/<int:request_id>/pick",
        LOGIN,      403,        (200, 404), 200,        403,        web_pick_list),
    R("POST", "/distribution/requests/<int:request_id>/pick",
        LOGIN,      403,        (302, 404), 302,        403,        web_pick),
    R("GET", "/distribution/requests/<int:request_id>/pick-list.<any(pdf, csv):fmt>",
        LOGIN,      403,        (200, 404), 200,        403,        web_pick_list_document),
    R("GET", "/distribution/requests/<int:request_id>/shipment",
        LOGIN,      403,        (200, 404), 200,        403,        web_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment",
        LOGIN,      403,        (302, 404), 302,        403,        web_open_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment/items",
        LOGIN,      403,        (302, 404), 302,        403,        web_pack_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment/items/<barcode>/remove",
        LOGIN,      403,        (302, 404), 302,        403,        web_unpack_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment/dispatch",
        LOGIN,      403,        (302, 404), 302,        403,        web_dispatch_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment/cancel",
        LOGIN,      403,        (302, 404), 302,        403,        web_cancel_outbound),
    R("POST", "/distribution/requests/<int:request_id>/shipment/returns",
        LOGIN,      403,        (302, 404), 302,        403,        web_outbound_return),
    R("GET", "/distribution/requests/<int:request_id>/shipment/manifest.<any(pdf, csv):fmt>",
        LOGIN,      403,        (200, 404), 200,        403,        web_outbound_manifest),
]
# fmt: on


class KnownDisagreement(AssertionError):
    """The app answers a cell named in a row's ``bugs`` otherwise than DESIGN says."""


def _param(row: Row):
    marks = []
    if row.bugs:
        reasons = "; ".join(sorted(set(row.bugs.values())))
        marks.append(pytest.mark.xfail(strict=True, raises=KnownDisagreement, reason=reasons))
    return pytest.param(row, id=f"{row.method} {row.rule}", marks=marks)


# --- checking one answer ------------------------------------------------------------------------

# Columns that change on every login or authenticated request, not by what a route does.
VOLATILE = {"users": {"last_login_at", "session_key"}, "api_tokens": {"last_used_at"}}


def fingerprint(method: str) -> str:
    """Every row of every table (but the volatile columns above), as one digest. A GET can
    only write events (label prints record who printed): for it, the events suffice."""
    if method == "GET":
        return repr(db.session.execute(sa.select(sa.func.count(), sa.func.max(Event.id))).one())
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name not in VOLATILE.get(table.name, ())]
        rows = db.session.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


def _location(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def judge(row: Row, expected: Expected, response) -> str | None:
    """Why the answer is not the one expected, or None."""
    status = response.status_code
    if expected == LOGIN:
        if status != 302 or _location(response) != "/login":
            return f"expected a redirect to /login, got {status} {_location(response)}".rstrip()
        return None
    if status != expected:
        return f"expected {expected}, got {status}"
    if row.api and status in DENIED and response.mimetype != PROBLEM_JSON:
        return f"{status} is {response.mimetype}, not {PROBLEM_JSON}"
    if status == 302 and _location(response) == "/login":
        return "sent to the login page although logged in"
    return None


def _snippet(response) -> str:
    if response.mimetype in ("application/pdf", "application/vnd.zebra-zpl"):
        return response.mimetype
    return " ".join(response.get_data(as_text=True).split())[:300]


def leaked(world: World, role: str, response) -> str | None:
    """A list must not show the other chain's records to a site-bound user, and does show
    them to a coordinator or admin (so the check is not vacuous)."""
    body = response.get_data(as_text=True)
    shown = sorted(code for code in world.codes["other"] if code in body)
    if role in ("collector", "technician") and shown:
        return f"the list shows another site's records: {', '.join(shown)}"
    if role in ("coordinator", "admin") and not shown:
        return "the list shows none of the other site's records to a reader of every site"
    return None


# --- the tests ----------------------------------------------------------------------------------


def test_every_route_has_a_row(app: Flask):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    rows = [(row.method, row.rule) for row in TABLE]
    duplicated = sorted({key for key in rows if rows.count(key) > 1})
    without_row = sorted(routes - EXCLUDED - set(rows))
    without_route = sorted(set(rows) - routes)
    assert not duplicated, f"routes with more than one row: {duplicated}"
    assert not without_row, f"routes without a row in TABLE: {without_row}"
    assert not without_route, f"rows for routes the app does not have: {without_route}"
    assert routes >= EXCLUDED, f"excluded routes that no longer exist: {EXCLUDED - routes}"


@pytest.mark.parametrize("row", [_param(row) for row in TABLE])
def test_route_answers_each_role_as_the_table_says(
    row: Row, world: World, app: Flask, client: FlaskClient, login
):
    api_client = app.test_client(use_cookies=False)
    unexpected: list[str] = []
    known: list[str] = []
    agreeing: list[str] = []
    csrf = ""
    logged_in: str | None = None

    for role, relation in row.cases():
        actor = world.actors[role]
        label = f"{row.method} {row.rule} as {role} ({relation} site)"
        if row.listing:
            world.populate()
        req = row.recipe(world, relation, actor)
        if row.api:
            http = api_client
            headers = world.headers(actor) if actor else {}
        else:
            http, headers = client, {}
            if role != logged_in:
                if actor is not None:
                    login(actor)
                page = "/scan" if actor is not None else "/login"
                csrf = csrf_token_from(client.get(page).get_data(as_text=True))
                logged_in = role
        data = req.data
        if data is not None and not row.api:
            data = {**data, "csrf_token": csrf}

        before = fingerprint(row.method)
        response = http.open(
            req.path,
            method=row.method,
            headers=headers,
            json=req.json,
            data=data,
            query_string=req.query,
        )
        changed = fingerprint(row.method) != before
        if changed:
            world.forget(None if row.sitewide else relation)

        expected = row.expected(role, relation)
        refused = response.status_code in DENIED or _location(response) == "/login"
        problems = [judge(row, expected, response)]
        if refused and changed:
            problems.append(f"answered {response.status_code} but changed the database")
        if req.after is not None and not refused:
            problems.append(req.after(response))
        if row.listing and response.status_code == 200:
            problems.append(leaked(world, role, response))
        problem = "; ".join(p for p in problems if p)

        bug = row.bugs.get((role, relation))
        if bug and problem:
            known.append(f"{label}: {problem} — known: {bug}")
        elif bug:
            agreeing.append(f"{label}: now answers {expected} as DESIGN says: drop it from bugs")
        elif problem:
            unexpected.append(f"{label}: {problem}\n    {_snippet(response)}")

    assert not unexpected and not agreeing, "\n".join(unexpected + agreeing)
    if known:
        raise KnownDisagreement("\n".join(known))

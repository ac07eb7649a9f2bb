"""Races: 16 clicks on one record at once, per lifecycle write, on PostgreSQL.

Each operation is raced by 16 threads released together by a barrier, each its own HTTP client
(Flask test client: routing, bearer token, schema, service, commit), its own session and its
own database transaction. Target per operation: exactly 1 winner, 15 answers of 409 that say
why, no other error, and exactly the winner's events in the custody log. Runs on PostgreSQL
only (SQLite serialises every writer): ``BIOBANK_BENCH_DATABASE_URL``, default the helper's
test database below. Its ``public`` schema is rebuilt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bench.harness import PASSWORD, bearer, bench_app, dispatched, finalized_tubes, ms
from tests.concurrency import race

RACERS = 16
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_races"
TRACKING = "123456789012"


@dataclass(frozen=True)
class Raced:
    """One operation's race: the requests to make and where its events are counted."""

    name: str
    path: str
    body: Callable[[int], dict[str, Any]]
    headers: dict[str, str]
    ok: int
    event: str
    about: tuple[str, int]
    events_expected: int = 1


def _stored_tubes(cast, count: int) -> tuple[list[str], int, int, int]:
    """``count`` tubes received and stored in a box, through the services; the ids of that
    box and of two empty ones."""
    from biobank.extensions import db
    from biobank.models import Shipment
    from biobank.services.shipping import receiving
    from biobank.services.storage import freezer_tree, placing
    from biobank.unit_of_work import unit_of_work

    barcodes = finalized_tubes(cast.collector, count)
    shipment_id = dispatched(cast.collector, barcodes)
    with unit_of_work():
        shipment = db.session.get(Shipment, shipment_id)
        for barcode in barcodes:
            receiving.receive_scan(cast.technician, shipment, barcode)
        receiving.close_receipt(
            cast.technician, shipment, condition="good", signature_password=PASSWORD
        )
        freezer = freezer_tree.create_freezer(
            cast.technician, name="Race freezer", temperature_c=-80
        )
        boxes = [
            freezer_tree.create_container(
                cast.technician, parent_id=freezer.id, kind="box", name=name, rows=9, cols=9
            )
            for name in ("Race box 1", "Race box 2", "Race box 3")
        ]
        for barcode in barcodes:
            placing.store_sample(cast.technician, boxes[0], barcode)
    return barcodes, boxes[0].id, boxes[1].id, boxes[2].id


def _operations(cast) -> list[Raced]:
    """Each operation on its own fresh record, set up through the services."""
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.extensions import db
    from biobank.models import Sample
    from biobank.services.collecting import collections
    from biobank.services.shipping import sending
    from biobank.services.storage import lifecycle
    from biobank.services.storage.storage_paths import location_of
    from biobank.unit_of_work import unit_of_work

    tech, collector = bearer(cast.technician), bearer(cast.collector)
    tubes, full_box, free_box, empty_box = _stored_tubes(cast, 8)
    by_barcode = {
        s.barcode: s for s in db.session.scalars(sa.select(Sample).where(Sample.barcode.in_(tubes)))
    }
    thawed, aliquoted, out, back, moved, withdrawn, disposed = tubes[:7]
    with unit_of_work():
        lifecycle.check_out(cast.technician, back, "bench")
    volume = by_barcode[aliquoted].volume_ml
    # Where the racers saw the tube: read here, before the race, not in the racing threads.
    seen = {"box": full_box, "position": location_of(by_barcode[moved])["position"]}

    def sample_id(barcode: str) -> tuple[str, int]:
        return "sample", by_barcode[barcode].id

    # A packed shipment, one dispatched and not closed, one draft collection ready to finalize.
    packed = finalized_tubes(cast.collector, 4)
    with unit_of_work():
        to_dispatch = sending.open_shipment(
            cast.collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for barcode in packed:
            sending.pack_sample(cast.collector, to_dispatch, barcode)
    in_transit = dispatched(cast.collector, finalized_tubes(cast.collector, 4))
    drawn = utcnow() - timedelta(hours=2)
    with unit_of_work():
        draft = collections.start_collection(
            cast.collector, participant_id="P999999999", tube_types=["1ED04", "1HEP4"]
        )
        for sample in draft.samples:
            collections.record_collected(cast.collector, draft, sample.barcode, drawn)
    signed = {"signature_password": PASSWORD}

    def sample_path(barcode: str, action: str) -> str:
        return f"/api/v1/samples/{barcode}/{action}"

    return [
        Raced(
            "thaw (cycles_seen 0)",
            sample_path(thawed, "thaw"),
            lambda i: {"cycles_seen": 0},
            tech,
            200,
            "thawed",
            sample_id(thawed),
        ),
        Raced(
            f"aliquot 1 × 3 mL of {volume.normalize():f} mL (volume_seen_ml)",
            sample_path(aliquoted, "aliquot"),
            lambda i: {"count": 1, "volume_ml": 3, "volume_seen_ml": str(volume)},
            tech,
            201,
            "aliquoted",
            sample_id(aliquoted),
        ),
        Raced(
            "check out",
            sample_path(out, "check-out"),
            lambda i: {"reason": "assay"},
            tech,
            200,
            "checked_out",
            sample_id(out),
        ),
        Raced(
            "check in",
            sample_path(back, "check-in"),
            lambda i: {},
            tech,
            200,
            "checked_in",
            sample_id(back),
        ),
        Raced(
            "move to 16 different positions (moving_from)",
            sample_path(moved, "move"),
            lambda i: {
                "box": free_box,
                "position": f"{'AB'[i // 9]}{1 + i % 9}",
                "moving_from": seen,
            },
            tech,
            200,
            "moved",
            sample_id(moved),
        ),
        Raced(
            "withdraw",
            sample_path(withdrawn, "withdraw"),
            lambda i: {"reason": "consent withdrawn"},
            tech,
            200,
            "withdrawn",
            sample_id(withdrawn),
        ),
        Raced(
            "dispose (signed; every racer's password is hashed before the tube is locked)",
            sample_path(disposed, "dispose"),
            lambda i: {"reason": "protocol", **signed},
            tech,
            200,
            "disposed",
            sample_id(disposed),
        ),
        Raced(
            "shipment dispatch (signed; losers are refused before their signature)",
            f"/api/v1/shipments/{to_dispatch.id}/dispatch",
            lambda i: {"carrier": "fedex", "tracking_number": TRACKING, **signed},
            collector,
            200,
            "dispatched",
            ("shipment", to_dispatch.id),
            1 + len(packed),
        ),
        Raced(
            "shipment receipt close (signed; losers are refused before their signature)",
            f"/api/v1/shipments/{in_transit}/receipt/close",
            lambda i: {"condition": "good", **signed},
            tech,
            200,
            "receipt_closed",
            ("shipment", in_transit),
        ),
        Raced(
            "collection finalize",
            f"/api/v1/collections/{draft.id}/finalize",
            lambda i: {},
            collector,
            200,
            "finalized",
            ("collection", draft.id),
            1 + len(draft.samples),
        ),
        Raced(
            "box deactivate",
            f"/api/v1/storage/containers/{empty_box}/deactivate",
            lambda i: {},
            tech,
            200,
            "container_changed",
            ("container", empty_box),
            2,  # created, deactivated
        ),
    ]


def _race_one(app, raced: Raced) -> dict[str, Any]:
    from biobank.extensions import db
    from biobank.models import Event

    def post(i: int):
        response = app.test_client().post(raced.path, headers=raced.headers, json=raced.body(i))
        return response.status_code

    results = race(app, RACERS, post, commit=False)
    statuses = [r.value if r.error is None else 500 for r in results]
    db.session.rollback()
    kind, record_id = raced.about
    events = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .where(Event.type == raced.event, getattr(Event, f"{kind}_id") == record_id)
    )
    return {
        "winners": statuses.count(raced.ok),
        "conflicts": statuses.count(409),
        "others": len(statuses) - statuses.count(raced.ok) - statuses.count(409),
        "wall": max(r.seconds for r in results),
        "events": events,
    }


def run() -> list[dict]:
    url = os.environ.get("BIOBANK_BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        raise RuntimeError("races are measured on PostgreSQL only: SQLite serialises writers")
    rows = []
    with bench_app(url) as (app, cast):
        for raced in _operations(cast):
            figures = _race_one(app, raced)
            rows += [
                {
                    "figure": f"PostgreSQL, {RACERS} racers: {raced.name}: winners / 409s / "
                    f"other errors; its events recorded ({raced.events_expected} expected)",
                    "value": f"{figures['winners']} / {figures['conflicts']} / "
                    f"{figures['others']}; {figures['events']}",
                    "target": f"1 / {RACERS - 1} / 0; {raced.events_expected}",
                },
                {
                    "figure": f"PostgreSQL, {RACERS} racers: {raced.name}: wall time",
                    "value": ms(figures["wall"]),
                    "unit": "ms",
                },
            ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

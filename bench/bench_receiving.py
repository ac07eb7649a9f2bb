"""Receiving: per-scan latency over a 1,000-tube receipt, and closing it.

Scans go through the whole HTTP stack (Flask test client: routing, bearer token, JSON schema,
service, commit) without a network. Two baselines are measured beside them in the same run: the
same server's cheapest authenticated read (GET /api/v1/auth/me), the HTTP floor; and a bare
database transaction doing a scan's writes (find the item, mark it and its tube received, insert
the event row with its custody-log leaf hash, commit) in SQLAlchemy Core, with no HTTP, ORM,
rules or lock, as ``record_event`` appends (the sequencer numbers the log later).
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from bench.harness import (
    PASSWORD,
    bearer,
    bench_app,
    databases,
    dispatched,
    finalized_tubes,
    ms,
    percentile,
)

TUBES = 1_000
LEFT_MISSING = 20
BARE_SCANS = 300


def _bare_scans(barcodes: list[str], shipment_id: int, technician) -> list[float]:
    """Each barcode received by the fewest statements a scan needs, one transaction each."""
    from biobank.db import utcnow
    from biobank.extensions import db
    from biobank.models import Event, Sample, ShipmentItem
    from biobank.services.core.custody import leaf_bytes, leaf_hash, normalise_details

    items, samples, events = ShipmentItem.__table__, Sample.__table__, Event.__table__
    find = (
        sa.select(items.c.id, samples.c.id)
        .join(samples, samples.c.id == items.c.sample_id)
        .where(items.c.shipment_id == shipment_id, samples.c.barcode == sa.bindparam("barcode"))
    )
    postgres = db.engine.dialect.name == "postgresql"
    # An event's id is in its leaf, so it is drawn before the INSERT, as record_event does:
    # from the table's sequence on PostgreSQL, the largest id plus one on SQLite.
    next_id = (
        sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence("events", "id")))
        if postgres
        else sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0) + 1)
    )
    actor, site = technician.username, technician.site.code
    timings = []
    for barcode in barcodes:
        start = time.perf_counter()
        with db.engine.begin() as connection:
            item_id, sample_id = connection.execute(find, {"barcode": barcode}).one()
            now = utcnow()
            connection.execute(
                items.update()
                .where(items.c.id == item_id)
                .values(outcome="received", scanned_at=now, scanned_by_id=technician.id)
            )
            connection.execute(
                samples.update()
                .where(samples.c.id == sample_id)
                .values(status="received", custody_site_id=technician.site_id, received_at=now)
            )
            event_id = connection.scalar(next_id)
            details = normalise_details({"outcome": "expected"})
            leaf = leaf_bytes(
                id=event_id,
                type="received",
                at=now,
                recorded_at=now,
                actor=actor,
                site=site,
                sample=barcode,
                collection_id=None,
                shipment_id=shipment_id,
                container_id=None,
                reason=None,
                details=details,
            )
            connection.execute(
                events.insert().values(
                    id=event_id,
                    type="received",
                    at=now,
                    recorded_at=now,
                    actor_id=technician.id,
                    site_id=technician.site_id,
                    sample_id=sample_id,
                    shipment_id=shipment_id,
                    details=details,
                    leaf_hash=leaf_hash(leaf),
                )
            )
        timings.append(time.perf_counter() - start)
    return timings


def _measure(url: str) -> dict[str, float]:
    with bench_app(url) as (app, cast):
        barcodes = finalized_tubes(cast.collector, TUBES + BARE_SCANS)
        bare_barcodes = barcodes[TUBES:]
        barcodes = barcodes[:TUBES]
        shipment_id = dispatched(cast.collector, barcodes)
        bare_shipment_id = dispatched(cast.collector, bare_barcodes)
        client = app.test_client()
        headers = bearer(cast.technician)
        floor = []
        for _ in range(300):
            start = time.perf_counter()
            assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
            floor.append(time.perf_counter() - start)
        bare = _bare_scans(bare_barcodes, bare_shipment_id, cast.technician)
        scans = []
        path = f"/api/v1/shipments/{shipment_id}/receipt/scans"
        for barcode in barcodes[: TUBES - LEFT_MISSING]:
            start = time.perf_counter()
            response = client.post(path, json={"barcode": barcode}, headers=headers)
            scans.append(time.perf_counter() - start)
            assert response.status_code == 200 and response.get_json()["outcome"] == "expected"
        start = time.perf_counter()
        closed = client.post(
            f"/api/v1/shipments/{shipment_id}/receipt/close",
            json={"condition": "good", "signature_password": PASSWORD},
            headers=headers,
        )
        close = time.perf_counter() - start
        assert closed.get_json()["counts"]["missing"] == LEFT_MISSING
        return {
            "p50": ms(percentile(scans, 0.5)),
            "p95": ms(percentile(scans, 0.95)),
            "floor_p95": ms(percentile(floor, 0.95)),
            "bare_p95": ms(percentile(bare, 0.95)),
            "close": ms(close),
        }


def run() -> list[dict]:
    rows = []
    for name, url in databases():
        figures = _measure(url)
        rows += [
            {
                "figure": f"{name}: receipt scan p50 ({TUBES}-tube shipment)",
                "value": figures["p50"],
                "unit": "ms",
                "target": "",
            },
            {
                "figure": f"{name}: receipt scan p95 ({TUBES}-tube shipment), ratio to HTTP floor",
                "value": figures["p95"],
                "unit": "ms",
                "target": "<= 20 ms, ratio <= 3",
                "baseline": figures["floor_p95"],
                "ratio": round(figures["p95"] / figures["floor_p95"], 2),
            },
            {
                "figure": f"{name}: receipt scan p95, ratio to a bare database transaction",
                "value": figures["p95"],
                "unit": "ms",
                "target": "",
                "baseline": figures["bare_p95"],
                "ratio": round(figures["p95"] / figures["bare_p95"], 2),
            },
            {
                "figure": f"{name}: close a {TUBES}-tube receipt ({LEFT_MISSING} missing)",
                "value": figures["close"],
                "unit": "ms",
                "target": "< 1000 ms",
            },
        ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

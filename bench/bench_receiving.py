"""Receiving: per-scan latency over a 1,000-tube receipt, and closing it.

Scans go through the whole HTTP stack (Flask test client: routing, bearer token, JSON schema,
service, commit) without a network. The HTTP floor beside it is the same server's cheapest
authenticated read (GET /api/v1/auth/me), measured in the same run.
"""

from __future__ import annotations

import time

from bench.harness import (
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


def _measure(url: str) -> dict[str, float]:
    with bench_app(url) as (app, cast):
        barcodes = finalized_tubes(cast.collector, TUBES)
        shipment_id = dispatched(cast.collector, barcodes)
        client = app.test_client()
        headers = bearer(cast.technician)
        floor = []
        for _ in range(300):
            start = time.perf_counter()
            assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
            floor.append(time.perf_counter() - start)
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
            json={"condition": "good"},
            headers=headers,
        )
        close = time.perf_counter() - start
        assert closed.get_json()["counts"]["missing"] == LEFT_MISSING
        return {
            "p50": ms(percentile(scans, 0.5)),
            "p95": ms(percentile(scans, 0.95)),
            "floor_p95": ms(percentile(floor, 0.95)),
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

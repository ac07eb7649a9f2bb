"""Program scale: a million stored tubes, then look-ups, pages, dashboards and reports.

Each database is built from empty: the demo data, then ``seed-demo --samples 1000000``
(timed: the SQLite target is 120 s). Requests go through the whole app (Flask test client,
real login sessions and bearer tokens). Set BIOBANK_SCALE_SAMPLES for a smaller run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.harness import (
    migrated_app,
    ms,
    percentile,
    postgres_url,
    random_stored_tubes_and_boxes,
    timings,
)

SAMPLES = int(os.environ.get("BIOBANK_SCALE_SAMPLES", "1000000"))
ROUNDS = 60


def _build(url: str):
    """Migrate, load the demo, add SAMPLES stored tubes; return the app and the seed time."""
    from biobank.services.admin.demo import seed_demo, seed_scale
    from biobank.unit_of_work import unit_of_work

    app = migrated_app(url, env="development")
    with app.app_context():
        with unit_of_work():
            seed_demo()
        started, cpu = time.perf_counter(), time.process_time()
        with unit_of_work():
            seed_scale(SAMPLES)
        seeded = (time.perf_counter() - started, time.process_time() - cpu)
        if url.startswith("postgresql"):
            from biobank.extensions import db

            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
    return app, seeded


def _measure(name: str, url: str) -> list[dict]:
    from biobank.extensions import db
    from biobank.models import Sample
    from biobank.services.admin.demo import DEMO_PASSWORD
    from biobank.services.core import accounts
    from biobank.unit_of_work import unit_of_work

    app, (seed_wall, seed_cpu) = _build(url)
    rows = [
        {
            "figure": f"{name}: seed-demo --samples {SAMPLES:,} (with collections, shipments, "
            f"boxes, events); CPU {seed_cpu:.0f} s",
            "value": round(seed_wall, 1),
            "unit": "s",
            "target": "<= 120 s" if name == "SQLite" else "",
        }
    ]
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(Sample.id)))
        barcodes, boxes = random_stored_tubes_and_boxes(ROUNDS)
        with unit_of_work():
            token, _ = accounts.issue_token(accounts.get_user("coordinator"), hours=2)
        headers = {"Authorization": f"Bearer {token}"}
        clients = {}
        for role in ("collector", "technician", "coordinator", "admin"):
            client = app.test_client()
            from tests.conftest import csrf_token_from

            form = csrf_token_from(client.get("/login").get_data(as_text=True))
            client.post(
                "/login", data={"username": role, "password": DEMO_PASSWORD, "csrf_token": form}
            )
            clients[role] = client
        api = app.test_client()

        def row(figure: str, values: list[float], target: str) -> dict:
            return {
                "figure": f"{name}: {figure} at {total:,} tubes, p95 (p50 "
                f"{ms(percentile(values, 0.5))} ms)",
                "value": ms(percentile(values, 0.95)),
                "unit": "ms",
                "target": target,
            }

        rows.append(
            row(
                "sample look-up by barcode (GET /api/v1/samples/<barcode>)",
                timings(api, [f"/api/v1/samples/{b}" for b in barcodes], headers, rounds=ROUNDS),
                "<= 10 ms",
            )
        )
        rows.append(
            row(
                "box grid page",
                timings(
                    clients["technician"], [f"/storage/boxes/{b}" for b in boxes], rounds=ROUNDS
                ),
                "<= 50 ms",
            )
        )
        rows.append(
            row(
                "sample page",
                timings(clients["technician"], [f"/samples/{b}" for b in barcodes], rounds=ROUNDS),
                "<= 50 ms",
            )
        )
        for role, client in clients.items():
            rows.append(
                row(
                    f"{role} dashboard (program figures cached up to "
                    f"{app.config['BIOBANK_FIGURE_CACHE_SECONDS']} s)",
                    timings(client, ["/"], rounds=30),
                    "<= 50 ms",
                )
            )
        # The same pages computing every figure afresh: what a view costs when the cache
        # has just expired (once a minute per process).
        app.config["BIOBANK_FIGURE_CACHE_SECONDS"] = 0
        for role in ("technician", "coordinator", "admin"):
            seen = timings(clients[role], ["/"], rounds=5)
            rows.append(
                {
                    "figure": f"{name}: {role} dashboard with the figure cache off "
                    f"at {total:,} tubes, median",
                    "value": ms(statistics.median(seen)),
                    "unit": "ms",
                    "target": "",
                }
            )
        for report in ("overdue", "discrepancies", "occupancy"):
            seen = timings(api, [f"/api/v1/reports/{report}"], headers, rounds=10)
            rows.append(
                {
                    "figure": f"{name}: {report} report (API) at {total:,} tubes, median",
                    "value": ms(statistics.median(seen)),
                    "unit": "ms",
                    "target": "<= 500 ms",
                }
            )
        from biobank.extensions import db as database

        database.session.remove()
        database.engine.dispose()
    return rows


def run() -> list[dict]:
    folder = Path(tempfile.mkdtemp(prefix="biobank-scale-"))
    rows = _measure("SQLite", f"sqlite:///{folder / 'scale.sqlite3'}")
    url = postgres_url()
    if url:
        rows += _measure("PostgreSQL", url)
    return rows


if __name__ == "__main__":
    for result in run():
        print(result)

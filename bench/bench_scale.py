"""Program scale: a million stored tubes, then look-ups, pages, dashboards and reports.

Each database is built from empty: the demo data, then ``seed-demo --samples 1000000``
(timed: the SQLite target is 120 s). Requests go through the whole app (Flask test client,
real login sessions and bearer tokens). Last, every seeded participant is consented through
the participants service and a study's request for 500 serum tubes is proposed (the
service's statement, then the API's answer). Set BIOBANK_SCALE_SAMPLES for a smaller run
(20,000 is enough for the proposal to find its 500 tubes).
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
        rows += _proposal_rows(name, api, headers, int(total or 0))
        from biobank.extensions import db as database

        database.session.remove()
        database.engine.dispose()
    return rows


# A study's request on the program's tubes: one serum tube from each of 500 participants
# collected in the last 90 days (of the 180 the seeded tubes span), at least 1 mL, at most two
# freeze-thaw cycles. With every participant consented, each one's serum tube in the window is
# a candidate (a quarter of a million tubes' worth of serum at 1M: about 60,000).
PROPOSED_TUBES = 500
# Enough rounds that a p95 is not simply the slowest of a handful.
PROPOSAL_ROUNDS = 30
PROPOSAL_DAYS = 90
CONSENTS_PER_UNIT = 10_000


def _distribution_request():
    """Every participant of the seeded tubes consented (as the enrollment feed would say, one
    PUT a participant, ten thousand a transaction), a study protocol at the demo biobank, and a
    draft request for PROPOSED_TUBES serum tubes under it. Returns the request."""
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.extensions import db
    from biobank.models import Collection, Participant
    from biobank.services.collecting import participants
    from biobank.services.core import accounts
    from biobank.services.distribution import protocols, requests
    from biobank.unit_of_work import unit_of_work

    coordinator = accounts.get_user("coordinator")
    unknown = db.session.scalars(
        sa.select(Collection.participant_id)
        .distinct()
        .where(~sa.exists().where(Participant.participant_id == Collection.participant_id))
        .order_by(Collection.participant_id)
    ).all()
    for start in range(0, len(unknown), CONSENTS_PER_UNIT):
        with unit_of_work():
            for participant_id in unknown[start : start + CONSENTS_PER_UNIT]:
                participants.upsert_participant(
                    coordinator, participant_id, biospecimen_consent=True
                )
    today = utcnow().date()
    with unit_of_work():
        protocol = protocols.create_protocol(
            coordinator,
            title="Serum proteomics at program scale",
            approval_number="IRB-BENCH-0001",
            approval_expires_on=today + timedelta(days=365),
            institution="Bench University",
            institution_address="1 Bench Way, Rochester, MN 55905",
            responsible_person="Dr Bench",
            specimens=["serum"],
        )
        request = requests.record_request(
            coordinator,
            protocol,
            specimen="serum",
            participants_wanted=PROPOSED_TUBES,
            tubes_per_participant=1,
            min_volume_ml="1",
            max_freeze_thaw=2,
            collected_from=today - timedelta(days=PROPOSAL_DAYS),
            collected_to=today,
        )
    # A hundred thousand consents arrived at once: statistics as PostgreSQL's autovacuum (or
    # SQLite's ``PRAGMA optimize``) would have them before anyone reviews a proposal; without
    # them the planner takes the participants table for a few thousand rows.
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return request


def _proposal_rows(name: str, api, headers: dict, total: int) -> list[dict]:
    """Proposing PROPOSED_TUBES tubes for a request: the service's one statement alone, and
    the whole API answer (GET …/proposal, as a coordinator reviews it)."""
    from biobank.extensions import db
    from biobank.services.core import accounts
    from biobank.services.distribution import requests

    request = _distribution_request()
    request_id, protocol_id = request.id, request.protocol_id
    coordinator = accounts.get_user("coordinator")
    proposed = requests.propose(coordinator, request)
    if len(proposed.tubes) != PROPOSED_TUBES:
        raise RuntimeError(
            f"the bench request was offered {len(proposed.tubes)} tubes, not {PROPOSED_TUBES}: "
            "seed more tubes (BIOBANK_SCALE_SAMPLES) or widen the request"
        )
    seen = []
    for _ in range(PROPOSAL_ROUNDS):
        db.session.remove()
        started = time.perf_counter()
        requests.propose(coordinator, requests.get_request(coordinator, request_id))
        seen.append(time.perf_counter() - started)
    path = f"/api/v1/distribution/protocols/{protocol_id}/requests/{request_id}/proposal"
    over_http = timings(api, [path], headers, rounds=PROPOSAL_ROUNDS)
    what = f"{PROPOSED_TUBES} serum tubes (one a participant, {PROPOSAL_DAYS} days)"
    return [
        {
            "figure": f"{name}: proposing {what}, requests.propose, at {total:,} tubes, "
            f"p95 (p50 {ms(percentile(seen, 0.5))} ms)",
            "value": ms(percentile(seen, 0.95)),
            "unit": "ms",
            "target": "<= 500 ms",
        },
        {
            "figure": f"{name}: proposing {what}, GET …/proposal (the whole answer), at "
            f"{total:,} tubes, p95 (p50 {ms(percentile(over_http, 0.5))} ms)",
            "value": ms(percentile(over_http, 0.95)),
            "unit": "ms",
            "target": "<= 500 ms",
        },
    ]


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

"""Ten million tubes on PostgreSQL: every figure at 1M and at 10M, and how it grew.

One database grows: the demo data, then stored tubes up to the first size of
``BIOBANK_SCALE_SIZES`` (default ``1000000,10000000``), every figure measured, then more tubes
up to the last size and every figure measured again. The table shows the last size's figure,
the first size's in the baseline column and their ratio: a page a person waits on should stay
flat (ratio about 1) or grow like a logarithm, never like the data (ratio 10).

Run only when named (`make bench-scale`, or `python -m bench scale10m`): the 10M run takes
about an hour and 20 GB of disk. The database is ``BIOBANK_SCALE_DATABASE_URL``
(default ``scale_bench`` on 127.0.0.1:5432), its public schema rebuilt; it is left in place
afterwards so the figures can be looked into (drop it when done).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench.harness import (
    created_if_missing,
    migrated_app,
    ms,
    percentile,
    random_stored_tubes_and_boxes,
    timings,
)

# Only `python -m bench scale10m` (or the full module name) runs this: not `make bench`.
EXPLICIT_ONLY = True

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scale_bench"
SIZES = [int(size) for size in os.environ.get("BIOBANK_SCALE_SIZES", "1000000,10000000").split(",")]
ROUNDS = 40
# Events added after a checkpoint, for audit-verify: it must cost what was added, not the log.
ADDED_EVENTS = (1_000, 10_000)

PERSON_WAITS = "<= 250 ms"
REPORT = "<= 500 ms"


def command() -> str:
    """How this run was started, for the results' section."""
    settings = [f"BIOBANK_SCALE_SIZES={','.join(map(str, SIZES))}"]
    if "BIOBANK_SCALE_DATABASE_URL" in os.environ:
        settings.append("BIOBANK_SCALE_DATABASE_URL=…")
    return f"{' '.join(settings)} make bench-scale"


def _database() -> str:
    return created_if_missing(os.environ.get("BIOBANK_SCALE_DATABASE_URL", DEFAULT_URL))


class Figures:
    """One size's figures by name, in the order they were measured."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[float, str, str]] = {}

    def add(self, name: str, value: float, unit: str = "ms", target: str = "") -> None:
        self.values[name] = (value, unit, target)
        print(f"  {name}: {value} {unit}", flush=True)

    def p95(self, name: str, seen: list[float], target: str) -> None:
        self.add(f"{name}, p95", ms(percentile(seen, 0.95)), target=target)

    def median(self, name: str, seen: list[float], target: str) -> None:
        self.add(f"{name}, median", ms(statistics.median(seen)), target=target)


# The first size's tubes were shipped over the last 180 days: that is the program's pace
# (5,500 tubes a day at 1M). A bigger program is an older one at that pace, so tubes added
# beyond the first size go into the years before them. Figures over a window of days (the
# last week's arrivals, 90 days of collection-to-freezer times) then hold what a program of
# that pace holds whatever its age; anything that grows does so because it reads the past.
RECENT_DAYS = 180


def _days_ago(have: int, adding: int) -> tuple[float, float]:
    """Where in the program's past the tubes after the first ``have`` ones go."""
    if have < SIZES[0] / 2:  # the first size: the recent months
        return (1, RECENT_DAYS)
    per_day = SIZES[0] / RECENT_DAYS
    return (1 + have / per_day, 1 + (have + adding) / per_day)


def _grow(app, size: int, figures: Figures) -> None:
    """Seed stored tubes until the database holds ``size`` of them; sequence and ANALYZE."""
    from biobank.extensions import db
    from biobank.models import Sample
    from biobank.sequencer import sequence_pending
    from biobank.services.admin.demo import seed_scale
    from biobank.unit_of_work import unit_of_work

    with app.app_context():
        have = db.session.scalar(sa.select(sa.func.count(Sample.id))) or 0
        db.session.rollback()
        adding = max(1, size - have)
        started = time.perf_counter()
        with unit_of_work():
            summary = seed_scale(adding, days_ago=_days_ago(have, adding))
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        sequence_pending(wait=True)
        sequenced = time.perf_counter() - started
        started = time.perf_counter()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        analyzed = time.perf_counter() - started
        total = seeded + sequenced + analyzed
        figures.add("seeding: stored tubes added (seed-demo --samples)", adding, "tubes")
        figures.add(
            "seeding: the oldest of them shipped this long ago (the program's age at its pace)",
            round(_days_ago(have, adding)[1]),
            "days",
        )
        figures.add(
            f"seeding: wall time, with {summary.events:,} custody events, sequenced into the log "
            "and ANALYZEd",
            round(total, 1),
            "s",
        )
        figures.add(
            "seeding: rate, stored tubes per second of the above", round(adding / total), "/s"
        )
        figures.add("seeding: of which sequencing the custody log", round(sequenced, 1), "s")
        size_bytes = db.session.scalar(sa.text("SELECT pg_database_size(current_database())"))
        db.session.rollback()
        figures.add("database size on disk", round(size_bytes / 1e9, 2), "GB")


def _measure(app, figures: Figures) -> None:
    from biobank.extensions import db
    from biobank.models import Container, ContainerKind, Shipment
    from biobank.services.admin.demo import DEMO_PASSWORD
    from biobank.services.core import accounts
    from biobank.services.core.figure_cache import forget_all
    from biobank.unit_of_work import unit_of_work
    from tests.conftest import csrf_token_from

    with app.app_context():
        stored, boxes = random_stored_tubes_and_boxes(ROUNDS)
        freezers = db.session.scalars(
            sa.select(Container.id).where(Container.kind == ContainerKind.FREEZER)
        ).all()
        shipment_ids = db.session.scalars(
            sa.select(Shipment.id).order_by(sa.func.random()).limit(ROUNDS)
        ).all()
        with unit_of_work():
            token, _ = accounts.issue_token(accounts.get_user("coordinator"), hours=4)
        db.session.remove()
        api_headers = {"Authorization": f"Bearer {token}"}
        clients = {}
        for role in ("collector", "technician", "coordinator", "admin"):
            client = app.test_client()
            form = csrf_token_from(client.get("/login").get_data(as_text=True))
            client.post(
                "/login", data={"username": role, "password": DEMO_PASSWORD, "csrf_token": form}
            )
            clients[role] = client
        api = app.test_client()
        tech, coord = clients["technician"], clients["coordinator"]

        def page(name: str, client, paths: list[str], headers=None, rounds: int = ROUNDS):
            figures.p95(name, timings(client, paths, headers, rounds=rounds), PERSON_WAITS)

        figures.p95(
            "look-up by barcode (GET /api/v1/samples/<barcode>)",
            timings(api, [f"/api/v1/samples/{b}" for b in stored], api_headers, rounds=ROUNDS),
            "<= 10 ms",
        )
        figures.p95(
            "custody inclusion proof (GET /api/v1/samples/<barcode>/custody-proof)",
            timings(
                api,
                [f"/api/v1/samples/{b}/custody-proof" for b in stored],
                api_headers,
                rounds=ROUNDS,
            ),
            "<= 50 ms",
        )
        page("sample page (/samples/<barcode>)", tech, [f"/samples/{b}" for b in stored])
        page("box grid page (/storage/boxes/<id>)", tech, [f"/storage/boxes/{b}" for b in boxes])
        page(
            "freezer page (/storage/freezers/<id>)",
            tech,
            [f"/storage/freezers/{f}" for f in freezers],
            rounds=10,
        )
        page("storage page (/storage/)", tech, ["/storage/"], rounds=10)
        page("shipment page (/shipments/<id>)", coord, [f"/shipments/{s}" for s in shipment_ids])
        page(
            "shipments list, received tab (/shipments?status=received)",
            coord,
            ["/shipments?status=received"],
            rounds=20,
        )
        page(
            "shipments list, all, page 3 (/shipments?status=all&page=3)",
            coord,
            ["/shipments?status=all&page=3"],
            rounds=20,
        )
        page(
            "collections list, finalized tab",
            clients["collector"],
            ["/collections?status=finalized"],
            rounds=20,
        )
        page(
            "samples list API, stored at a site (/api/v1/samples?status=stored&site=UCSD-01)",
            api,
            ["/api/v1/samples?status=stored&site=UCSD-01"],
            api_headers,
            rounds=20,
        )
        page(
            "samples list API, one tube type, page 5 (/api/v1/samples?tube_type=1SST8&page=5)",
            api,
            ["/api/v1/samples?tube_type=1SST8&page=5"],
            api_headers,
            rounds=20,
        )
        page(
            "shipments list API, 5 a page (/api/v1/shipments?status=received&per_page=5)",
            api,
            ["/api/v1/shipments?status=received&per_page=5"],
            api_headers,
            rounds=20,
        )
        seconds = app.config["BIOBANK_FIGURE_CACHE_SECONDS"]
        for cache in ("on", "off"):
            app.config["BIOBANK_FIGURE_CACHE_SECONDS"] = seconds if cache == "on" else 0
            forget_all()
            for role, client in clients.items():
                page(
                    f"{role} dashboard, figure cache {cache}",
                    client,
                    ["/"],
                    rounds=20 if cache == "on" else 10,
                )
        app.config["BIOBANK_FIGURE_CACHE_SECONDS"] = 0  # reports: every figure fresh
        for report in (
            "overdue",
            "discrepancies",
            "occupancy",
            "processing-deviations",
            "collection-to-freezer",
            "disposals",
            "slow-shipments",
        ):
            figures.median(
                f"{report} report (GET /api/v1/reports/{report})",
                timings(api, [f"/api/v1/reports/{report}"], api_headers, rounds=7),
                REPORT,
            )
        for report in (
            "overdue",
            "discrepancies",
            "slow-shipments",
            "processing",
            "collection-to-freezer",
            "occupancy",
            "disposals",
        ):
            figures.median(
                f"{report} report page (/reports/{report})",
                timings(coord, [f"/reports/{report}"], rounds=7),
                REPORT,
            )
        app.config["BIOBANK_FIGURE_CACHE_SECONDS"] = seconds
        db.session.remove()


def _audit_verify(app, figures: Figures) -> None:
    """A checkpoint, then N more events through the app's own bulk writer, sequenced; then
    `flask biobank audit-verify --checkpoint FILE` (the command, in process) timed."""
    from biobank.sequencer import sequence_pending
    from biobank.services.admin.demo import seed_scale
    from biobank.services.core import custody_log
    from biobank.unit_of_work import unit_of_work

    folder = Path(tempfile.mkdtemp(prefix="biobank-scale-checkpoint-"))
    runner = app.test_cli_runner()
    for added in ADDED_EVENTS:
        with app.app_context():
            sequence_pending(wait=True)
            note = custody_log.signed_checkpoint().note
            path = folder / f"checkpoint-{added}.txt"
            path.write_text(note)
            # Each stored tube writes about three events (received, stored, its share of
            # finalized and dispatched).
            with unit_of_work():
                seed_scale(max(1, added // 3))
            sequence_pending(wait=True)
            seen = []
            for _ in range(3):
                start = time.perf_counter()
                result = runner.invoke(args=["biobank", "audit-verify", "--checkpoint", str(path)])
                seen.append(time.perf_counter() - start)
                assert result.exit_code == 0, result.output
            figures.median(
                f"audit-verify --checkpoint FILE, about {added:,} events added since it",
                seen,
                "grows with events added, not with the log",
            )


def _app(url: str):
    app = migrated_app(url, env="development")
    # The bench sequences on its own schedule: no background sequencer between requests.
    app.config["BIOBANK_SEQUENCER_INTERVAL"] = 0
    key_folder = Path(tempfile.mkdtemp(prefix="biobank-scale-key-"))
    app.config["BIOBANK_LOG_KEY_FILE"] = str(key_folder / "log.key")
    return app


def run(measure: Callable[..., None] = _measure) -> list[dict]:
    from biobank.services.admin.demo import seed_demo
    from biobank.unit_of_work import unit_of_work

    url = _database()
    app = _app(url)
    with app.app_context(), unit_of_work():
        seed_demo()
    by_size: list[tuple[int, Figures]] = []
    for size in SIZES:
        print(f"growing to {size:,} stored tubes …", flush=True)
        figures = Figures()
        _grow(app, size, figures)
        measure(app, figures)
        _audit_verify(app, figures)
        by_size.append((size, figures))
    (first, baseline), (last, final) = by_size[0], by_size[-1]
    from biobank.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    rows = []
    for name, (value, unit, target) in final.values.items():
        before = baseline.values.get(name)
        ratio = round(value / before[0], 2) if before and before[0] else None
        rows.append(
            {
                "figure": f"PostgreSQL, {last:,} tubes (baseline {first:,}): {name}",
                "value": value,
                "unit": unit,
                "target": target,
                "baseline": None if before is None else before[0],
                "ratio": ratio,
            }
        )
    return rows


def measure_existing() -> Figures:
    """Every figure of the database as it is now, with this checkout's code: no seeding, no
    rebuilt schema (migrated to this checkout's newest revision first). For measuring a fix
    against the figures of a run that took an hour to seed."""
    from flask_migrate import upgrade

    from biobank import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": os.environ.get("BIOBANK_SCALE_DATABASE_URL", DEFAULT_URL),
            "BIOBANK_ENV": "development",
            "BIOBANK_LOGIN_LIMIT": "100000 per minute",
        }
    )
    app.config["BIOBANK_SEQUENCER_INTERVAL"] = 0
    app.config["BIOBANK_LOG_KEY_FILE"] = str(
        Path(tempfile.mkdtemp(prefix="biobank-scale-key-")) / "log.key"
    )
    with app.app_context():
        upgrade()
    figures = Figures()
    _measure(app, figures)
    return figures


if __name__ == "__main__":
    # python -m bench.bench_scale10m --existing: measure the database a run left, again.
    if "--existing" in sys.argv:
        measure_existing()
    else:
        for result in run():
            print(result)

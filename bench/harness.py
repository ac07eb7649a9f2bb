"""The app on a real database for benchmarks: a fresh SQLite file and PostgreSQL.

PostgreSQL comes from ``BIOBANK_BENCH_DATABASE_URL`` (default: database ``biobank_bench`` on
127.0.0.1:5432, created if missing). Its ``public`` schema is rebuilt for every benchmark.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/biobank_bench"
PASSWORD = "bench-password-2026"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def median_time(work: Callable[[], object], repeats: int = 5) -> float:
    return statistics.median(timed(work) for _ in range(repeats))


def created_if_missing(url: str) -> str:
    """``url``, its database created first if the server has none of that name."""
    name = sa.make_url(url).database
    engine = sa.create_engine(
        sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            exists = connection.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return url


def postgres_url() -> str | None:
    try:
        return created_if_missing(os.environ.get("BIOBANK_BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    except sa.exc.OperationalError:
        return None


def timings(client, paths: list[str], headers=None, *, rounds: int) -> list[float]:
    """Seconds per GET, ``rounds`` of them over ``paths`` in turn, after a few to warm up.

    Each request gets a session of its own, as under a server: inside the caller's app
    context the test client would otherwise share one, and a page would find the records
    an earlier request loaded already in it."""
    from flask import has_app_context

    from biobank.extensions import db

    for path in paths[:3]:
        client.get(path, headers=headers)  # warm caches and connections
    seen = []
    for index in range(rounds):
        path = paths[index % len(paths)]
        if has_app_context():
            db.session.remove()
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        seen.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    return seen


def databases() -> Iterator[tuple[str, str]]:
    """("SQLite", url) and, when reachable, ("PostgreSQL", url)."""
    folder = Path(tempfile.mkdtemp(prefix="biobank-bench-"))
    yield "SQLite", f"sqlite:///{folder / 'bench.sqlite3'}"
    url = postgres_url()
    if url:
        yield "PostgreSQL", url
    else:
        print("PostgreSQL is not reachable: its figures are left out of this run.")


@dataclass
class Cast:
    collector: object
    technician: object
    coordinator: object


def migrated_app(url: str, env: str = "testing"):
    """The app on an empty database (PostgreSQL: its public schema rebuilt), migrated to the
    newest revision, with the catalogue loaded. Returned inside no app context."""
    from flask_migrate import upgrade

    from biobank import create_app
    from biobank.services.core.catalogue import load_catalogue
    from biobank.unit_of_work import unit_of_work

    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "BIOBANK_ENV": env,
            "BIOBANK_LOGIN_LIMIT": "100000 per minute",
        }
    )
    with app.app_context():
        upgrade()
        with unit_of_work():
            load_catalogue()
    return app


@contextmanager
def bench_app(url: str) -> Iterator[tuple[object, Cast]]:
    """A migrated, empty database with the catalogue, two sites and one user per role."""
    from biobank.extensions import db
    from biobank.models import Role, SiteKind
    from biobank.services.core import accounts, sites
    from biobank.unit_of_work import unit_of_work

    app = migrated_app(url)
    with app.app_context():
        with unit_of_work():
            clinic = sites.create_site(
                code="UCSD-01",
                name="UC San Diego Health",
                kind=SiteKind.COLLECTION,
                timezone="America/Los_Angeles",
            )
            bank = sites.create_site(
                code="MAYO-BB",
                name="Mayo Clinic Biobank",
                kind=SiteKind.BIOBANK,
                timezone="America/Chicago",
            )
            cast = Cast(
                *(
                    accounts.create_user(
                        username=name,
                        full_name=name.title(),
                        role=role,
                        site=site,
                        password=PASSWORD,
                    )
                    for name, role, site in (
                        ("collector", Role.COLLECTOR, clinic),
                        ("technician", Role.TECHNICIAN, bank),
                        ("coordinator", Role.COORDINATOR, bank),
                    )
                )
            )
        try:
            yield app, cast
        finally:
            db.session.remove()
            db.engine.dispose()


def bearer(user) -> dict[str, str]:
    from biobank.services.core import accounts
    from biobank.unit_of_work import unit_of_work

    with unit_of_work():
        token, _ = accounts.issue_token(user, hours=2)
    return {"Authorization": f"Bearer {token}"}


def finalized_tubes(collector, count: int) -> list[str]:
    """``count`` finalized tubes, through the real services, ten tube types per collection."""
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.services.collecting import collections
    from biobank.unit_of_work import unit_of_work

    codes = [
        "1HEP4",
        "1ED04",
        "1ED10",
        "2ED10",
        "1ED02",
        "1CFD9",
        "1PXR2",
        "1UR10",
        "1UR90",
        "1SAL2",
    ]
    barcodes: list[str] = []
    drawn = utcnow() - timedelta(hours=3)
    number = 100_000_000
    while len(barcodes) < count:
        wanted = codes[: min(len(codes), count - len(barcodes))]
        number += 1
        with unit_of_work():
            collection = collections.start_collection(
                collector, participant_id=f"P{number}", tube_types=wanted
            )
            for sample in collection.samples:
                collections.record_collected(collector, collection, sample.barcode, drawn)
            collections.finalize_collection(collector, collection, at=drawn + timedelta(hours=1))
            barcodes += [s.barcode for s in collection.samples]
    return barcodes


def dispatched(collector, barcodes: list[str]):
    from biobank.services.shipping import sending
    from biobank.unit_of_work import unit_of_work

    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for barcode in barcodes:
            sending.pack_sample(collector, shipment, barcode)
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )
    return shipment.id


def random_stored_tubes_and_boxes(count: int) -> tuple[list[str], list[int]]:
    """``count`` stored tubes' barcodes and ``count`` boxes' ids, picked at random (inside an
    app context): what a scale run looks up."""
    from biobank.extensions import db
    from biobank.models import Container, ContainerKind, Sample, SampleStatus

    barcodes = db.session.scalars(
        sa.select(Sample.barcode)
        .where(Sample.status == SampleStatus.STORED)
        .order_by(sa.func.random())
        .limit(count)
    ).all()
    boxes = db.session.scalars(
        sa.select(Container.id)
        .where(Container.kind == ContainerKind.BOX)
        .order_by(sa.func.random())
        .limit(count)
    ).all()
    return list(barcodes), list(boxes)

"""Fixtures from the app factory, on SQLite by default or PostgreSQL when
``BIOBANK_TEST_DATABASE_URL`` is set. Every test gets a clean, migrated database with the
catalogue loaded; data is built through the services so tests exercise the real rules.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from biobank import create_app
from biobank.config import normalise_database_url
from biobank.extensions import db
from biobank.models import Role, Site, SiteKind, User
from biobank.services.core import accounts, sites
from biobank.services.core.catalogue import load_catalogue
from biobank.unit_of_work import unit_of_work

POSTGRES_URL = os.environ.get("BIOBANK_TEST_DATABASE_URL")
ON_POSTGRES = bool(POSTGRES_URL)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct-staple-battery-7"
# The test biobank keeps its calendar here: tests that count days count in this zone.
BIOBANK_TIMEZONE = "America/Chicago"
# One custody-log signing key for the whole run (created on first use, as in development).
LOG_KEY_FILE = Path(tempfile.gettempdir()) / f"biobank-test-log-{os.getpid()}.key"


def base_config(database_url: str) -> dict[str, Any]:
    pool = (
        # Races run sixteen racers and two sequencers beside the test's own session.
        {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 4}}
        if database_url.startswith("postgresql")
        else {}
    )
    return {
        **pool,
        "TESTING": True,
        "BIOBANK_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BIOBANK_PASSWORD_HASHING": "fast",
        # Throttling has its own tests; elsewhere many logins come from one test address.
        "BIOBANK_LOGIN_LIMIT": "10000 per minute",
        # Tests change data between two views of a dashboard; the cache has its own tests.
        "BIOBANK_FIGURE_CACHE_SECONDS": 0,
        # Tests sequence the custody log themselves when they need it in the tree.
        "BIOBANK_SEQUENCER_INTERVAL": 0,
        "BIOBANK_LOG_KEY_FILE": str(LOG_KEY_FILE),
        "SERVER_NAME": None,
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(
        reason="runs on PostgreSQL only (concurrency, plans, server settings): set "
        "BIOBANK_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _migrate(database_url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade()
        with unit_of_work():
            load_catalogue()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a SQLite file to copy, or the PostgreSQL schema itself."""
    if ON_POSTGRES:
        url = normalise_database_url(POSTGRES_URL or "")
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
        _migrate(url)
        return url
    template = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(f"sqlite:///{template}")
    return str(template)


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as connection:
        # The custody log refuses TRUNCATE by trigger; a test database's owner empties it
        # with triggers off for this one statement (replica mode fires no ordinary trigger).
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        _truncate_all(database_template)
        return database_template
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(base_config(database_url))
    with app.app_context():
        if ON_POSTGRES:
            with unit_of_work():
                load_catalogue()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- domain fixtures, built through the services ---------------------------------------------


@pytest.fixture
def make_site(app: Flask) -> Callable[..., Site]:
    def make(code: str, kind: SiteKind = SiteKind.COLLECTION, tz: str = "America/Chicago") -> Site:
        with unit_of_work():
            return sites.create_site(code=code, name=f"{code} site", kind=kind, timezone=tz)

    return make


@pytest.fixture
def clinic(make_site: Callable[..., Site]) -> Site:
    return make_site("UCSD-01", SiteKind.COLLECTION, "America/Los_Angeles")


@pytest.fixture
def other_clinic(make_site: Callable[..., Site]) -> Site:
    return make_site("BWH-01", SiteKind.COLLECTION, "America/New_York")


@pytest.fixture
def biobank_site(make_site: Callable[..., Site]) -> Site:
    return make_site("MAYO-BB", SiteKind.BIOBANK, BIOBANK_TIMEZONE)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    def make(username: str, role: Role, site: Site) -> User:
        with unit_of_work():
            return accounts.create_user(
                username=username,
                full_name=username.replace(".", " ").title(),
                role=role,
                site=site,
                password=PASSWORD,
            )

    return make


@pytest.fixture
def collector(make_user, clinic) -> User:
    return make_user("collector", Role.COLLECTOR, clinic)


@pytest.fixture
def other_collector(make_user, other_clinic) -> User:
    return make_user("collector.bwh", Role.COLLECTOR, other_clinic)


@pytest.fixture
def technician(make_user, biobank_site) -> User:
    return make_user("technician", Role.TECHNICIAN, biobank_site)


@pytest.fixture
def coordinator(make_user, biobank_site) -> User:
    return make_user("coordinator", Role.COORDINATOR, biobank_site)


@pytest.fixture
def admin(make_user, biobank_site) -> User:
    return make_user("admin", Role.ADMIN, biobank_site)


@pytest.fixture
def auth_headers(app: Flask) -> Callable[[User], dict[str, str]]:
    """Bearer-token headers for a user (the token is issued through the real service)."""

    def headers(user: User) -> dict[str, str]:
        with unit_of_work():
            token, _ = accounts.issue_token(user, hours=1, name="test")
        return {"Authorization": f"Bearer {token}"}

    return headers


def csrf_token_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Log a user in through the real form, CSRF token included."""

    def do_login(user: User, password: str = PASSWORD) -> FlaskClient:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": user.username,
                "password": password,
                "csrf_token": csrf_token_from(page.get_data(as_text=True)),
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do_login


@pytest.fixture
def start_collection(app):
    """Start a collection through the real service (baseline kit unless told otherwise)."""
    from biobank.services.collecting import collections

    def start(actor: User, participant_id: str = "P123456789", **kwargs):
        if "tube_types" not in kwargs and "claim_barcode" not in kwargs:
            kwargs.setdefault("kit", "BASELINE-ADULT")
        with unit_of_work():
            return collections.start_collection(actor, participant_id=participant_id, **kwargs)

    return start


@pytest.fixture
def finalized_collection(app, start_collection):
    """A collection with every tube collected, SST/PST processed, and finalized, an hour ago."""
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.services.collecting import collections

    def make(actor: User, participant_id: str = "P123456789", **kwargs):
        collection = start_collection(actor, participant_id, **kwargs)
        drawn = utcnow() - timedelta(hours=2)
        with unit_of_work():
            for sample in collection.samples:
                collections.record_collected(actor, collection, sample.barcode, drawn)
                if sample.tube_type.requires_processing:
                    collections.record_processed(
                        actor, collection, sample.barcode, drawn + timedelta(minutes=45)
                    )
            collections.finalize_collection(actor, collection, at=drawn + timedelta(hours=1))
        return collection

    return make


@pytest.fixture
def dispatched_shipment(app, finalized_collection, biobank_site):
    """A clinic's finalized tubes packed and dispatched to the biobank (refrigerated, FedEx)."""
    from biobank.services.shipping import sending

    def make(actor: User, destination: str = "MAYO-BB", **collection_kwargs):
        collection = finalized_collection(actor, **collection_kwargs)
        with unit_of_work():
            shipment = sending.open_shipment(
                actor, destination=destination, temperature="refrigerated"
            )
            for sample in collection.samples:
                sending.pack_sample(actor, shipment, sample.barcode)
            sending.dispatch_shipment(
                actor,
                shipment,
                carrier="fedex",
                tracking_number="123456789012",
                signature_password=PASSWORD,
            )
        return shipment

    return make


@pytest.fixture
def received_tubes(app, technician, dispatched_shipment):
    """Tubes collected at the clinic, shipped, and scanned in at the biobank (not yet stored)."""
    from biobank.services.shipping import receiving

    def make(collector: User, **collection_kwargs):
        shipment = dispatched_shipment(collector, **collection_kwargs)
        with unit_of_work():
            for item in shipment.items:
                receiving.receive_scan(technician, shipment, item.sample.barcode)
            receiving.close_receipt(
                technician, shipment, condition="good", signature_password=PASSWORD
            )
        return [item.sample for item in shipment.items]

    return make


@pytest.fixture
def freezer(app, technician):
    """A -80 °C freezer with a shelf holding two 9 x 9 boxes, built through the service."""
    from biobank.services.storage import freezer_tree

    with unit_of_work():
        unit = freezer_tree.create_freezer(technician, name="Freezer 1", temperature_c=-80)
        shelf = freezer_tree.create_container(
            technician, parent_id=unit.id, kind="shelf", name="Shelf 1"
        )
        for name in ("Box 1", "Box 2"):
            freezer_tree.create_container(
                technician, parent_id=shelf.id, kind="box", name=name, rows=9, cols=9
            )
    return unit


@pytest.fixture
def boxes(freezer):
    from biobank.models import Container, ContainerKind

    return list(
        db.session.scalars(
            sa.select(Container).where(Container.kind == ContainerKind.BOX).order_by(Container.id)
        )
    )

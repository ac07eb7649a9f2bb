from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from biobank.extensions import db
from biobank.services.core.catalogue import load_catalogue
from biobank.unit_of_work import unit_of_work
from tests.conftest import ON_POSTGRES


def test_migrations_at_head_match_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_database_is_at_the_single_head_revision(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    migrate: Migrate = app.extensions["migrate"]
    config = migrate.migrate.get_config(migrate.directory)
    heads = ScriptDirectory.from_config(config).get_heads()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert len(heads) == 1
    assert tuple(current) == tuple(heads)


MERKLE_LOG_REVISION = "502b29c9255d"
BEFORE_MERKLE_LOG = "3c5e9a1f7d20"


def _migration_module(revision: str):
    import importlib.util
    from pathlib import Path

    path = next((Path(__file__).parents[2] / "migrations" / "versions").glob(f"*_{revision}_*"))
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def old_database_url(tmp_path):
    """A database of its own to take through the migrations: a SQLite file, or a fresh
    PostgreSQL database beside the test one."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    import sqlalchemy as sa

    from biobank.config import normalise_database_url
    from tests.conftest import POSTGRES_URL

    base = sa.engine.make_url(normalise_database_url(POSTGRES_URL))
    name = f"{base.database}_upgrade"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _old_chain(count: int, *, break_at: int | None = None):
    """Events as the hash-chained revisions wrote them: a site, a tube and ``count`` events."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    import sqlalchemy as sa

    migration = _migration_module(MERKLE_LOG_REVISION)
    connection = db.session.connection()
    connection.execute(
        sa.text(
            "INSERT INTO sites (id, code, name, kind, timezone, active, created_at) "
            "VALUES (1, 'OLD-01', 'Old site', 'biobank', 'UTC', true, :now)"
        ),
        {"now": datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None)},
    )
    tube_type = connection.scalar(sa.text("SELECT id FROM tube_types ORDER BY id LIMIT 1"))
    connection.execute(
        sa.text(
            "INSERT INTO samples (id, barcode, tube_type_id, site_id, custody_site_id, status, "
            "freeze_thaw_count, created_at) VALUES (1, '7KQ2M9XD3E', :tube, 1, 1, 'stored', 0, "
            ":now)"
        ),
        {"tube": tube_type, "now": datetime(2026, 11, 1)},
    )
    previous = "0" * 64
    for index in range(count):
        at = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=index)
        content = {
            "type": "flagged",
            "at": at,
            "actor_id": None,
            "site_id": 1,
            "sample_id": 1,
            "collection_id": None,
            "shipment_id": None,
            "container_id": None,
            "reason": None,
            "details": {"n": index},
        }
        own = migration._chain_hash(SimpleNamespace(**content), previous)
        if index == break_at:
            content["details"] = {"n": "altered"}
        connection.execute(
            sa.insert(migration.events).values(
                id=index + 1, prev_hash=previous, hash=own, **content
            )
        )
        previous = own
    db.session.commit()


def _app_at(url: str, revision: str):
    from flask_migrate import upgrade

    from biobank import create_app
    from tests.conftest import base_config

    app = create_app(base_config(url))
    with app.app_context():
        upgrade(revision=revision)
        with unit_of_work():
            load_catalogue()
    return app


def test_upgrading_keeps_recorded_custody_events(old_database_url):
    """Stop before the Merkle log, record a hash-chained history, upgrade to head: every event
    kept with its content, given its leaf, sequenced in its old order, verified, and the log
    still append-only."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from biobank.models import Event
    from biobank.sequencer import sequence_pending
    from biobank.services.core.custody_log import verify_chain

    app = _app_at(old_database_url, BEFORE_MERKLE_LOG)
    with app.app_context():
        _old_chain(40)
        upgrade()  # to head
        db.session.remove()
        events = db.session.scalars(sa.select(Event).order_by(Event.id)).all()
        assert [e.details for e in events] == [{"n": n} for n in range(40)]
        assert all(e.recorded_at == e.at for e in events)
        report = verify_chain()
        assert report.intact, report.first_break
        assert (report.checked, report.pending) == (40, 40)
        assert sequence_pending() == 40
        ordered = db.session.scalars(sa.select(Event.id).order_by(Event.log_index)).all()
        assert ordered == list(range(1, 41))
        assert verify_chain().intact
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text("DELETE FROM events"))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_upgrading_refuses_to_launder_a_broken_chain(old_database_url, caplog):
    """An altered history is not signed into the new log: the upgrade stops, says where the
    chain broke, and leaves the database at its old revision."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    app = _app_at(old_database_url, BEFORE_MERKLE_LOG)
    with app.app_context():
        _old_chain(5, break_at=2)
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits 1
            upgrade()
        assert "the chain of custody is broken at event 3" in caplog.text
        db.session.remove()
        revision = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert revision == BEFORE_MERKLE_LOG
        assert db.session.scalar(sa.text("SELECT count(*) FROM events")) == 5
        db.session.remove()
        db.engine.dispose()


def test_downgrading_rebuilds_the_hash_chain(old_database_url):
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    app = _app_at(old_database_url, BEFORE_MERKLE_LOG)
    with app.app_context():
        _old_chain(6)
        before = db.session.execute(sa.text("SELECT id, hash FROM events ORDER BY id")).all()
        # End the read first: its open transaction holds a lock on events that the
        # migration's ALTER TABLE would wait for forever on PostgreSQL.
        db.session.remove()
        upgrade()
        downgrade(revision=BEFORE_MERKLE_LOG)
        db.session.remove()
        after = db.session.execute(sa.text("SELECT id, hash FROM events ORDER BY id")).all()
        assert after == before
        db.session.remove()
        db.engine.dispose()


BEFORE_BOX_FILLS = "989fc00d484e"


def test_upgrading_counts_every_box_fill_and_downgrading_drops_it(old_database_url):
    """Positions written before the kept fills existed are counted by the upgrade; from then on
    the triggers keep the count; a downgrade leaves the positions as they were."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    app = _app_at(old_database_url, BEFORE_BOX_FILLS)
    with app.app_context():
        connection = db.session.connection()
        connection.execute(
            sa.text(
                "INSERT INTO sites (id, code, name, kind, timezone, active, created_at) "
                "VALUES (1, 'OLD-01', 'Old site', 'biobank', 'UTC', true, '2026-11-01')"
            )
        )
        for id_, parent, kind, rows in ((1, None, "freezer", None), (2, 1, "box", 9)):
            connection.execute(
                sa.text(
                    "INSERT INTO containers (id, site_id, parent_id, kind, name, rows, cols, "
                    "active, created_at) VALUES (:id, 1, :parent, :kind, :name, :rows, :rows, "
                    "true, '2026-11-01')"
                ),
                {"id": id_, "parent": parent, "kind": kind, "name": f"C{id_}", "rows": rows},
            )
        for col in (1, 2, 3):
            connection.execute(
                sa.text(
                    "INSERT INTO storage_positions (box_id, row, col, stored_at) "
                    "VALUES (2, 1, :col, '2026-11-02')"
                ),
                {"col": col},
            )
        db.session.commit()
        db.session.remove()
        upgrade()
        db.session.remove()
        fills = "SELECT box_id, used FROM box_fills ORDER BY box_id"
        assert db.session.execute(sa.text(fills)).all() == [(2, 3)]
        freezers = "SELECT id, freezer_id FROM containers ORDER BY id"
        assert db.session.execute(sa.text(freezers)).all() == [(1, None), (2, 1)]
        db.session.execute(sa.text("DELETE FROM storage_positions WHERE col = 3"))
        db.session.commit()
        assert db.session.execute(sa.text(fills)).all() == [(2, 2)]
        db.session.remove()
        downgrade(revision=BEFORE_BOX_FILLS)
        db.session.remove()
        assert db.session.scalar(sa.text("SELECT count(*) FROM storage_positions")) == 2
        assert "box_fills" not in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()


BEFORE_ARRIVED_ELSEWHERE = "2f6c1d8e5a47"


def _old_sample(site, status: str):
    """A tube written with the columns every revision has (the model may have more than the
    older schema under test)."""
    from types import SimpleNamespace

    import sqlalchemy as sa

    from biobank.services.core import ids

    tube_type = db.session.scalar(sa.text("SELECT id FROM tube_types ORDER BY id LIMIT 1"))
    sample_id = db.session.execute(
        sa.text(
            "INSERT INTO samples (barcode, tube_type_id, site_id, custody_site_id, status, "
            "freeze_thaw_count, created_at) VALUES (:barcode, :tube, :site, :site, :status, 0, "
            "CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"barcode": ids.new_sample_id(), "tube": tube_type, "site": site.id, "status": status},
    ).scalar_one()
    return SimpleNamespace(id=sample_id)


def test_upgrading_says_where_a_tube_packed_in_the_wrong_box_arrived(old_database_url):
    """A receipt written before ``arrived_elsewhere`` existed waited for a tube that had been
    received in another shipment (or called it missing): the upgrade puts that right, and the
    downgrade leaves it waiting, as the older code did."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from biobank.models import Role, Shipment, ShipmentItem, SiteKind
    from biobank.services.core import accounts, ids, sites
    from tests.conftest import PASSWORD

    app = _app_at(old_database_url, BEFORE_ARRIVED_ELSEWHERE)
    with app.app_context():
        with unit_of_work():
            clinic = sites.create_site(
                code="OLD-01", name="Old clinic", kind=SiteKind.COLLECTION, timezone="UTC"
            )
            bank = sites.create_site(
                code="OLD-BB", name="Old bank", kind=SiteKind.BIOBANK, timezone="UTC"
            )
            user = accounts.create_user(
                username="old", full_name="Old", role=Role.COLLECTOR, site=clinic, password=PASSWORD
            )
            stray, missing, lost = (
                _old_sample(clinic, "received"),
                _old_sample(clinic, "received"),
                _old_sample(clinic, "missing"),
            )
            own, other = (
                Shipment(
                    manifest_number=ids.new_prefixed_code(ids.MANIFEST_PREFIX),
                    origin_site_id=clinic.id,
                    destination_site_id=bank.id,
                    temperature="refrigerated",
                    status=status,
                    created_by_id=user.id,
                )
                for status in ("in_transit", "received_with_discrepancies")
            )
            db.session.add_all([own, other])
            db.session.flush()
            rows = [
                # (shipment, tube, manifested, outcome)
                (own, stray, True, None),  # waited for: it arrived in the other shipment
                (other, stray, False, "unexpected"),
                (other, missing, True, "missing"),  # called missing: it arrived in own
                (own, missing, False, "unexpected"),
                (other, lost, True, "missing"),  # really missing: stays so
            ]
            for shipment, sample, manifested, outcome in rows:
                db.session.add(
                    ShipmentItem(
                        shipment_id=shipment.id,
                        sample_id=sample.id,
                        manifested=manifested,
                        outcome=outcome,
                        added_by_id=user.id,
                    )
                )
            own_id, other_id = own.id, other.id
            stray_id, missing_id, lost_id = stray.id, missing.id, lost.id
        outcomes = sa.text(
            "SELECT shipment_id, sample_id, outcome FROM shipment_items "
            "WHERE manifested ORDER BY shipment_id, sample_id"
        )
        db.session.remove()
        upgrade()
        assert db.session.execute(outcomes).all() == [
            (own_id, stray_id, "arrived_elsewhere"),
            (other_id, missing_id, "arrived_elsewhere"),
            (other_id, lost_id, "missing"),
        ]
        db.session.remove()
        downgrade(revision=BEFORE_ARRIVED_ELSEWHERE)
        assert db.session.execute(outcomes).all() == [
            (own_id, stray_id, None),
            (other_id, missing_id, None),
            (other_id, lost_id, "missing"),
        ]
        with pytest.raises(sa.exc.IntegrityError):  # the older schema refuses the new outcome
            db.session.execute(sa.text("UPDATE shipment_items SET outcome = 'arrived_elsewhere'"))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


BEFORE_CANCELLED_SHIPMENTS = "bfcdd49cb91e"


def test_upgrading_to_cancellable_outbound_shipments_keeps_every_packed_tube(old_database_url):
    """Outbound shipments become cancellable: the upgrade rebuilds their table (on SQLite, with
    the packed tubes that refer to it set aside and put back), so a shipment and its tubes
    survive it; the request may then hold a cancelled shipment beside its live one, and
    still not two live ones. The downgrade forgets the cancelled ones only."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from biobank.models import Role, SiteKind
    from biobank.services.core import accounts, sites
    from tests.conftest import PASSWORD

    app = _app_at(old_database_url, BEFORE_CANCELLED_SHIPMENTS)
    with app.app_context():
        with unit_of_work():
            bank = sites.create_site(
                code="OLD-BB", name="Old bank", kind=SiteKind.BIOBANK, timezone="UTC"
            )
            user = accounts.create_user(
                username="old", full_name="Old", role=Role.TECHNICIAN, site=bank, password=PASSWORD
            )
            tubes = [_old_sample(bank, "checked_out").id for _ in range(3)]
            now = {"site": bank.id, "user": user.id}
            user_id = user.id
            protocol = db.session.execute(
                sa.text(
                    "INSERT INTO distribution_protocols (site_id, title, approval_number, "
                    "approval_expires_on, institution, institution_address, responsible_person, "
                    "status, created_by_id, created_at) VALUES (:site, 'Study', 'IRB-1', "
                    "'2030-01-01', 'Uni', '1 Way', 'Dr A', 'open', :user, CURRENT_TIMESTAMP) "
                    "RETURNING id"
                ),
                now,
            ).scalar_one()
            request = db.session.execute(
                sa.text(
                    "INSERT INTO distribution_requests (protocol_id, specimen, "
                    "participants_wanted, tubes_per_participant, min_volume_ml, "
                    "max_freeze_thaw, collected_from, collected_to, status, recorded_by_id, "
                    "created_at) VALUES (:protocol, 'serum', 1, 3, 0, 2, '2026-01-01', "
                    "'2026-12-01', 'picking', :user, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {**now, "protocol": protocol},
            ).scalar_one()
            shipment = db.session.execute(
                sa.text(
                    "INSERT INTO distribution_shipments (request_id, institution, address, "
                    "responsible_person, status, created_by_id, created_at) VALUES (:request, "
                    "'Uni', '1 Way', 'Dr A', 'open', :user, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {**now, "request": request},
            ).scalar_one()
            for tube in tubes:
                db.session.execute(
                    sa.text(
                        "INSERT INTO distribution_shipment_items (shipment_id, sample_id, "
                        "pseudonym, packed_at, packed_by_id) VALUES (:shipment, :tube, "
                        "'SP-1', CURRENT_TIMESTAMP, :user)"
                    ),
                    {**now, "shipment": shipment, "tube": tube},
                )
        packed = sa.text(
            "SELECT shipment_id, sample_id FROM distribution_shipment_items ORDER BY sample_id"
        )
        before = db.session.execute(packed).all()
        assert len(before) == 3
        db.session.remove()
        upgrade()
        db.session.remove()
        assert db.session.execute(packed).all() == before
        assert (
            db.session.scalar(
                sa.text("SELECT status FROM distribution_shipments WHERE id = :id"),
                {"id": shipment},
            )
            == "open"
        )

        def another(status: str, cancelled: bool) -> None:
            db.session.execute(
                sa.text(
                    "INSERT INTO distribution_shipments (request_id, institution, address, "
                    "responsible_person, status, created_by_id, created_at, cancelled_at) "
                    "VALUES (:request, 'Uni', '1 Way', 'Dr A', :status, :user, "
                    "CURRENT_TIMESTAMP, " + ("CURRENT_TIMESTAMP" if cancelled else "NULL") + ")"
                ),
                {"request": request, "status": status, "user": user_id},
            )

        another("cancelled", True)  # a cancelled one beside the live one
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            another("open", False)  # never two live ones
            db.session.commit()
        db.session.rollback()
        with pytest.raises(sa.exc.IntegrityError):
            another("cancelled", False)  # a cancel has its time
            db.session.commit()
        db.session.rollback()
        db.session.remove()
        downgrade(revision=BEFORE_CANCELLED_SHIPMENTS)
        db.session.remove()
        assert db.session.execute(packed).all() == before
        assert db.session.scalar(sa.text("SELECT count(*) FROM distribution_shipments")) == 1
        db.session.remove()
        db.engine.dispose()

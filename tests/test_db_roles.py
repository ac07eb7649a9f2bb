"""Two PostgreSQL roles: the app's role, granted by the owner with ``grant-app-role``, does the
app's work but cannot cut, edit, truncate, switch off the triggers of, or drop the custody
log (the owner could)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank import create_app
from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import Event, User
from biobank.sequencer import sequence_pending
from biobank.services.collecting import collections
from biobank.services.core.custody_log import verify_chain
from biobank.unit_of_work import unit_of_work
from tests.conftest import ON_POSTGRES, base_config


def _admin(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def make_role(database_url: str) -> Iterator:
    """Roles named biobank_test_…_<random>, with LOGIN (the test server trusts local
    connections); dropped afterwards with whatever was granted to them."""
    made: list[str] = []

    def make(kind: str = "app", options: str = "LOGIN") -> str:
        role = f"biobank_test_{kind}_{secrets.token_hex(4)}"
        admin = _admin(database_url)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE ROLE {role} {options}")
        admin.dispose()
        made.append(role)
        return role

    yield make
    admin = _admin(database_url)
    with admin.connect() as connection:
        for role in made:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE usename = :role"
                ),
                {"role": role},
            )
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()


def _as(database_url: str, role: str) -> str:
    return sa.make_url(database_url).set(username=role).render_as_string(hide_password=False)


def _refused(engine: sa.Engine, statement: str, message: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match=message), engine.begin() as connection:
        connection.exec_driver_sql(statement)


@pytest.mark.postgres
def test_the_app_role_does_the_apps_work_but_cannot_tamper_with_the_custody_log(
    app, database_url, make_role, collector
):
    role = make_role()
    granted = app.test_cli_runner().invoke(args=["biobank", "grant-app-role", role])
    assert granted.exit_code == 0, granted.output
    assert "events: SELECT, INSERT + UPDATE (log_index)" in granted.output
    assert "custody_tree_heads: SELECT, INSERT" in granted.output
    assert "samples: SELECT, INSERT, UPDATE, DELETE" in granted.output
    collector_id = collector.id
    db.session.remove()

    as_app = create_app(base_config(_as(database_url, role)))
    with as_app.app_context():
        assert db.session.scalar(sa.text("SELECT current_user")) == role
        actor = db.session.get(User, collector_id)
        with unit_of_work():  # normal work: a collection started and its tubes collected
            collection = collections.start_collection(
                actor, participant_id="P100000051", kit="BASELINE-ADULT"
            )
        with unit_of_work():
            drawn = utcnow() - timedelta(hours=1)
            for sample in collection.samples:
                collections.record_collected(actor, collection, sample.barcode, drawn)
        assert sequence_pending(wait=True) > 0  # the sequencer numbers them
        report = verify_chain()
        assert report.intact and report.pending == 0, report.first_break
        sequenced = db.session.scalar(sa.select(sa.func.min(Event.log_index)))
        db.session.remove()
        db.engine.dispose()

    engine = sa.create_engine(_as(database_url, role))
    try:
        _refused(engine, "TRUNCATE events", "permission denied")
        _refused(engine, "TRUNCATE events CASCADE", "permission denied")
        _refused(engine, "ALTER TABLE events DISABLE TRIGGER ALL", "must be owner")
        _refused(engine, "ALTER TABLE events DISABLE TRIGGER events_append_only", "must be owner")
        _refused(engine, "DELETE FROM events", "permission denied")
        _refused(engine, f"DELETE FROM events WHERE log_index = {sequenced}", "permission denied")
        _refused(
            engine,
            f"UPDATE events SET reason = 'forged' WHERE log_index = {sequenced}",
            "permission denied",
        )
        _refused(  # the one column it may write, it may write once
            engine,
            f"UPDATE events SET log_index = log_index + 1000 WHERE log_index = {sequenced}",
            "append-only",
        )
        _refused(engine, "DROP TABLE events", "must be owner")
        _refused(engine, "DROP TABLE events CASCADE", "must be owner")
        _refused(engine, "DELETE FROM custody_tree_heads", "permission denied")
        _refused(engine, "UPDATE custody_tree_nodes SET hash = hash", "permission denied")
        _refused(engine, "TRUNCATE custody_tree_heads", "permission denied")
        _refused(engine, "DELETE FROM alembic_version", "permission denied")
        _refused(engine, "SET session_replication_role = replica", "permission denied")
        _refused(engine, "DROP FUNCTION custody_append_only() CASCADE", "must be owner")
    finally:
        engine.dispose()
    db.session.rollback()
    assert verify_chain().intact  # as the owner sees it: nothing was lost


@pytest.mark.postgres
def test_grant_takes_back_what_the_app_role_should_not_have(app, database_url, make_role):
    role = make_role()
    admin = _admin(database_url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    admin.dispose()
    result = app.test_cli_runner().invoke(args=["biobank", "grant-app-role", role])
    assert result.exit_code == 0, result.output
    db.session.remove()
    engine = sa.create_engine(_as(database_url, role))
    try:
        _refused(engine, "DELETE FROM events", "permission denied")
        _refused(engine, "TRUNCATE events", "permission denied")
        _refused(engine, "UPDATE events SET reason = 'forged'", "permission denied")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_grant_refuses_a_role_that_owns_the_tables_or_is_a_superuser(app, make_role):
    runner = app.test_cli_runner()
    superuser = runner.invoke(args=["biobank", "grant-app-role", "postgres"])
    assert superuser.exit_code == 1 and "is a superuser" in superuser.output
    owner = make_role("owner")
    db.session.execute(sa.text(f"ALTER TABLE events OWNER TO {owner}"))
    db.session.commit()
    try:
        owning = runner.invoke(args=["biobank", "grant-app-role", owner])
        assert owning.exit_code == 1, owning.output
        assert "owns" in owning.output and "events" in owning.output
    finally:
        db.session.execute(sa.text("ALTER TABLE events OWNER TO postgres"))
        db.session.commit()
    missing = runner.invoke(args=["biobank", "grant-app-role", "biobank_test_nobody"])
    assert missing.exit_code == 1 and "There is no role" in missing.output


@pytest.mark.postgres
def test_init_db_migrates_as_the_owner_and_grants_the_app_role(app, database_url, make_role):
    """The app's URL names its own role; BIOBANK_MIGRATION_DATABASE_URL the owner's."""
    role = make_role()
    db.session.remove()
    config = base_config(_as(database_url, role))
    config["BIOBANK_MIGRATION_DATABASE_URL"] = database_url
    as_app = create_app(config)
    with as_app.app_context():
        result = as_app.test_cli_runner().invoke(args=["biobank", "init-db"])
        assert result.exit_code == 0, result.output
        assert f"Granted the app's role {role}" in result.output
        assert "catalogue" in result.output
        with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
            db.session.execute(sa.text("DELETE FROM events"))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_restore_without_createdb_says_so_and_leaves_the_database_alone(
    app, database_url, make_role, tmp_path, collector
):
    dump = tmp_path / "biobank.dump"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["biobank", "backup", str(dump)]).exit_code == 0
    weak = make_role("owner", "LOGIN NOCREATEDB")
    db.session.remove()
    config = base_config(database_url)
    config["BIOBANK_MIGRATION_DATABASE_URL"] = _as(database_url, weak)
    weak_app = create_app(config)
    with weak_app.app_context():
        result = weak_app.test_cli_runner().invoke(args=["biobank", "restore", str(dump), "--yes"])
        db.engine.dispose()
    assert result.exit_code == 1
    assert "the live database is unchanged" in result.output
    assert "CREATEDB" in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


@pytest.mark.postgres
def test_a_restore_grants_the_app_role_in_the_restored_database(
    app, database_url, make_role, tmp_path, collector
):
    """The backup's own grants are left out (they may name roles another server lacks); the
    app's role is granted afresh in the staging copy, before it goes live."""
    dump = tmp_path / "biobank.dump"
    assert app.test_cli_runner().invoke(args=["biobank", "backup", str(dump)]).exit_code == 0
    role = make_role()  # exists only after the backup: the backup grants it nothing
    db.session.remove()
    config = base_config(_as(database_url, role))
    config["BIOBANK_MIGRATION_DATABASE_URL"] = database_url
    as_app = create_app(config)
    try:
        with as_app.app_context():
            runner = as_app.test_cli_runner()
            result = runner.invoke(args=["biobank", "restore", str(dump), "--yes"])
            assert result.exit_code == 0, result.output
            assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                db.session.execute(sa.text("DELETE FROM events"))
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_replaced(database_url)


def _drop_replaced(database_url: str) -> None:
    base = sa.make_url(database_url)
    admin = _admin(base.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect() as connection:
        names = connection.scalars(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
            {"pattern": f"{base.database}\\_replaced\\_%"},
        ).all()
        for name in names:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's answer")
def test_grant_app_role_on_sqlite_says_there_are_no_roles(app):
    result = app.test_cli_runner().invoke(args=["biobank", "grant-app-role", "biobank_app"])
    assert result.exit_code == 1
    assert "SQLite database has none" in result.output

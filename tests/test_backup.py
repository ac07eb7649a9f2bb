"""Backups restore to exactly what was backed up, and the chain of custody still verifies."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from biobank import backup as backup_module
from biobank.backup import CUSTODY_TABLES, POSTGRESQL_TRIGGERS, SQLITE_TRIGGERS, head_revision
from biobank.config import normalise_database_url
from biobank.extensions import db
from biobank.models import Collection, Event
from biobank.sequencer import sequence_pending
from biobank.services.core.custody_log import signed_checkpoint
from tests.conftest import ON_POSTGRES, POSTGRES_URL


def _counts() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(sa.select(sa.func.count(Collection.id))),
        db.session.scalar(sa.select(sa.func.count(Event.id))),
    )


def test_backup_then_restore_brings_back_exactly_the_backup(
    app, tmp_path, collector, start_collection
):
    runner = app.test_cli_runner()
    start_collection(collector, "P100000001")
    backed_up = _counts()
    target = tmp_path / ("biobank.dump" if ON_POSTGRES else "biobank.sqlite3")
    result = runner.invoke(args=["biobank", "backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0
    start_collection(collector, "P100000002")  # work done after the backup …
    assert _counts() != backed_up
    result = runner.invoke(args=["biobank", "restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert "chain of custody intact" in result.output
    assert _counts() == backed_up  # … is gone: the database is the backup again


def test_backup_never_overwrites_a_file(app, tmp_path):
    existing = tmp_path / "keep.me"
    existing.write_text("precious")
    result = app.test_cli_runner().invoke(args=["biobank", "backup", str(existing)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert existing.read_text() == "precious"


def test_restore_refuses_what_is_not_a_backup(app, tmp_path):
    bogus = tmp_path / "photo.jpg"
    bogus.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    result = app.test_cli_runner().invoke(args=["biobank", "restore", str(bogus), "--yes"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    missing = app.test_cli_runner().invoke(args=["biobank", "restore", "/no/such", "--yes"])
    assert "no backup file" in missing.output


def test_restore_asks_before_replacing_everything(app, tmp_path, collector, start_collection):
    runner = app.test_cli_runner()
    target = tmp_path / ("biobank.dump" if ON_POSTGRES else "biobank.sqlite3")
    assert runner.invoke(args=["biobank", "backup", str(target)]).exit_code == 0
    start_collection(collector, "P100000003")  # work the backup does not have
    before = _counts()
    result = runner.invoke(args=["biobank", "restore", str(target)], input="n\n")
    assert result.exit_code != 0
    assert "replaces everything in the database with the backup. Continue?" in result.output
    assert "Aborted" in result.output
    assert _counts() == before  # answered no: nothing replaced


# --- restore goes through a verified staging copy -------------------------------------------
#
# A forged backup is made the way an insider would: the good backup is loaded into a scratch
# database (a copy of the SQLite file, or a PostgreSQL database of its own), edited there with
# SQL, and dumped again. The live database is never touched by the forging.


def _extension(path):
    return path.with_suffix(".dump" if ON_POSTGRES else ".sqlite3")


def _backup(runner, tmp_path, name="good"):
    target = _extension(tmp_path / name)
    result = runner.invoke(args=["biobank", "backup", str(target)])
    assert result.exit_code == 0, result.output
    return target


def _libpq(url):
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _forge(good, forged, statements):
    """A copy of the backup ``good`` at ``forged``, with ``statements`` run on it."""
    if not ON_POSTGRES:
        shutil.copyfile(good, forged)
        connection = sqlite3.connect(forged)
        try:
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        finally:
            connection.close()
        return forged
    base = sa.make_url(normalise_database_url(POSTGRES_URL))
    scratch = f"{base.database}_forge_{secrets.token_hex(4)}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
        scratch_url = base.set(database=scratch)
        subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", _libpq(scratch_url), str(good)], check=True
        )
        engine = sa.create_engine(scratch_url)
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
        engine.dispose()
        subprocess.run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--file",
                str(forged),
                _libpq(scratch_url),
            ],
            check=True,
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.dispose()
    return forged


def _events():
    db.session.rollback()
    rows = db.session.execute(sa.text("SELECT * FROM events ORDER BY id")).all()
    db.session.rollback()
    return [tuple(row) for row in rows]


def _live_triggers():
    """Names of the enabled triggers on the custody log's tables (others, such as those that
    keep box fills, are not the restore's to check)."""
    if ON_POSTGRES:
        query = (
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled = 'O' AND c.relname = ANY(:tables)"
        )
        expected = POSTGRESQL_TRIGGERS
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN :tables"
        expected = SQLITE_TRIGGERS
    db.session.rollback()
    statement = sa.text(query)
    if not ON_POSTGRES:
        statement = statement.bindparams(sa.bindparam("tables", expanding=True))
    names = set(db.session.scalars(statement, {"tables": list(CUSTODY_TABLES)}))
    db.session.rollback()
    return names >= set(expected), names


def _leftovers(tmp_path):
    """Staging copies a restore left behind: databases named <db>_restore_…, or files next
    to the SQLite database."""
    if ON_POSTGRES:
        base = sa.make_url(normalise_database_url(POSTGRES_URL))
        admin = sa.create_engine(base.set(database="postgres"))
        with admin.connect() as connection:
            names = connection.scalars(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                {"pattern": f"{base.database}\\_restore\\_%"},
            ).all()
        admin.dispose()
        return names
    live = Path(db.engine.url.database)
    return [p.name for p in live.parent.iterdir() if ".restore-" in p.name]


@pytest.fixture
def replaced_databases():
    """Drops the databases a PostgreSQL restore keeps as the way back (<db>_replaced_…)."""
    yield
    if not ON_POSTGRES:
        return
    base = sa.make_url(normalise_database_url(POSTGRES_URL))
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        names = connection.scalars(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
            {"pattern": f"{base.database}\\_replaced\\_%"},
        ).all()
        for name in names:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def runner(app, replaced_databases):
    return app.test_cli_runner()


def test_restore_round_trip_reports_what_it_verified(runner, tmp_path, collector, start_collection):
    start_collection(collector, "P100000011")
    assert sequence_pending(wait=True) > 0
    backed_up, events = _counts(), _events()
    good = _backup(runner, tmp_path)
    start_collection(collector, "P100000012")
    result = runner.invoke(args=["biobank", "restore", str(good), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"schema revision {head_revision()}" in result.output
    assert "append-only triggers in place" in result.output
    assert f"chain of custody intact: {len(events)} events verified" in result.output
    assert _counts() == backed_up and _events() == events
    assert _live_triggers()[0]
    assert _leftovers(tmp_path) == []
    if ON_POSTGRES:
        assert "is kept as" in result.output


@pytest.mark.parametrize("trigger_left", ["disabled", "enabled again"])
def test_restore_refuses_a_tampered_backup_and_leaves_the_live_data_alone(
    runner, tmp_path, collector, start_collection, trigger_left
):
    """An insider edits an event in a backup with its trigger out of the way: left disabled
    (or dropped), the missing trigger refuses it; switched back on, the custody log does."""
    start_collection(collector, "P100000021")
    sequence_pending(wait=True)
    good = _backup(runner, tmp_path)
    start_collection(collector, "P100000022")  # live work the backup does not have
    before, events = _counts(), _events()
    forge = "UPDATE events SET reason = 'forged' WHERE id = (SELECT min(id) FROM events)"
    if ON_POSTGRES:
        statements = ["ALTER TABLE events DISABLE TRIGGER events_append_only", forge]
        if trigger_left == "enabled again":
            statements.append("ALTER TABLE events ENABLE TRIGGER events_append_only")
    else:
        probe = sqlite3.connect(good)
        (recreate,) = probe.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'events_no_update'"
        ).fetchone()
        probe.close()
        statements = ["DROP TRIGGER events_no_update", forge]
        if trigger_left == "enabled again":
            statements.append(recreate)
    forged = _forge(good, _extension(tmp_path / "forged"), statements)

    result = runner.invoke(args=["biobank", "restore", str(forged), "--yes"])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Restore refused, the live database is unchanged" in result.output
    if trigger_left == "disabled":
        assert "append-only triggers are missing or disabled" in result.output
        assert "events_" in result.output
    else:
        assert "chain of custody is broken at event" in result.output
        assert "altered" in result.output
    assert _counts() == before and _events() == events  # not a row of the forgery went live
    present, names = _live_triggers()
    assert present, names
    assert _leftovers(tmp_path) == []


def test_restore_refuses_a_backup_whose_log_would_drop_new_events(
    runner, tmp_path, collector, start_collection
):
    """A forged backup that verifies but, once live, would silently discard every new custody
    event (a trigger or rule no migration made) is refused."""
    start_collection(collector, "P100000061")
    good = _backup(runner, tmp_path)
    before = _counts()
    if ON_POSTGRES:
        statements = [
            "CREATE FUNCTION swallow() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER events_swallow BEFORE INSERT ON events FOR EACH ROW "
            "EXECUTE FUNCTION swallow()",
            "CREATE RULE events_nothing AS ON INSERT TO custody_tree_heads DO INSTEAD NOTHING",
        ]
    else:
        statements = [
            "CREATE TRIGGER events_swallow BEFORE INSERT ON events BEGIN SELECT RAISE(IGNORE); END"
        ]
    forged = _forge(good, _extension(tmp_path / "swallowing"), statements)
    result = runner.invoke(args=["biobank", "restore", str(forged), "--yes"])
    assert result.exit_code == 1
    assert "that this software does not create (trigger events_swallow" in result.output
    if ON_POSTGRES:
        assert "rule events_nothing" in result.output
    assert _counts() == before
    assert _leftovers(tmp_path) == []


def test_restore_refuses_a_backup_of_another_schema_revision(
    runner, tmp_path, collector, start_collection
):
    start_collection(collector, "P100000031")
    good = _backup(runner, tmp_path)
    start_collection(collector, "P100000032")
    before = _counts()
    older = _forge(
        good,
        _extension(tmp_path / "older"),
        ["UPDATE alembic_version SET version_num = '3c5e9a1f7d20'"],
    )
    result = runner.invoke(args=["biobank", "restore", str(older), "--yes"])
    assert result.exit_code == 1
    assert "schema revision 3c5e9a1f7d20" in result.output
    assert f"at revision {head_revision()}" in result.output
    assert "db upgrade" in result.output and "new backup" in result.output
    assert _counts() == before
    assert _leftovers(tmp_path) == []


def test_restore_refuses_a_log_shorter_than_a_checkpoint_kept_elsewhere(
    runner, tmp_path, collector, start_collection
):
    """A backup whose log verifies on its own but stops short of a checkpoint signed later
    (its tail cut off, or simply older than the checkpoint) is refused with --checkpoint; one
    that extends its checkpoint is restored."""
    start_collection(collector, "P100000041")
    sequence_pending(wait=True)
    at_backup = tmp_path / "checkpoint-at-backup.txt"
    at_backup.write_text(signed_checkpoint().note)
    short = _backup(runner, tmp_path, "short")
    start_collection(collector, "P100000042")
    sequence_pending(wait=True)
    later = tmp_path / "checkpoint-later.txt"
    later.write_text(signed_checkpoint().note)
    before, events = _counts(), _events()

    refused = runner.invoke(
        args=["biobank", "restore", str(short), "--yes", "--checkpoint", str(later)]
    )
    assert refused.exit_code == 1
    assert "does not extend the checkpoint" in refused.output
    assert "fewer than" in refused.output and "events were removed" in refused.output
    assert _counts() == before and _events() == events
    assert _leftovers(tmp_path) == []

    accepted = runner.invoke(
        args=["biobank", "restore", str(short), "--yes", "--checkpoint", str(at_backup)]
    )
    assert accepted.exit_code == 0, accepted.output
    assert "it extends the checkpoint of" in accepted.output


class _Recorder:
    """Stands in for subprocess.run: records every command and its environment."""

    def __init__(self, real=None):
        self.calls = []
        self.real = real

    def __call__(self, command, **kwargs):
        self.calls.append((list(command), dict(kwargs.get("env") or {})))
        if self.real is not None:
            return self.real(command, **kwargs)
        if "--file" in command:
            Path(command[command.index("--file") + 1]).write_bytes(b"PGDMP")
        return subprocess.CompletedProcess(command, 0, "", "")


def test_pg_dump_gets_the_password_in_its_environment_never_on_its_command_line(
    app, tmp_path, monkeypatch
):
    password = "s3cret-Pa55word"
    url = sa.make_url(f"postgresql+psycopg://biobank_app:{password}@db.example:5432/biobank")
    recorder = _Recorder()
    monkeypatch.setattr(backup_module, "owner_url", lambda: url)
    monkeypatch.setattr(backup_module, "_tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(backup_module.subprocess, "run", recorder)
    backup_module.backup(tmp_path / "biobank.dump")
    ((argv, env),) = recorder.calls
    assert argv[0] == "/usr/bin/pg_dump"
    assert not any(password in part for part in argv), argv
    assert "postgresql://biobank_app@db.example:5432/biobank" in argv
    assert env["PGPASSWORD"] == password


@pytest.mark.postgres
def test_pg_tools_never_see_the_password_on_a_real_backup_and_restore(
    database_url, tmp_path, monkeypatch, replaced_databases
):
    """Trust authentication ignores the password, so a URL holding one works against the test
    server while the tools' arguments are watched."""
    from biobank import create_app
    from tests.conftest import base_config

    password = "not-0n-the-command-line"
    with_password = sa.make_url(database_url).set(password=password)
    app = create_app(base_config(with_password.render_as_string(hide_password=False)))
    recorder = _Recorder(real=subprocess.run)
    monkeypatch.setattr(backup_module.subprocess, "run", recorder)
    with app.app_context():
        target = tmp_path / "biobank.dump"
        runner = app.test_cli_runner()
        assert runner.invoke(args=["biobank", "backup", str(target)]).exit_code == 0
        result = runner.invoke(args=["biobank", "restore", str(target), "--yes"])
        assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()
    tools = [Path(argv[0]).name for argv, _ in recorder.calls]
    assert tools == ["pg_dump", "pg_restore", "pg_restore"]
    for argv, env in recorder.calls:
        assert not any(password in part for part in argv), argv
        assert env["PGPASSWORD"] == password


def test_the_expected_triggers_are_the_ones_migrations_create(app):
    """The restore checks a backup for these names: they must be what a migrated database
    has (a migration that renames one must update biobank.backup)."""
    present, names = _live_triggers()
    assert present, names
    expected = POSTGRESQL_TRIGGERS if ON_POSTGRES else SQLITE_TRIGGERS
    assert names == set(expected)


@pytest.mark.postgres
def test_restore_onto_a_server_that_lost_the_database_creates_it(
    runner, tmp_path, collector, start_collection
):
    from biobank import create_app
    from tests.conftest import base_config

    start_collection(collector, "P100000071")
    backed_up = _counts()
    good = _backup(runner, tmp_path)
    base = sa.make_url(normalise_database_url(POSTGRES_URL))
    lost = base.set(database=f"{base.database}_lost_{secrets.token_hex(4)}")
    app = create_app(base_config(lost.render_as_string(hide_password=False)))
    try:
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["biobank", "restore", str(good), "--yes"])
            assert result.exit_code == 0, result.output
            assert "is kept as" not in result.output
            assert _counts() == backed_up
            db.session.remove()
            db.engine.dispose()
    finally:
        admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{lost.database}" WITH (FORCE)')
        admin.dispose()

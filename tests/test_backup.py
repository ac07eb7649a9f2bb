"""Backups restore to exactly what was backed up, and the chain of custody still verifies."""

from __future__ import annotations

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Collection, Event
from tests.conftest import ON_POSTGRES


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

"""Backups and restores of the whole database, for operators (``flask biobank backup``).

SQLite uses its online backup API (a consistent copy while the app keeps serving);
PostgreSQL uses ``pg_dump --format=custom`` and ``pg_restore``, which must be installed
(Debian: ``postgresql-client``) in the same major version as the server.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from biobank.errors import DomainError
from biobank.extensions import db


class BackupFailed(DomainError):
    title = "Backup or restore failed"
    slug = "backup-failed"


@dataclass(frozen=True)
class Result:
    path: Path
    size: int


def _url() -> sa.URL:
    return db.engine.url


def _libpq_url() -> str:
    """The database URL as the PostgreSQL tools read it (no SQLAlchemy driver name)."""
    return _url().set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupFailed(
            f"{name} is not installed: install the PostgreSQL client tools of the server's "
            "version (Debian: apt-get install postgresql-client)."
        )
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupFailed(f"{Path(command[0]).name} failed: {last}")


def backup(target: Path) -> Result:
    target = target.resolve()
    if target.exists():
        raise BackupFailed(f"{target} exists already: choose a new file name for the backup.")
    target.parent.mkdir(parents=True, exist_ok=True)
    url = _url()
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    elif url.get_backend_name() == "postgresql":
        _run(
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), _libpq_url()]
        )
    else:
        raise BackupFailed(f"Backups of {url.get_backend_name()} are not supported.")
    return Result(target, target.stat().st_size)


def restore(source: Path) -> Result:
    """Replace everything in the database with the backup's content."""
    source = source.resolve()
    if not source.is_file():
        raise BackupFailed(f"There is no backup file at {source}.")
    url = _url()
    db.session.remove()
    db.engine.dispose()  # no connection of ours may hold the old database open
    if url.get_backend_name() == "sqlite":
        _check_sqlite_backup(source)
        backup_db = sqlite3.connect(source)
        live = sqlite3.connect(url.database)
        try:
            backup_db.backup(live)
        finally:
            live.close()
            backup_db.close()
    elif url.get_backend_name() == "postgresql":
        _run([_tool("pg_restore"), "--list", str(source)])  # a readable custom-format dump
        _run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--dbname",
                _libpq_url(),
                str(source),
            ]
        )
    else:
        raise BackupFailed(f"Restores of {url.get_backend_name()} are not supported.")
    return Result(source, source.stat().st_size)


def _check_sqlite_backup(source: Path) -> None:
    try:
        probe = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            probe.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError:
        raise BackupFailed(
            f"{source} is not a backup of this system (not an SQLite database with our schema)."
        ) from None

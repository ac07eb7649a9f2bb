"""Backups and restores of the whole database, for operators (``flask biobank backup``).

SQLite uses its online backup API (a consistent copy while the app keeps serving);
PostgreSQL uses ``pg_dump --format=custom`` and ``pg_restore``, which must be installed
(Debian: ``postgresql-client``) in the same major version as the server. The tools get the
password in their environment (``PGPASSWORD``), never on their command line, where every user
of the machine can read it (``ps``).

A restore never touches the live database until the backup has proven itself. It is first
copied into a staging database beside the live one (SQLite: a temporary file next to the
database file; PostgreSQL: a database ``<db>_restore_<random>``, which needs the CREATEDB
privilege), and there it must be at this code's schema revision, have every append-only
trigger of the custody log in place and enabled, and hold a custody log that verifies (and, if
given one, extends a checkpoint kept elsewhere). Only then does it replace the live data:

- SQLite: the verified staging file is copied over the live one with the backup API, in one
  write transaction. A crash mid-copy rolls back to the old data, and processes that have the
  database open see the restored data at their next transaction (replacing the file with a
  rename would leave them reading and writing the old, unlinked file, and an old ``-wal``
  file beside a new database file corrupts it).
- PostgreSQL: the backup is restored without its owners and grants; when the app runs as a
  role of its own (README, "Two database roles") that role is granted what it needs in the
  staging copy, as ``grant-app-role`` would. Then the databases are swapped by renaming: the
  live database stops taking connections, the ones it has are ended (the app reconnects by
  name, to the restored one), it is renamed ``<db>_replaced_<time>`` and kept (drop it once
  satisfied: it is the way back), and the staging database takes the live name. Restoring
  into the live database itself would have to drop its tables first, holding locks the
  running app waits on, and could not be undone once committed.

On any failure the live database is left as it was, the staging copy is removed, and the
error says what failed and what to do.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from biobank.errors import DomainError
from biobank.extensions import db
from biobank.tlog.note import Verifier

# The custody log's append-only triggers at this code's head revision (migration
# 502b29c9255d), by name, with their table. A restored database must have every one, enabled.
POSTGRESQL_TRIGGERS = {
    "events_append_only": "events",
    "events_log_index_once": "events",
    "events_no_truncate": "events",
    "custody_tree_nodes_append_only": "custody_tree_nodes",
    "custody_tree_nodes_no_truncate": "custody_tree_nodes",
    "custody_tree_heads_append_only": "custody_tree_heads",
    "custody_tree_heads_no_truncate": "custody_tree_heads",
}
POSTGRESQL_TRIGGER_FUNCTION = "custody_append_only"
SQLITE_TRIGGERS = {
    "events_no_update": "events",
    "events_log_index_once": "events",
    "events_no_delete": "events",
    "custody_tree_nodes_no_update": "custody_tree_nodes",
    "custody_tree_nodes_no_delete": "custody_tree_nodes",
    "custody_tree_heads_no_update": "custody_tree_heads",
    "custody_tree_heads_no_delete": "custody_tree_heads",
}
# How long ending the live database's connections may take before the swap gives up.
TERMINATE_TIMEOUT_MS = 10_000


class BackupFailed(DomainError):
    title = "Backup or restore failed"
    slug = "backup-failed"


@dataclass(frozen=True)
class Result:
    path: Path
    size: int


@dataclass(frozen=True)
class Restored:
    """What a restore checked before it replaced the live data."""

    path: Path
    revision: str
    events: int
    checkpoint_size: int | None = None
    replaced: str | None = None  # PostgreSQL: the name the old live database is kept under


def _sqlite_file(url: sa.URL) -> str:
    if not url.database:
        raise BackupFailed("The database URL names no SQLite file.")
    return url.database


def owner_url() -> sa.URL:
    """The database as its owner reaches it (migrations, backups, restores, grants):
    ``BIOBANK_MIGRATION_DATABASE_URL`` when the app itself runs as a lesser role."""
    configured = current_app.config.get("BIOBANK_MIGRATION_DATABASE_URL")
    return sa.make_url(configured) if configured else db.engine.url


def libpq_command_url(url: sa.URL) -> str:
    """The URL as the PostgreSQL tools read it: no SQLAlchemy driver name, no password."""
    bare = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)


def libpq_environment(url: sa.URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupFailed(
            f"{name} is not installed: install the PostgreSQL client tools of the server's "
            "version (Debian: apt-get install postgresql-client)."
        )
    return found


def _run(command: list[str], url: sa.URL) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=libpq_environment(url))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupFailed(f"{Path(command[0]).name} failed: {last}")


def backup(target: Path) -> Result:
    target = target.resolve()
    if target.exists():
        raise BackupFailed(f"{target} exists already: choose a new file name for the backup.")
    target.parent.mkdir(parents=True, exist_ok=True)
    url = owner_url()
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_file(url))
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    elif url.get_backend_name() == "postgresql":
        _run(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--file",
                str(target),
                libpq_command_url(url),
            ],
            url,
        )
    else:
        raise BackupFailed(f"Backups of {url.get_backend_name()} are not supported.")
    return Result(target, target.stat().st_size)


# --- restore ----------------------------------------------------------------------------------


def head_revision() -> str:
    """The schema revision this code's migrations end at."""
    from alembic.script import ScriptDirectory

    migrate = current_app.extensions["migrate"]
    config = migrate.migrate.get_config(migrate.directory)
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise BackupFailed("The migrations have no head revision: this checkout is broken.")
    return head


def restore(
    source: Path, *, checkpoint: str | None = None, verifier: Verifier | None = None
) -> Restored:
    """Replace everything in the database with the backup's content, once a staging copy of
    it has passed every check (see the module's docstring). ``checkpoint``: a signed
    checkpoint the restored log must extend."""
    source = source.resolve()
    if not source.is_file():
        raise BackupFailed(f"There is no backup file at {source}.")
    url = owner_url()
    db.session.remove()
    db.engine.dispose()  # no connection of ours may hold the old database open
    if url.get_backend_name() == "sqlite":
        return _restore_sqlite(source, url, checkpoint, verifier)
    if url.get_backend_name() == "postgresql":
        return _restore_postgresql(source, url, checkpoint, verifier)
    raise BackupFailed(f"Restores of {url.get_backend_name()} are not supported.")


def _refused(source: Path, what: str) -> BackupFailed:
    return BackupFailed(
        f"Restore refused, the live database is unchanged: {what} Restore a backup that "
        f"verifies (keep {source} for investigation)."
    )


def verify_staging(
    engine: sa.Engine, source: Path, checkpoint: str | None, verifier: Verifier | None
) -> tuple[str, int, int | None]:
    """Every check a backup must pass before it may replace the live data: this code's
    schema revision, the append-only triggers, the custody log (and the checkpoint). Answers
    the revision, the events verified and the checkpoint's size."""
    from biobank.services.core.custody_log import verify_against_checkpoint, verify_chain

    with Session(engine) as session:
        revision = _revision_of(session, source)
        head = head_revision()
        if revision != head:
            raise BackupFailed(
                f"Restore refused, the live database is unchanged: {source} is a backup of "
                f"schema revision {revision}, but this version of the software is at revision "
                f"{head}. Restore it with the release of the software whose newest migration "
                f"is {revision}, bring it to {head} there with `flask --app wsgi db upgrade` "
                "and this release, and take a new backup to restore."
            )
        missing = _missing_triggers(session)
        if missing:
            raise _refused(
                source,
                "the custody log's append-only triggers are missing or disabled in the backup "
                f"({', '.join(missing)}), so its history could have been rewritten.",
            )
        extra = _unexpected_rewriters(session)
        if extra:
            raise _refused(
                source,
                "the backup has triggers, rules or row security on the custody log that this "
                f"software does not create ({', '.join(extra)}): once live they could hide or "
                "discard custody events.",
            )
        report = verify_chain(session)
        if report.first_break is not None:
            where = (
                f" at event {report.first_break.event_id}" if report.first_break.event_id else ""
            )
            raise _refused(
                source,
                f"the backup's chain of custody is broken{where}: {report.first_break.problem}.",
            )
        checkpoint_size = None
        if checkpoint is not None:
            extends = verify_against_checkpoint(checkpoint, verifier, session)
            if extends.first_break is not None:
                raise _refused(
                    source,
                    "the backup's custody log does not extend the checkpoint: "
                    f"{extends.first_break.problem}.",
                )
            checkpoint_size = _checkpoint_size(checkpoint)
        session.rollback()
    return revision, report.checked, checkpoint_size


def _checkpoint_size(note: str) -> int | None:
    lines = note.splitlines()
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None


def _revision_of(session: Session, source: Path) -> str:
    try:
        revisions = session.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.DBAPIError:
        session.rollback()
        revisions = []
    if len(revisions) != 1:
        raise BackupFailed(
            f"Restore refused, the live database is unchanged: {source} is not a backup of "
            "this system (it has no single schema revision)."
        )
    return revisions[0]


def _missing_triggers(session: Session) -> list[str]:
    """Names of the expected append-only triggers that are absent, disabled, on the wrong
    table or no longer refusing anything."""
    found: dict[str, tuple[str, bool]] = {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            sa.text(
                "SELECT t.tgname, c.relname, t.tgenabled, p.proname, p.prosrc "
                "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
            )
        ).all()
        for name, table, enabled, function, body in rows:
            working = (
                enabled in ("O", "A")  # fires in ordinary sessions ('D': disabled, 'R': replica)
                and function == POSTGRESQL_TRIGGER_FUNCTION
                and "RAISE EXCEPTION" in body.upper()
            )
            found[name] = (table, working)
        expected = POSTGRESQL_TRIGGERS
    else:
        rows = session.execute(
            sa.text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, table, sql in rows:
            found[name] = (table, "RAISE(ABORT" in (sql or "").upper().replace(" ", ""))
        expected = SQLITE_TRIGGERS
    return [
        name
        for name, table in sorted(expected.items())
        if name not in found or found[name] != (table, True)
    ]


CUSTODY_TABLES = ("events", "custody_tree_nodes", "custody_tree_heads")


def _unexpected_rewriters(session: Session) -> list[str]:
    """Anything on the custody log's tables that could change what is written or read there
    and that no migration made: another trigger (one that drops each insert), a rule (DO
    INSTEAD NOTHING), row-level security (rows hidden from the app)."""
    tables = {"tables": list(CUSTODY_TABLES)}
    if session.get_bind().dialect.name != "postgresql":
        names = session.scalars(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                "('events', 'custody_tree_nodes', 'custody_tree_heads') ORDER BY name"
            )
        ).all()
        return [f"trigger {name}" for name in names if name not in SQLITE_TRIGGERS]
    triggers = session.scalars(
        sa.text(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal "
            "AND n.nspname = current_schema() AND c.relname = ANY(:tables) ORDER BY t.tgname"
        ),
        tables,
    ).all()
    rules = session.scalars(
        sa.text(
            "SELECT rulename FROM pg_rules WHERE schemaname = current_schema() "
            "AND tablename = ANY(:tables) ORDER BY rulename"
        ),
        tables,
    ).all()
    secured = session.scalars(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) "
            "AND (c.relrowsecurity OR c.relforcerowsecurity) ORDER BY c.relname"
        ),
        tables,
    ).all()
    return [
        *(f"trigger {name}" for name in triggers if name not in POSTGRESQL_TRIGGERS),
        *(f"rule {name}" for name in rules),
        *(f"row-level security on {name}" for name in secured),
    ]


# SQLite ---------------------------------------------------------------------------------------


def _sqlite_files(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _restore_sqlite(
    source: Path, url: sa.URL, checkpoint: str | None, verifier: Verifier | None
) -> Restored:
    live = Path(_sqlite_file(url)).resolve()
    descriptor, name = tempfile.mkstemp(prefix=f".{live.name}.restore-", dir=live.parent)
    os.close(descriptor)
    staging = Path(name)
    try:
        try:
            backup_db = sqlite3.connect(f"{source.as_uri()}?mode=ro&immutable=1", uri=True)
            copy = sqlite3.connect(staging)
            try:
                backup_db.backup(copy)
            finally:
                copy.close()
                backup_db.close()
        except sqlite3.DatabaseError:
            raise BackupFailed(
                f"Restore refused, the live database is unchanged: {source} is not a backup "
                "of this system (not an SQLite database)."
            ) from None
        engine = sa.create_engine(f"sqlite:///{staging}", poolclass=NullPool)
        try:
            revision, events, checkpoint_size = verify_staging(engine, source, checkpoint, verifier)
        finally:
            engine.dispose()
        verified = sqlite3.connect(staging)
        target = sqlite3.connect(live, timeout=30)
        try:
            verified.backup(target)  # one write transaction: all of it or none of it
        finally:
            target.close()
            verified.close()
    finally:
        for path in _sqlite_files(staging):
            path.unlink(missing_ok=True)
    return Restored(source, revision, events, checkpoint_size)


# PostgreSQL -----------------------------------------------------------------------------------


def _with_suffix(name: str, suffix: str) -> str:
    return name[: 63 - len(suffix)] + suffix  # PostgreSQL names hold 63 bytes


def _maintenance_engine(url: sa.URL) -> sa.Engine:
    return sa.create_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )


def _restore_postgresql(
    source: Path, url: sa.URL, checkpoint: str | None, verifier: Verifier | None
) -> Restored:
    pg_restore = _tool("pg_restore")
    try:
        _run([pg_restore, "--list", str(source)], url)  # a readable custom-format dump
    except BackupFailed as error:
        raise BackupFailed(
            f"Restore refused, the live database is unchanged: {source} is not a backup of "
            f"this system ({error.detail})."
        ) from None
    live = str(url.database)
    staging = _with_suffix(live, f"_restore_{secrets.token_hex(4)}")
    admin = _maintenance_engine(url)
    quote = admin.dialect.identifier_preparer.quote
    try:
        with admin.connect() as connection:
            try:
                connection.exec_driver_sql(f"CREATE DATABASE {quote(staging)}")
            except sa.exc.ProgrammingError as error:
                raise BackupFailed(
                    f"Restore refused, the live database is unchanged: could not create the "
                    f"staging database {staging} to verify the backup in ({_pg_message(error)}). "
                    f"The role {url.username} needs the CREATEDB privilege (ALTER ROLE "
                    f"{url.username} CREATEDB) and must own {live}; run the restore with "
                    "BIOBANK_MIGRATION_DATABASE_URL set to the database owner's URL."
                ) from None
        try:
            staging_url = url.set(database=staging)
            try:
                _run(
                    [
                        pg_restore,
                        "--no-owner",
                        "--no-privileges",  # the app's role is granted below, by name
                        "--exit-on-error",
                        "--single-transaction",
                        "--dbname",
                        libpq_command_url(staging_url),
                        str(source),
                    ],
                    staging_url,
                )
            except BackupFailed as error:
                raise _refused(source, f"it could not be restored ({error.detail}).") from None
            engine = sa.create_engine(staging_url, poolclass=NullPool)
            try:
                revision, events, checkpoint_size = verify_staging(
                    engine, source, checkpoint, verifier
                )
            finally:
                engine.dispose()
            _grant_app_role(staging_url, source)
            replaced = _swap(admin, live, staging)
        except BaseException:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(staging)} WITH (FORCE)")
            raise
    finally:
        admin.dispose()
    return Restored(source, revision, events, checkpoint_size, replaced)


def _grant_app_role(staging_url: sa.URL, source: Path) -> None:
    """When the app runs as a role of its own, the restored copy grants it what it needs
    before it goes live (the backup's own grants are not restored: they may name roles this
    server does not have)."""
    from biobank.db_roles import grant_app_role

    app_url = db.engine.url
    if app_url.username is None or app_url.username == staging_url.username:
        return
    try:
        grant_app_role(staging_url, str(app_url.username))
    except DomainError as error:
        raise BackupFailed(
            "Restore stopped, the live database is unchanged: the backup verified, but the "
            f"app's role could not be granted its privileges in it: {error.detail}"
        ) from None


def _pg_message(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)


def _swap(admin: sa.Engine, live: str, staging: str) -> str | None:
    """The verified staging database takes the live one's name; the live one is kept as
    ``<live>_replaced_<time>``. Answers that name (``None``: there was no live database)."""
    quote = admin.dialect.identifier_preparer.quote
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    replaced = _with_suffix(live, f"_replaced_{stamp}")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :live"), {"live": live}
        )
        if not exists:  # recovering onto a server that lost it: nothing to replace
            connection.exec_driver_sql(f"ALTER DATABASE {quote(staging)} RENAME TO {quote(live)}")
            return None
        try:
            connection.exec_driver_sql(f"ALTER DATABASE {quote(live)} WITH ALLOW_CONNECTIONS false")
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid, :timeout) FROM pg_stat_activity "
                    "WHERE datname = :live AND pid <> pg_backend_pid()"
                ),
                {"live": live, "timeout": TERMINATE_TIMEOUT_MS},
            )
            connection.exec_driver_sql(f"ALTER DATABASE {quote(live)} RENAME TO {quote(replaced)}")
        except sa.exc.DBAPIError as error:
            with contextlib.suppress(sa.exc.DBAPIError):  # if it failed: nothing changed
                connection.exec_driver_sql(
                    f"ALTER DATABASE {quote(live)} WITH ALLOW_CONNECTIONS true"
                )
            raise BackupFailed(
                f"Restore refused, the live database is unchanged: the verified backup could "
                f"not take its place ({_pg_message(error)}). Swapping needs the role to own "
                f"{live} and to be allowed to end its connections (a member of "
                "pg_signal_backend); or stop the app and run the restore again."
            ) from None
        try:
            connection.exec_driver_sql(f"ALTER DATABASE {quote(staging)} RENAME TO {quote(live)}")
        except sa.exc.DBAPIError as error:
            connection.exec_driver_sql(f"ALTER DATABASE {quote(replaced)} RENAME TO {quote(live)}")
            connection.exec_driver_sql(f"ALTER DATABASE {quote(live)} WITH ALLOW_CONNECTIONS true")
            raise BackupFailed(
                "Restore refused, the live database is unchanged: the verified backup could not "
                f"take the name {live} ({_pg_message(error)})."
            ) from None
        connection.exec_driver_sql(f"ALTER DATABASE {quote(replaced)} WITH ALLOW_CONNECTIONS true")
    return replaced

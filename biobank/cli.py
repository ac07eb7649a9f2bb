"""``flask --app wsgi biobank …``: operator commands (DESIGN §7).

Every command exits non-zero with one clear line on standard error when it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from biobank.errors import DomainError
from biobank.models import Role, SiteKind
from biobank.unit_of_work import unit_of_work

biobank_cli = AppGroup("biobank", help="Biobank operator commands.")


def domain_errors_as_messages(command: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(error.detail) from None

    return wrapper


@biobank_cli.command("init-db")
def init_db() -> None:
    """Bring the database to the newest migration and load the catalogue. Safe to run again."""
    from flask_migrate import upgrade

    from biobank.services.core.catalogue import load_catalogue

    upgrade()  # as the tables' owner: BIOBANK_MIGRATION_DATABASE_URL, if set
    _grant_app_role_after_migrating()
    with unit_of_work():
        loaded = load_catalogue()
    click.echo(
        f"Database is at the newest migration; catalogue: {loaded.tube_types_added} tube types "
        f"added, {loaded.tube_types_updated} updated, {loaded.kits_added} kits added."
    )


def _grant_app_role_after_migrating() -> None:
    """When the app runs as a role of its own (its URL names another user than the
    migrations'), a migration's new tables are granted to it at once."""
    from biobank.backup import owner_url
    from biobank.db_roles import grant_app_role
    from biobank.extensions import db

    app_url, migration_url = db.engine.url, owner_url()
    if app_url.get_backend_name() != "postgresql" or app_url.username == migration_url.username:
        return
    try:
        granted = grant_app_role(migration_url, str(app_url.username))
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"Granted the app's role {granted.role} what it needs in {granted.database}.")


@biobank_cli.command("grant-app-role")
@click.argument("role")
@domain_errors_as_messages
def grant_app_role(role: str) -> None:
    """Grant ROLE exactly what the app needs (run as the tables' owner, after every migration):
    on the custody log only SELECT, INSERT and the sequencer's UPDATE of log_index."""
    from biobank.backup import owner_url
    from biobank.db_roles import grant_app_role as grant

    granted = grant(owner_url(), role)
    click.echo(f"Granted {granted.role} in {granted.database}:")
    for table, privileges in granted.tables.items():
        click.echo(f"  {table}: {privileges}")
    click.echo("  every sequence: USAGE, SELECT")
    for warning in granted.warnings:
        click.echo(f"Warning: {warning}", err=True)


@biobank_cli.command("create-site")
@click.argument("code")
@click.option("--name", required=True, help="The site's name.")
@click.option("--kind", required=True, type=click.Choice([k.value for k in SiteKind]))
@click.option("--timezone", required=True, help="IANA time zone, e.g. America/Chicago.")
@click.option("--phone", help="Phone for the manifest's responsible person.")
@domain_errors_as_messages
def create_site(code: str, name: str, kind: str, timezone: str, phone: str | None) -> None:
    """Create a collection site or a biobank."""
    from biobank.services.core.sites import create_site as create

    with unit_of_work():
        site = create(code=code, name=name, kind=kind, timezone=timezone, phone=phone)
    click.echo(f"Created {site.kind} site {site.code} ({site.name}, {site.timezone}).")


@biobank_cli.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--site", "site_code", required=True, help="Home site code.")
@click.option("--name", "full_name", help="Full name (defaults to the username).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters; asked for when left out.",
)
@domain_errors_as_messages
def create_user(
    username: str, role: str, site_code: str, full_name: str | None, password: str
) -> None:
    """Create a user with a role at a home site."""
    from biobank.services.core.accounts import create_user as create
    from biobank.services.core.sites import get_site

    with unit_of_work():
        user = create(
            username=username,
            full_name=full_name or username,
            role=role,
            site=get_site(site_code),
            password=password,
        )
    click.echo(f"Created {user.role} {user.username} at {user.site.code}.")


@biobank_cli.command("deactivate-user")
@click.argument("username")
@domain_errors_as_messages
def deactivate_user(username: str) -> None:
    """End every session and token of a user; they can no longer log in."""
    from biobank.services.core.accounts import deactivate_user as deactivate
    from biobank.services.core.accounts import get_user

    with unit_of_work():
        user = get_user(username)
        deactivate(None, user)
    click.echo(f"Deactivated {user.username}: their sessions and tokens are ended.")


@biobank_cli.command("prune-failed-attempts")
@click.option(
    "--older-than-days",
    "days",
    required=True,
    type=click.IntRange(min=1, max=36_500),
    help="Delete the failed attempts recorded more than this many days ago.",
)
def prune_failed_attempts(days: int) -> None:
    """Delete old failed sign-ins and e-signatures (keep them as long as your retention policy
    says: the admins' failed-attempts page reads them)."""
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.services.admin.auth_failures import prune_failures

    cut = utcnow() - timedelta(days=days)
    with unit_of_work():
        deleted = prune_failures(cut)
    click.echo(f"Deleted {deleted} failed attempts recorded before {cut:%Y-%m-%d %H:%M} UTC.")


@biobank_cli.command("recount-figures")
def recount_figures() -> None:
    """Count each box's fill again from its positions and drop the kept figures of past days
    (reports count them again): for after someone wrote to the database by hand."""
    from biobank.services.reporting.tallies import forget_kept
    from biobank.services.storage.freezer_tree import recount_box_fills

    with unit_of_work():
        wrong = recount_box_fills()
        dropped = forget_kept()
    click.echo(
        f"Box fills: {wrong} did not match their positions and were recounted. "
        f"Kept day figures: {dropped} dropped, to be counted again when next asked for."
    )


@biobank_cli.command("seed-demo")
@click.option(
    "--samples",
    type=click.IntRange(min=1, max=20_000_000),
    help="Also add this many stored tubes (with collections, shipments, boxes and events).",
)
@domain_errors_as_messages
def seed_demo(samples: int | None) -> None:
    """Load realistic demo data (refused in production)."""
    from biobank.services.admin.demo import DEMO_PASSWORD, seed_scale
    from biobank.services.admin.demo import seed_demo as seed

    if current_app.config["BIOBANK_ENV"] == "production":
        raise click.ClickException("seed-demo is refused in production: demo accounts are public.")
    with unit_of_work():
        summary = seed()
    if summary.created:
        click.echo(
            f"Demo data loaded: {summary.sites} sites, {summary.users} users, "
            f"{summary.collections} collections, {summary.shipments} shipments, "
            f"{summary.stored} tubes in the freezer (password {DEMO_PASSWORD!r})."
        )
    else:
        click.echo("Demo data is already loaded.")
    if samples:
        started = time.perf_counter()
        with unit_of_work():
            added = seed_scale(samples)
        click.echo(
            f"Added {added.samples:,} stored tubes in {added.collections:,} collections, "
            f"{added.shipments:,} shipments and {added.boxes:,} boxes, with {added.events:,} "
            f"events, in {time.perf_counter() - started:.1f} s."
        )
    from biobank.sequencer import sequence_pending

    # The demo's events go into the custody log now, so proofs and checkpoints cover them
    # from the first page load.
    # (The bulk tubes were sequenced as they went in, and the demo's own events with them.)
    sequence_pending(wait=True)
    from biobank.services.core.custody_log import log_status

    click.echo(f"The custody log holds {log_status().tree_size:,} events.")


@biobank_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@domain_errors_as_messages
def backup(path: Path) -> None:
    """Copy the whole database to PATH (SQLite online backup, or pg_dump)."""
    from biobank.backup import backup as make_backup

    result = make_backup(path)
    click.echo(f"Backed up to {result.path} ({result.size:,} bytes).")


def checkpoint_option(what: str):
    """``--checkpoint FILE``: a signed checkpoint the operator kept elsewhere."""
    return click.option(
        "--checkpoint",
        "checkpoint_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help=f"A signed checkpoint kept elsewhere: {what}.",
    )


verifier_key_option = click.option(
    "--key",
    "verifier_key",
    help="The log's verifier key (<name>+<id>+<key>); default: the configured signing key's.",
)


@biobank_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the database's content.")
@checkpoint_option("refuse the backup unless its log extends it")
@verifier_key_option
@domain_errors_as_messages
def restore(path: Path, yes: bool, checkpoint_file: Path | None, verifier_key: str | None) -> None:
    """Replace everything in the database with the backup at PATH, once a staging copy of it
    is at this code's schema revision, has its append-only triggers and a custody log that
    verifies (and extends --checkpoint). On any failure the database is left as it was."""
    from biobank.backup import restore as restore_backup
    from biobank.tlog.note import NoteError, Verifier

    try:
        verifier = Verifier.decode(verifier_key) if verifier_key else None
    except NoteError as error:
        raise click.ClickException(f"--key: {error}") from None
    note = (
        checkpoint_file.read_text(encoding="utf-8", errors="replace")
        if checkpoint_file is not None
        else None
    )
    if not yes:
        click.confirm(
            "This replaces everything in the database with the backup. Continue?", abort=True
        )
    result = restore_backup(path, checkpoint=note, verifier=verifier)
    extends = (
        f"; it extends the checkpoint of {result.checkpoint_size} events"
        if result.checkpoint_size is not None
        else ""
    )
    click.echo(
        f"Restored from {result.path}: schema revision {result.revision}, append-only triggers "
        f"in place, chain of custody intact: {result.events} events verified{extends}."
    )
    if result.replaced:
        click.echo(
            f"The database it replaced is kept as {result.replaced}: drop it (DROP DATABASE "
            f'"{result.replaced}") once the restore is confirmed.'
        )


@biobank_cli.command("audit-verify")
@checkpoint_option("fail unless today's log extends it")
@verifier_key_option
@click.option("--full", is_flag=True, help="With --checkpoint: also recheck the whole log.")
@domain_errors_as_messages
def audit_verify(checkpoint_file: Path | None, verifier_key: str | None, full: bool) -> None:
    """Check that the chain of custody has not been altered (and extends a checkpoint)."""
    from biobank.services.core import custody_log
    from biobank.tlog.note import NoteError, Verifier

    reports = []
    if checkpoint_file is not None:
        try:
            verifier = Verifier.decode(verifier_key) if verifier_key else None
        except NoteError as error:
            raise click.ClickException(f"--key: {error}") from None
        note = checkpoint_file.read_text(encoding="utf-8", errors="replace")
        reports.append(
            ("extends the checkpoint", custody_log.verify_against_checkpoint(note, verifier))
        )
    if checkpoint_file is None or full:
        reports.append(("intact", custody_log.verify_chain()))
    for _, report in reports:
        if report.first_break is not None:
            where = (
                f" at event {report.first_break.event_id}"
                if report.first_break.event_id is not None
                else ""
            )
            raise click.ClickException(
                f"chain of custody broken{where}: {report.first_break.problem} "
                f"({report.checked} events before it verified)"
            )
    status = custody_log.log_status()
    for claim, report in reports:
        click.echo(f"Chain of custody {claim}: {report.checked} events verified.")
    click.echo(
        f"The log holds {status.tree_size} events; {status.pending} wait for the sequencer "
        f"(oldest {status.oldest_pending_seconds():.1f} s)."
    )


@biobank_cli.command("sequence")
@click.option(
    "--wait/--no-wait",
    default=True,
    help="Queue behind a sequencer already running (default), or step aside.",
)
def sequence(wait: bool) -> None:
    """Give every committed custody event its place in the log's Merkle tree."""
    from biobank.sequencer import sequence_pending
    from biobank.services.core.custody_log import log_status

    added = sequence_pending(wait=wait)
    click.echo(f"Sequenced {added} events; the log holds {log_status().tree_size}.")


@biobank_cli.command("checkpoint")
@domain_errors_as_messages
def checkpoint() -> None:
    """Sequence what is committed, then print the log's signed checkpoint (keep it elsewhere)."""
    from biobank.sequencer import sequence_pending
    from biobank.services.core.custody_log import signed_checkpoint

    sequence_pending(wait=True)
    click.echo(signed_checkpoint().note, nl=False)


@biobank_cli.command("log-key")
@domain_errors_as_messages
def log_key() -> None:
    """Print the log's verifier key, in the form Go's sumdb/note reads."""
    from biobank.services.core.custody_log import log_verifier_key

    click.echo(log_verifier_key())


@biobank_cli.command("log-keygen")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def log_keygen(path: Path | None) -> None:
    """Create the log's Ed25519 signing key at PATH (default: BIOBANK_LOG_KEY_FILE)."""
    from biobank.services.core.custody_log import create_log_key

    configured = current_app.config["BIOBANK_LOG_KEY_FILE"]
    target = path or (Path(configured) if configured else None)
    if target is None:
        raise click.ClickException("give a PATH or set BIOBANK_LOG_KEY_FILE")
    try:
        signer = create_log_key(target, current_app.config["BIOBANK_LOG_ORIGIN"])
    except FileExistsError:
        raise click.ClickException(
            f"{target} exists: a log keeps its key (checkpoints kept elsewhere name it)"
        ) from None
    click.echo(f"Created {target}; its verifier key (publish it to auditors):")
    click.echo(signer.verifier.encode())

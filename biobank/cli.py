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

from biobank.db import unit_of_work
from biobank.errors import DomainError
from biobank.models import Role, SiteKind

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

    from biobank.services.catalogue import load_catalogue

    upgrade()
    with unit_of_work():
        loaded = load_catalogue()
    click.echo(
        f"Database is at the newest migration; catalogue: {loaded.tube_types_added} tube types "
        f"added, {loaded.tube_types_updated} updated, {loaded.kits_added} kits added."
    )


@biobank_cli.command("create-site")
@click.argument("code")
@click.option("--name", required=True, help="The site's name.")
@click.option("--kind", required=True, type=click.Choice([k.value for k in SiteKind]))
@click.option("--timezone", required=True, help="IANA time zone, e.g. America/Chicago.")
@click.option("--phone", help="Phone for the manifest's responsible person.")
@domain_errors_as_messages
def create_site(code: str, name: str, kind: str, timezone: str, phone: str | None) -> None:
    """Create a collection site or a biobank."""
    from biobank.services.sites import create_site as create

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
    from biobank.services.accounts import create_user as create
    from biobank.services.sites import get_site

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
    from biobank.services.accounts import deactivate_user as deactivate
    from biobank.services.accounts import get_user

    with unit_of_work():
        user = get_user(username)
        deactivate(None, user)
    click.echo(f"Deactivated {user.username}: their sessions and tokens are ended.")


@biobank_cli.command("seed-demo")
@click.option(
    "--samples",
    type=click.IntRange(min=1, max=20_000_000),
    help="Also add this many stored tubes (with collections, shipments, boxes and events).",
)
@domain_errors_as_messages
def seed_demo(samples: int | None) -> None:
    """Load realistic demo data (refused in production)."""
    from biobank.services.demo import DEMO_PASSWORD, seed_scale
    from biobank.services.demo import seed_demo as seed

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


@biobank_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@domain_errors_as_messages
def backup(path: Path) -> None:
    """Copy the whole database to PATH (SQLite online backup, or pg_dump)."""
    from biobank.backup import backup as make_backup

    result = make_backup(path)
    click.echo(f"Backed up to {result.path} ({result.size:,} bytes).")


@biobank_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the database's content.")
@domain_errors_as_messages
def restore(path: Path, yes: bool) -> None:
    """Replace everything in the database with the backup at PATH, then verify the chain."""
    from biobank.backup import restore as restore_backup
    from biobank.services.custody import verify_chain

    if not yes:
        click.confirm(
            "This replaces everything in the database with the backup. Continue?", abort=True
        )
    result = restore_backup(path)
    report = verify_chain()
    if report.first_break is not None:
        raise click.ClickException(
            f"restored from {result.path}, but its chain of custody is broken at event "
            f"{report.first_break.event_id}: {report.first_break.problem}"
        )
    click.echo(
        f"Restored from {result.path}; chain of custody intact: {report.checked} events verified."
    )


@biobank_cli.command("audit-verify")
def audit_verify() -> None:
    """Check that the chain of custody has not been altered."""
    from biobank.services.custody import verify_chain

    report = verify_chain()
    if report.first_break is not None:
        raise click.ClickException(
            f"chain of custody broken at event {report.first_break.event_id}: "
            f"{report.first_break.problem} ({report.checked} events before it verified)"
        )
    click.echo(f"Chain of custody intact: {report.checked} events verified.")

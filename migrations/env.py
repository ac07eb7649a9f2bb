"""Alembic environment: migrations run against the app's own engine and metadata."""

from __future__ import annotations

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as importable names in generated scripts."""
    if type_ == "type" and type(obj).__module__ == "biobank.db":
        autogen_context.imports.add("import biobank.db")
        return f"biobank.db.{type(obj).__name__}()"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=(
            current_app.config.get("BIOBANK_MIGRATION_DATABASE_URL") or str(db.engine.url)
        ).replace("%", "%%"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logging.getLogger("alembic.env").info("No changes in schema detected.")

    # Migrations run as the tables' owner: BIOBANK_MIGRATION_DATABASE_URL when the app itself
    # runs as a lesser role, else the app's own engine.
    owner_url = current_app.config.get("BIOBANK_MIGRATION_DATABASE_URL")
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool) if owner_url else db.engine
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            render_item=render_item,
            process_revision_directives=skip_empty,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

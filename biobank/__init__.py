"""Biobank sample tracking: the application factory."""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from biobank.config import load_config
from biobank.db import SQLITE_IMMEDIATE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_config(app.instance_path, overrides))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_background_work(app)
    return app


def _current_request_id() -> str:
    from flask import has_request_context

    return g.get("request_id", "-") if has_request_context() else "-"


def _install_request_id_on_records() -> None:
    """Every log record, from any logger, carries ``request_id`` (installed once)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "adds_request_id", False):
        return

    def record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = _current_request_id()
        return record

    record_with_request_id.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_id)


def configure_logging(app: Flask) -> None:
    """One line per record, each with the request id; set up once per process."""
    _install_request_id_on_records()
    logger = logging.getLogger("biobank")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def expose_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Transactions are begun by our "begin" hook below, not by pysqlite's own lazy BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    """Reads begin DEFERRED (in WAL mode they never block a writer); a unit of work asks for
    IMMEDIATE, taking the write lock up front so it waits its turn instead of failing with
    "database is locked" when it tries to write from a snapshot another writer has moved past.
    """
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    if not sa_event.contains(engine, "connect", _configure_sqlite):
        sa_event.listen(engine, "connect", _configure_sqlite)
        sa_event.listen(engine, "begin", _begin_sqlite)


def register_extensions(app: Flask) -> None:
    from biobank import unit_of_work
    from biobank.extensions import csrf, db, limiter, migrate
    from biobank.security import init_security

    db.init_app(app)
    unit_of_work.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    # Only the sign-in routes have limits, set by decorators that check inside the view. The
    # extension's own before_request hook looks every other request over for default limits
    # we do not set: 5% of a look-up's CPU, spent finding nothing.
    if not limiter.limit_manager.default_limits and not limiter.limit_manager.application_limits:
        app.before_request_funcs[None].remove(limiter._check_request_limit)
    init_security(app)


def register_blueprints(app: Flask) -> None:
    from biobank.api import register_api
    from biobank.web import register_web

    register_api(app)
    register_web(app)


def register_errorhandlers(app: Flask) -> None:
    from biobank.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from biobank.cli import biobank_cli

    app.cli.add_command(biobank_cli)


def register_background_work(app: Flask) -> None:
    from biobank import account_cache
    from biobank.sequencer import init_background_sequencer

    init_background_sequencer(app)
    account_cache.init_app(app)

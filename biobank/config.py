"""Settings, read once from ``BIOBANK_*`` environment variables (DESIGN §7)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

DEVELOPMENT_SECRET = "development-only-secret-not-for-production"
ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says which variable to fix."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _positive_int_env(name: str, default: int) -> int:
    value = _int_env(name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more, got {value}")
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value < 86400:
        raise ConfigError(f"{name} must be from 0 to 86400 seconds, got {raw!r}")
    return value


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` spellings; we drive psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Label printers live on the site's own network: these are the only addresses the server will
# connect to for a print job (a printer's host is checked against them when it is registered
# and again, after the name is looked up, each time a job is sent).
DEFAULT_PRINTER_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
# Raw (JetDirect) printing: 9100, and 9101-9109 for the further ports of a print server.
DEFAULT_PRINTER_PORTS = "9100-9109"

PrinterNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_printer_networks(raw: str, name: str = "BIOBANK_PRINTER_NETWORKS") -> tuple:
    """Comma-separated networks (``10.0.0.0/8``, ``192.168.4.20/32``, ``fc00::/7``)."""
    networks: list[PrinterNetwork] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name}: {part!r} is not a network; write e.g. 10.20.0.0/16 or 192.168.4.20/32"
            ) from None
        if network.network_address.is_unspecified and network.prefixlen == 0:
            raise ConfigError(
                f"{name}: {part} is every address; name the printers' own networks instead"
            )
        networks.append(network)
    return tuple(networks)


def parse_printer_ports(raw: str, name: str = "BIOBANK_PRINTER_PORTS") -> tuple:
    """Comma-separated ports and ranges (``9100-9109,6101``), as (first, last) pairs."""
    ranges: list[tuple[int, int]] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not a port or a range like 9100-9109") from None
        if not 1 <= low <= high <= 65535:
            raise ConfigError(f"{name}: {part!r} is not within 1-65535, low to high")
        ranges.append((low, high))
    return tuple(ranges)


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    overrides = overrides or {}
    env = overrides.get("BIOBANK_ENV") or os.environ.get("BIOBANK_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"BIOBANK_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    production = env == "production"

    secret = os.environ.get("BIOBANK_SECRET_KEY") or DEVELOPMENT_SECRET
    default_db = "sqlite:///" + str(Path(instance_path) / "biobank.sqlite3")
    database_url = normalise_database_url(os.environ.get("BIOBANK_DATABASE_URL") or default_db)

    config: dict[str, Any] = {
        "BIOBANK_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # The database owner's URL, when the app runs as a role that does not own the tables
        # (README, "Two database roles"): migrations, backups, restores and grant-app-role use
        # it. Empty: the app's own URL.
        "BIOBANK_MIGRATION_DATABASE_URL": normalise_database_url(
            os.environ.get("BIOBANK_MIGRATION_DATABASE_URL", "")
        ),
        # pre_ping turns a connection the database dropped into a fresh one instead of a 500.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": _int_env("BIOBANK_SESSION_HOURS", 12) * 3600,
        "MAX_CONTENT_LENGTH": _int_env("BIOBANK_MAX_UPLOAD_BYTES", 2 * 1024 * 1024),
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": os.environ.get("BIOBANK_RATELIMIT_STORAGE_URL", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "BIOBANK_PARTICIPANT_ID_PATTERN": os.environ.get(
            "BIOBANK_PARTICIPANT_ID_PATTERN", r"^P\d{9}$"
        ),
        "BIOBANK_OVERDUE_HOURS": _int_env("BIOBANK_OVERDUE_HOURS", 36),
        "BIOBANK_MISSING_DAYS": _int_env("BIOBANK_MISSING_DAYS", 10),
        "BIOBANK_TRANSIT_HOURS": _int_env("BIOBANK_TRANSIT_HOURS", 72),
        # Program-wide dashboard figures (freezer fill, collection-to-freezer) are kept this
        # long per process: at a million tubes each costs hundreds of milliseconds.
        "BIOBANK_FIGURE_CACHE_SECONDS": _int_env("BIOBANK_FIGURE_CACHE_SECONDS", 60),
        "BIOBANK_PASSWORD_HASHING": "standard",
        "BIOBANK_TOKEN_HOURS": _int_env("BIOBANK_TOKEN_HOURS", 12),
        "BIOBANK_LOGIN_LIMIT": os.environ.get("BIOBANK_LOGIN_LIMIT", "10 per minute"),
        # Electronic signatures: this many wrong passwords within the window lock the user's
        # signing for the lock time (an admin can unlock sooner). Counted in the database, so
        # the limit holds across processes and servers.
        "BIOBANK_SIGNATURE_MAX_FAILURES": _positive_int_env("BIOBANK_SIGNATURE_MAX_FAILURES", 5),
        "BIOBANK_SIGNATURE_WINDOW_MINUTES": _positive_int_env(
            "BIOBANK_SIGNATURE_WINDOW_MINUTES", 15
        ),
        "BIOBANK_SIGNATURE_LOCK_MINUTES": _positive_int_env("BIOBANK_SIGNATURE_LOCK_MINUTES", 15),
        # Sign-in: wrong passwords per username, counted the same way (in addition to the
        # per-process BIOBANK_LOGIN_LIMIT), so the lockout holds across processes too.
        "BIOBANK_LOGIN_MAX_FAILURES": _positive_int_env("BIOBANK_LOGIN_MAX_FAILURES", 10),
        "BIOBANK_LOGIN_WINDOW_MINUTES": _positive_int_env("BIOBANK_LOGIN_WINDOW_MINUTES", 15),
        "BIOBANK_LOGIN_LOCK_MINUTES": _positive_int_env("BIOBANK_LOGIN_LOCK_MINUTES", 15),
        # The custody log (DESIGN §7a): its name, its signing key (a file, never the database),
        # how often each process's sequencer looks for committed events (0: only
        # `flask biobank sequence` does), and where it writes signed checkpoints, if anywhere.
        "BIOBANK_LOG_ORIGIN": os.environ.get("BIOBANK_LOG_ORIGIN", "biobank.localhost/custody"),
        "BIOBANK_LOG_KEY_FILE": os.environ.get("BIOBANK_LOG_KEY_FILE")
        or ("" if production else str(Path(instance_path) / "custody-log.key")),
        "BIOBANK_LOG_KEY_AUTOCREATE": not production,
        "BIOBANK_SEQUENCER_INTERVAL": _float_env("BIOBANK_SEQUENCER_INTERVAL", 1.0),
        "BIOBANK_CHECKPOINT_DIR": os.environ.get("BIOBANK_CHECKPOINT_DIR", ""),
        "BIOBANK_CHECKPOINT_INTERVAL": _float_env("BIOBANK_CHECKPOINT_INTERVAL", 300.0),
        # The key of the study pseudonyms on distribution manifests (a keyed HMAC of the
        # participant and the protocol); unset, one is derived from the secret key.
        "BIOBANK_PSEUDONYM_KEY": os.environ.get("BIOBANK_PSEUDONYM_KEY", ""),
        # How long a process may remember a bearer token's user (PostgreSQL only: any change to
        # a user, token or site empties every process's memory at once; 0 turns it off).
        "BIOBANK_TOKEN_CACHE_SECONDS": _float_env("BIOBANK_TOKEN_CACHE_SECONDS", 30.0),
        # Label printers (ZPL over raw TCP): where they may be, on which ports, and how long
        # the server waits for one to answer or take the labels before the job fails.
        "BIOBANK_PRINTER_NETWORKS": parse_printer_networks(
            os.environ.get("BIOBANK_PRINTER_NETWORKS", DEFAULT_PRINTER_NETWORKS)
        ),
        "BIOBANK_PRINTER_PORTS": parse_printer_ports(
            os.environ.get("BIOBANK_PRINTER_PORTS", DEFAULT_PRINTER_PORTS)
        ),
        "BIOBANK_PRINTER_TIMEOUT": _float_env("BIOBANK_PRINTER_TIMEOUT", 5.0),
        # flask-smorest: the OpenAPI document lives under the API prefix; the docs page is ours.
        "API_TITLE": "Biobank sample tracking API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(overrides)
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        # PostgreSQL's JIT compiles any query whose estimate looks big (the reports' and
        # dashboards' aggregates): ~200 ms of compiling to save a millisecond of work.
        options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("options", "-c jit=off")
        # One connection per request thread of this process (gunicorn.conf.py passes its
        # BIOBANK_THREADS), one for the custody sequencer, and a few for bursts; each server
        # then holds at most workers × (pool size + overflow) connections of the database's
        # max_connections.
        threads = _positive_int_env("BIOBANK_THREADS", 4)
        options.setdefault(
            "pool_size", _positive_int_env("BIOBANK_DATABASE_POOL_SIZE", threads + 1)
        )
        options.setdefault("max_overflow", _int_env("BIOBANK_DATABASE_MAX_OVERFLOW", 4))
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}
    if not 0 < config["BIOBANK_PRINTER_TIMEOUT"] <= 30:
        # A print job holds a request thread while it waits for the printer.
        raise ConfigError(
            "BIOBANK_PRINTER_TIMEOUT must be more than 0 and at most 30 seconds, got "
            f"{config['BIOBANK_PRINTER_TIMEOUT']}"
        )
    if config["BIOBANK_ENV"] == "production" and config["SECRET_KEY"] == DEVELOPMENT_SECRET:
        raise ConfigError(
            "BIOBANK_SECRET_KEY is not set: production refuses to start with the development "
            "secret (set it to a long random value, e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)"
        )
    if config["BIOBANK_ENV"] == "production" and not config["BIOBANK_LOG_KEY_FILE"]:
        raise ConfigError(
            "BIOBANK_LOG_KEY_FILE is not set: production refuses to start without the custody "
            "log's signing key (create one with `flask --app wsgi biobank log-keygen PATH`, keep "
            "it outside the database and its backups)"
        )
    return config

"""Who a bearer token belongs to, remembered by each process between requests.

Every API request names its token. Reading the token, its user and the user's site is one
statement with three entities: about a fifth of a look-up's CPU (bench/RESULTS.md, request
cost). Each process keeps what it read, by the token's digest, and forgets all of it the moment
any user, token or site changes anywhere:

- a write that changes a user, a token or a site sends ``NOTIFY biobank_accounts`` inside its
  own transaction, so PostgreSQL delivers the notice when, and only if, the change commits;
- every process listens on a connection of its own (a thread, like the custody sequencer) and
  forgets everything on each notice; the writing process also forgets at its own commit;
- the cache is used only while that listener is connected: a dropped connection turns it off
  (and empties it) until the listener is back, so a notice cannot be missed unnoticed;
- a read that began before a notice is not kept (a generation number), so a read of the old
  row that finishes after a revocation cannot put the old answer back;
- an entry lives at most ``BIOBANK_TOKEN_CACHE_SECONDS`` and never past its token's expiry.

What is left: a request that arrives in the moment between a revocation's commit and its notice
reaching another process (a round trip on the database's connection) is answered as the user
was, as a request that began a moment earlier would have been. On SQLite, and wherever the
listener is not connected, nothing is kept: every request reads the token.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from biobank.models import ApiToken, Site, User

log = logging.getLogger(__name__)

CHANNEL = "biobank_accounts"
# What a cached answer is made of: a change to any of these anywhere empties every cache.
WATCHED = (User, ApiToken, Site)
MAX_ENTRIES = 10_000
# How long the listener waits on its connection before checking that it is still alive.
LISTEN_POLL_SECONDS = 5.0
RECONNECT_SECONDS = 2.0
# How the listener names itself to PostgreSQL (pg_stat_activity shows it).
LISTENER_NAME = "biobank-token-cache"


def _columns(record: Any) -> dict[str, Any]:
    return {attr.key: getattr(record, attr.key) for attr in sa.inspect(type(record)).column_attrs}


@dataclass(frozen=True)
class _Entry:
    user: dict[str, Any]
    site: dict[str, Any]
    until: datetime


class TokenCache:
    """One process's remembered tokens for one database."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.generation = 0
        self.listening = False
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def user(self, session: Session, digest: str, now: datetime) -> User | None:
        """The token's user, attached to ``session`` without a statement, if remembered."""
        entry = self._entries.get(digest) if self.listening else None
        if entry is None or entry.until <= now:
            return None
        return _attached(session, entry)

    def remember(self, digest: str, token: ApiToken, generation: int, now: datetime) -> None:
        """Keep ``token``'s user, read while the cache was at ``generation``."""
        entry = _Entry(
            user=_columns(token.user),
            site=_columns(token.user.site),
            until=min(token.expires_at, now + timedelta(seconds=self.seconds)),
        )
        with self._lock:
            if not self.listening or generation != self.generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = entry


def _detached(cls: type, values: dict[str, Any]) -> Any:
    """A record as if just loaded and then detached: adding it to a session costs no SQL."""
    record: Any = sa.inspect(cls).class_manager.new_instance()
    record.__dict__.update(values)  # as a load fills it: no attribute events, no history
    make_transient_to_detached(record)
    return record


def _attached(session: Session, entry: _Entry) -> User:
    in_session = session.identity_map.get(identity_key(User, entry.user["id"]))
    if in_session is not None:
        return in_session
    site = session.identity_map.get(identity_key(Site, entry.site["id"]))
    user = _detached(User, {**entry.user, "site": site or _detached(Site, entry.site)})
    session.add(user)
    return user


# One cache per process and database: a test run or a bench makes many apps in one process.
_caches: dict[tuple[int, sa.URL], TokenCache] = {}
_caches_lock = threading.Lock()


def start(engine: sa.Engine, seconds: float) -> TokenCache | None:
    """This process's cache for ``engine``'s database, with its listener (PostgreSQL only)."""
    if seconds <= 0 or engine.dialect.name != "postgresql":
        return None
    key = (os.getpid(), engine.url)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = TokenCache(seconds)
            conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            threading.Thread(
                target=_listen, args=(conninfo, cache), name="token-cache-listener", daemon=True
            ).start()
    return cache


def in_use() -> TokenCache | None:
    """The cache of this app and process, if it has one (inside an app context)."""
    started = current_app.extensions.get("token_cache")
    return started[1] if started is not None and started[0] == os.getpid() else None


def init_app(app: Flask) -> None:
    seconds = app.config["BIOBANK_TOKEN_CACHE_SECONDS"]
    if not seconds:
        return
    if not sa.event.contains(Session, "after_flush", announce_changes):
        sa.event.listen(Session, "after_flush", announce_changes)
        sa.event.listen(Session, "after_commit", after_transaction)
        sa.event.listen(Session, "after_rollback", after_transaction)

    @app.before_request
    def ensure_listening() -> None:
        # A thread does not survive a fork: each server worker starts its own.
        started = app.extensions.get("token_cache")
        if started is None or started[0] != os.getpid():
            from biobank.extensions import db

            app.extensions["token_cache"] = (os.getpid(), start(db.engine, seconds))


def _listen(conninfo: str, cache: TokenCache) -> None:
    import psycopg

    while True:
        try:
            with psycopg.connect(
                conninfo, autocommit=True, connect_timeout=10, application_name=LISTENER_NAME
            ) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                cache.forget_all()
                cache.listening = True
                while True:
                    for _notice in connection.notifies(timeout=LISTEN_POLL_SECONDS):
                        cache.forget_all()
                    connection.execute("SELECT 1")  # a dead connection raises here
        except Exception as error:
            log.warning("token cache off until its listener reconnects: %s", type(error).__name__)
        finally:
            cache.listening = False
            cache.forget_all()
        threading.Event().wait(RECONNECT_SECONDS)


def _changes_accounts(session: Session) -> bool:
    return any(isinstance(record, WATCHED) for record in (*session.new, *session.deleted)) or any(
        isinstance(record, WATCHED) and session.is_modified(record, include_collections=False)
        for record in session.dirty
    )


_NOTIFIED = "biobank_accounts_notified"


def announce_changes(session: Session, _flush_context: Any) -> None:
    """After a flush that changed a user, a token or a site: forget locally, and tell every
    other process once the transaction commits."""
    if not _changes_accounts(session):
        return
    for cache in list(_caches.values()):
        cache.forget_all()
    if session.info.get(_NOTIFIED):
        return
    session.info[_NOTIFIED] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


def after_transaction(session: Session) -> None:
    if session.info.pop(_NOTIFIED, None):
        for cache in list(_caches.values()):
            cache.forget_all()

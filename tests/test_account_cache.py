"""Bearer tokens remembered by each process, and forgotten everywhere the moment a user, a
token or a site changes (``biobank.account_cache``)."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank import account_cache
from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import ApiToken
from biobank.services.core import accounts
from biobank.unit_of_work import unit_of_work
from tests.conftest import base_config


def _until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.05)


def test_a_read_that_began_before_a_change_is_not_kept(app, collector):
    with unit_of_work():
        token, record = accounts.issue_token(collector, hours=1)
    digest = accounts._token_digest(token)
    cache = account_cache.TokenCache(seconds=30)
    cache.listening = True
    now = utcnow()
    read_at = cache.generation
    cache.forget_all()  # a change was announced while the token was being read
    cache.remember(digest, record, read_at, now)
    assert cache.user(db.session(), digest, now) is None

    cache.remember(digest, record, cache.generation, now)
    user = cache.user(db.session(), digest, now)
    assert user is not None and user.id == collector.id and user.site.code == "UCSD-01"
    # Never past the token's own expiry, nor past the cache's time.
    assert cache.user(db.session(), digest, record.expires_at) is None
    assert cache.user(db.session(), digest, now + timedelta(seconds=31)) is None


def test_nothing_is_kept_while_the_listener_is_not_connected(app, collector):
    with unit_of_work():
        token, record = accounts.issue_token(collector, hours=1)
    digest = accounts._token_digest(token)
    cache = account_cache.TokenCache(seconds=30)
    cache.remember(digest, record, cache.generation, utcnow())
    cache.listening = True
    assert cache.user(db.session(), digest, utcnow()) is None


def test_only_postgresql_can_tell_every_process_so_only_it_keeps_tokens(app):
    on_postgresql = db.engine.dialect.name == "postgresql"
    assert (account_cache.start(db.engine, 30) is not None) == on_postgresql
    assert account_cache.start(db.engine, 0) is None


def _listening_cache():
    cache = account_cache.start(db.engine, 30)
    assert cache is not None
    _until(lambda: cache.listening, 15, "the listener connects")
    return cache


@pytest.mark.postgres
def test_a_deactivated_user_is_refused_on_the_very_next_request(client, collector, auth_headers):
    cache = _listening_cache()
    headers = auth_headers(collector)
    for _ in range(2):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert len(cache._entries) >= 1
    with unit_of_work():
        accounts.deactivate_user(None, collector)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


@pytest.mark.postgres
def test_a_dropped_listener_turns_the_cache_off_until_it_is_back(client, collector, auth_headers):
    cache = _listening_cache()
    headers = auth_headers(collector)
    for _ in range(2):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert cache._entries
    db.session.execute(
        sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :name AND datname = current_database()"
        ),
        {"name": account_cache.LISTENER_NAME},
    )
    db.session.rollback()
    _until(lambda: not cache.listening, 15, "the cache turns off when its listener drops")
    assert not cache._entries
    _until(lambda: cache.listening, 15, "the listener reconnects")


# --- another process: remembers, and forgets when told ------------------------------------------


def _app_process(config, headers, requests, answers) -> None:
    from biobank import create_app

    app = create_app(config)
    client = app.test_client()
    answers.send("ready")
    while requests.recv() is not None:
        status = client.get("/api/v1/auth/me", headers=headers).status_code
        with app.app_context():
            cache = account_cache.in_use()
            answers.send((status, cache is not None and cache.listening))
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_another_process_forgets_a_token_when_a_change_commits(
    app, database_url, collector, auth_headers
):
    """The other process keeps the token's user (a change made behind the app's back, with no
    notice, goes unseen) until a change through the app commits and its notice arrives."""
    headers = auth_headers(collector)
    config = {**base_config(database_url), "BIOBANK_TOKEN_CACHE_SECONDS": 3600}
    spawn = multiprocessing.get_context("spawn")
    to_child, from_parent = spawn.Pipe()
    to_parent, from_child = spawn.Pipe()
    process = spawn.Process(target=_app_process, args=(config, headers, from_parent, to_parent))
    process.start()
    try:
        assert from_child.poll(120) and from_child.recv() == "ready"

        def ask() -> tuple[int, bool]:
            to_child.send("GET /api/v1/auth/me")
            assert from_child.poll(60), "the other process did not answer"
            return from_child.recv()

        _until(lambda: ask() == (200, True), 15, "the other process listens")
        assert ask() == (200, True)  # read while listening: remembered

        # Behind the app's back (no notice): the other process still answers from memory.
        db.session.execute(sa.update(ApiToken).values(revoked_at=utcnow()))
        db.session.commit()
        assert ask() == (200, True)

        # Through the app: the commit's notice reaches the other process.
        with unit_of_work():
            accounts.deactivate_user(None, collector)
        _until(lambda: ask()[0] == 401, 5, "the other process refuses the token")
    finally:
        to_child.send(None)
        process.join(30)
        if process.is_alive():
            process.kill()

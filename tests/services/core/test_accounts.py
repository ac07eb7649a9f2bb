from __future__ import annotations

from datetime import timedelta

import pytest

from biobank.db import utcnow
from biobank.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from biobank.extensions import db
from biobank.models import Role
from biobank.services.core import accounts
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-pass1", "at least 12"),
        ("password1234", "too common"),
        ("Password1234!", "too common"),
        ("qwertyuiop123", "too common"),
        ("aaaaaaaaaaaaaaaa", "more than one"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, problem):
    assert any(problem in message for message in accounts.password_problems(password))


def test_a_long_uncommon_password_is_accepted():
    assert accounts.password_problems("violet-centrifuge-41") == []


def test_password_containing_the_username_is_refused():
    assert accounts.password_problems("dana.collins-2026!", "dana.collins")


def test_passwords_are_stored_as_argon2id_hashes(collector):
    assert collector.password_hash.startswith("$argon2id$")
    assert PASSWORD not in collector.password_hash


def test_authenticate_accepts_the_right_password_only(collector):
    assert accounts.authenticate("COLLECTOR", PASSWORD).id == collector.id
    with pytest.raises(Unauthorized) as refused:
        accounts.authenticate("collector", "wrong-password-xyz")
    assert "username or password" in refused.value.detail
    with pytest.raises(Unauthorized):
        accounts.authenticate("nobody", PASSWORD)


def test_create_user_reports_every_bad_field(clinic):
    with pytest.raises(ValidationFailed) as invalid:
        accounts.create_user(
            username="X", full_name=" ", role="wizard", site=clinic, password="short"
        )
    assert set(invalid.value.errors) == {"username", "role", "full_name", "password"}


def test_usernames_are_unique(collector, clinic):
    with pytest.raises(Conflict):
        accounts.create_user(
            username="collector",
            full_name="Another",
            role=Role.COLLECTOR,
            site=clinic,
            password=PASSWORD,
        )


def test_only_admins_create_users(collector, clinic):
    with pytest.raises(Forbidden):
        accounts.create_user(
            username="newbie",
            full_name="New",
            role=Role.COLLECTOR,
            site=clinic,
            password=PASSWORD,
            actor=collector,
        )


def test_tokens_are_stored_hashed_and_resolve_to_their_user(collector):
    with unit_of_work():
        token, record = accounts.issue_token(collector, hours=1)
    assert token not in record.token_hash
    assert accounts.user_for_token(token).id == collector.id
    assert accounts.user_for_token(token + "x") is None


def test_expired_and_revoked_tokens_are_refused(collector):
    with unit_of_work():
        expired, expired_record = accounts.issue_token(collector, hours=1)
        revoked, revoked_record = accounts.issue_token(collector, hours=1)
    expired_record.expires_at = utcnow() - timedelta(seconds=1)
    accounts.revoke_token(collector, revoked_record.id)
    db.session.commit()
    assert accounts.user_for_token(expired) is None
    assert accounts.user_for_token(revoked) is None


def test_deactivating_a_user_ends_sessions_and_tokens(admin, collector):
    with unit_of_work():
        token, _ = accounts.issue_token(collector, hours=1)
    old_session = collector.session_key
    with unit_of_work():
        accounts.deactivate_user(admin, collector)
    assert accounts.user_for_session(old_session) is None
    assert accounts.user_for_token(token) is None
    with pytest.raises(Unauthorized):
        accounts.authenticate("collector", PASSWORD)


# --- wrong login passwords are counted per user in the database too --------------------------


def _login(username: str, password: str):
    with unit_of_work():
        return accounts.authenticate(username, password)


def _login_throttle(user):
    import sqlalchemy as sa

    from biobank.models import PasswordThrottle, ThrottlePurpose

    db.session.rollback()
    return db.session.scalar(
        sa.select(PasswordThrottle).where(
            PasswordThrottle.user_id == user.id,
            PasswordThrottle.purpose == ThrottlePurpose.LOGIN,
        )
    )


def test_ten_wrong_login_passwords_lock_signing_in_even_with_the_right_one(collector, admin):
    from biobank.errors import TooManyAttempts

    for _ in range(10):
        with pytest.raises(Unauthorized):
            _login("collector", "wrong-guess-1234")
    assert _login_throttle(collector).failures == 10
    with pytest.raises(TooManyAttempts) as locked:
        _login("collector", PASSWORD)
    assert locked.value.status == 429 and 14 * 60 < locked.value.retry_after <= 15 * 60
    assert "signing in is locked for your account until" in locked.value.detail
    assert "Nothing was signed" not in locked.value.detail
    assert locked.value.errors == {"password": [locked.value.detail]}
    with unit_of_work():  # signing (another purpose) is counted on its own
        assert accounts.sign(collector, PASSWORD, accounts.Meaning.DISPATCH)["signer"]
    with unit_of_work():
        assert accounts.unlock_user(admin, collector, "login") == ["login"]
    assert _login("collector", PASSWORD).username == "collector"


def test_a_right_login_password_clears_the_count_and_leaves_no_row(collector):
    for _ in range(9):
        with pytest.raises(Unauthorized):
            _login("collector", "wrong-guess-1234")
    assert _login("collector", PASSWORD).username == "collector"
    assert _login_throttle(collector) is None


def test_an_unknown_username_is_never_locked_and_counts_nothing(app, collector):
    import sqlalchemy as sa

    from biobank.models import PasswordThrottle

    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 2
    for _ in range(4):
        with pytest.raises(Unauthorized):
            _login("nobody.here", "wrong-guess-1234")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordThrottle)) == 0


@pytest.mark.postgres
def test_sixteen_login_guesses_at_once_get_no_more_than_the_limit(app, collector):
    from tests.concurrency import outcome, race

    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 5
    results = race(app, 16, lambda _: accounts.authenticate("collector", "wrong-guess-1234"))
    outcomes = [outcome(result, won="in", wrong=Unauthorized) for result in results]
    assert sorted(outcomes) == ["locked"] * 11 + ["wrong"] * 5, outcomes
    assert _login_throttle(collector).failures == 5

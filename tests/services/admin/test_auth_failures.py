"""Failed sign-ins and electronic signatures are recorded for admins (issue 19): who, which
username, from which address, when and why; never a password. Each row outlives the failed
request's rollback, as the wrong-password count does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import DomainError, Forbidden, TooManyAttempts, Unauthorized, ValidationFailed
from biobank.extensions import db
from biobank.models import AuthFailure, AuthFailureReason, Role, ThrottlePurpose
from biobank.services.admin import auth_failures
from biobank.services.core import accounts
from biobank.services.storage import lifecycle
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD

ADDRESS = "203.0.113.7"
WRONG = "not-my-password-at-all"
FAILURES = AuthFailure.__table__


def _recorded() -> list[sa.Row]:
    """Every recorded failure, oldest first, as committed (read on a connection of its own)."""
    with db.engine.connect() as connection:
        return connection.execute(sa.select(FAILURES).order_by(FAILURES.c.id)).all()


def _sign_in(username: str, password: str, address: str | None = ADDRESS) -> DomainError:
    """A sign-in that fails, in its own unit of work as a request makes it: the refusal."""
    with pytest.raises(DomainError) as refused, unit_of_work():
        accounts.authenticate(username, password, client_address=address)
    return refused.value


def _sign(user, password: str | None, address: str | None = ADDRESS) -> DomainError:
    with pytest.raises(DomainError) as refused, unit_of_work():
        accounts.sign(user, password, accounts.Meaning.DISPOSAL, client_address=address)
    return refused.value


# --- what is recorded ---------------------------------------------------------------------------


def test_a_wrong_sign_in_password_is_recorded_though_the_request_rolls_back(collector):
    with pytest.raises(Unauthorized), unit_of_work():
        collector.full_name = "Changed In The Failed Request"
        accounts.authenticate("  Collector ", WRONG, client_address=ADDRESS)
    db.session.rollback()
    assert db.session.get(type(collector), collector.id).full_name == "Collector"
    [row] = _recorded()
    assert row.purpose == ThrottlePurpose.LOGIN
    assert row.reason == AuthFailureReason.WRONG_PASSWORD
    assert row.username == "Collector"  # as typed, trimmed
    assert row.user_id == collector.id
    assert row.address == ADDRESS
    at = FAILURES.c.at.type.process_result_value(row.at, db.engine.dialect)
    assert at.utcoffset() == timedelta(0)
    assert timedelta(0) <= utcnow() - at < timedelta(minutes=1)


def test_an_unknown_username_is_recorded_without_an_account_and_counts_nothing(collector):
    from biobank.models import PasswordThrottle

    refused = _sign_in("nobody.here", WRONG)
    assert isinstance(refused, Unauthorized)
    [row] = _recorded()
    assert (row.reason, row.username, row.user_id) == (
        AuthFailureReason.UNKNOWN_USER,
        "nobody.here",
        None,
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordThrottle)) == 0


def test_a_sign_in_refused_while_locked_out_is_recorded(app, collector):
    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert isinstance(_sign_in("collector", WRONG), Unauthorized)
    assert isinstance(_sign_in("collector", PASSWORD), TooManyAttempts)
    reasons = [row.reason for row in _recorded()]
    assert reasons == [AuthFailureReason.WRONG_PASSWORD] * 3 + [AuthFailureReason.LOCKED_OUT]
    assert {row.user_id for row in _recorded()} == {collector.id}


def test_a_deactivated_account_is_recorded_though_the_password_was_right(admin, collector):
    with unit_of_work():
        accounts.deactivate_user(admin, collector)
    assert isinstance(_sign_in("collector", PASSWORD), Unauthorized)
    [row] = _recorded()
    assert (row.reason, row.user_id) == (AuthFailureReason.INACTIVE_ACCOUNT, collector.id)


def test_a_successful_sign_in_is_not_recorded(collector):
    with unit_of_work():
        accounts.authenticate("collector", PASSWORD, client_address=ADDRESS)
    assert _recorded() == []


def test_a_wrong_signature_is_recorded_with_the_signer_and_the_address(
    technician, collector, received_tubes, boxes
):
    tube = received_tubes(collector)[0]
    with pytest.raises(ValidationFailed), unit_of_work():
        lifecycle.dispose(
            technician, tube.barcode, "expired", signature_password=WRONG, client_address=ADDRESS
        )
    [row] = _recorded()
    assert row.purpose == ThrottlePurpose.SIGNATURE
    assert row.reason == AuthFailureReason.WRONG_PASSWORD
    assert (row.username, row.user_id, row.address) == ("technician", technician.id, ADDRESS)


def test_a_signature_refused_while_locked_out_is_recorded(app, technician):
    app.config["BIOBANK_SIGNATURE_MAX_FAILURES"] = 2
    for _ in range(2):
        assert isinstance(_sign(technician, WRONG), ValidationFailed)
    assert isinstance(_sign(technician, PASSWORD, address=None), TooManyAttempts)
    rows = _recorded()
    assert [row.reason for row in rows] == [
        AuthFailureReason.WRONG_PASSWORD,
        AuthFailureReason.WRONG_PASSWORD,
        AuthFailureReason.LOCKED_OUT,
    ]
    assert {row.purpose for row in rows} == {ThrottlePurpose.SIGNATURE}
    assert rows[-1].address is None


def test_an_unsigned_attempt_records_nothing(technician):
    for password in (None, ""):
        assert isinstance(_sign(technician, password), ValidationFailed)
    assert _recorded() == []


def test_no_password_is_ever_stored(app, collector, technician):
    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 2
    guesses = ["first-wrong-guess-1", "second-wrong-guess-2", "third-wrong-guess-3"]
    for guess in guesses:
        _sign_in("collector", guess)  # two wrong, then locked out
    _sign_in("nobody.at.all", "unknown-user-guess-4")
    _sign(technician, "signature-guess-5")
    # The password typed into the username field too: it is cut out of the username.
    _sign_in("collector secret-pasted-twice-6", "secret-pasted-twice-6")
    _sign_in("short-pw", "short-pw")
    _sign_in("x" * 60 + "cut-at-64-but-not-in-pieces", "cut-at-64-but-not-in-pieces")
    rows = _recorded()
    assert len(rows) == 8
    every_value = repr([tuple(row) for row in rows])
    for password in [*guesses, "unknown-user-guess-4", "signature-guess-5", PASSWORD]:
        assert password not in every_value
    assert "secret-pasted-twice-6" not in every_value
    assert [row.username for row in rows[-3:]] == [
        "collector (withheld)",
        "(withheld)",
        "x" * 60 + "(wit",
    ]
    assert rows[-3].user_id is None  # "collector (withheld)" names no account


def test_the_username_is_trimmed_and_cut_to_64_characters(collector):
    _sign_in("  " + "x" * 200 + "  ", WRONG)
    [row] = _recorded()
    assert row.username == "x" * 64


def test_a_failure_in_a_unit_of_work_that_still_commits_is_recorded_once(technician):
    with unit_of_work(), pytest.raises(ValidationFailed):
        accounts.sign(technician, WRONG, accounts.Meaning.DISPOSAL, client_address=ADDRESS)
    assert len(_recorded()) == 1


def test_a_wrong_signature_by_a_user_made_in_the_same_transaction_is_kept_with_it(
    biobank_site,
):
    with unit_of_work():
        user = accounts.create_user(
            username="new.signer",
            full_name="New Signer",
            role=Role.TECHNICIAN,
            site=biobank_site,
            password=PASSWORD,
        )
        with pytest.raises(ValidationFailed):
            accounts.sign(user, WRONG, accounts.Meaning.DISPOSAL, client_address=ADDRESS)
    [row] = _recorded()
    assert (row.username, row.user_id) == ("new.signer", user.id)


# --- what admins read -------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def recorded(app, collector, technician):
    """Six failures at known times (T0 + minutes), two of them at the same moment."""
    login, signature = ThrottlePurpose.LOGIN, ThrottlePurpose.SIGNATURE
    unknown, wrong, locked = (
        AuthFailureReason.UNKNOWN_USER,
        AuthFailureReason.WRONG_PASSWORD,
        AuthFailureReason.LOCKED_OUT,
    )
    other = "198.51.100.1"
    rows = [
        (0, login, unknown, "admn", None, other),
        (1, login, wrong, "Collector", collector, ADDRESS),
        (2, signature, wrong, "technician", technician, ADDRESS),
        (2, signature, locked, "technician", technician, ADDRESS),
        (3, login, wrong, "collector", collector, other),
        (60 * 24 * 40, login, unknown, "=cmd|x", None, None),
    ]
    with unit_of_work():
        for minutes, purpose, reason, username, user, address in rows:
            db.session.add(
                AuthFailure(
                    at=T0 + timedelta(minutes=minutes),
                    purpose=purpose,
                    reason=reason,
                    username=username,
                    user_id=user.id if user else None,
                    address=address,
                )
            )
    return rows


def _usernames(page) -> list[str]:
    return [failure.username for failure in page.items]


def test_admins_read_failures_newest_first(admin, recorded):
    page = auth_failures.list_failures(admin)
    assert page.total == 6
    # The two at the same moment: the later recorded first.
    assert _usernames(page) == [
        "=cmd|x",
        "collector",
        "technician",
        "technician",
        "Collector",
        "admn",
    ]
    assert [f.reason for f in page.items[2:4]] == [
        AuthFailureReason.LOCKED_OUT,
        AuthFailureReason.WRONG_PASSWORD,
    ]
    assert page.items[1].user.username == "collector" and page.items[0].user is None


def test_failures_are_filtered_and_paginated(admin, recorded):
    def usernames(**filters):
        return _usernames(auth_failures.list_failures(admin, **filters))

    assert usernames(purpose="signature") == ["technician", "technician"]
    assert usernames(purpose=ThrottlePurpose.LOGIN) == ["=cmd|x", "collector", "Collector", "admn"]
    assert usernames(username=" COLLECTOR ") == ["collector", "Collector"]
    assert usernames(address="198.51.100.1") == ["collector", "admn"]
    assert usernames(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == [
        "technician",
        "technician",
        "Collector",
    ]
    assert usernames(purpose="login", address=ADDRESS, username="collector") == ["Collector"]
    second = auth_failures.list_failures(admin, page=2, per_page=4)
    assert (second.total, second.page, _usernames(second)) == (6, 2, ["Collector", "admn"])


def test_a_time_range_that_ends_before_it_starts_names_the_field(admin, recorded):
    with pytest.raises(ValidationFailed) as refused:
        auth_failures.list_failures(admin, since=T0, until=T0 - timedelta(days=1))
    assert list(refused.value.errors) == ["until"]
    with pytest.raises(ValidationFailed) as refused:
        auth_failures.list_failures(admin, purpose="everything")
    assert "login" in refused.value.errors["purpose"][0]


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator"])
def test_only_admins_read_failures(request, role, recorded):
    with pytest.raises(Forbidden) as refused:
        auth_failures.list_failures(request.getfixturevalue(role))
    assert "failed sign-ins" in refused.value.detail


def test_the_download_table_has_one_row_per_failure_in_utc(admin, recorded):
    table = auth_failures.failures_table(admin, purpose="signature")
    assert table.columns == ("at_utc", "purpose", "reason", "username", "account", "address")
    assert table.rows == [
        (
            "2026-03-01T12:02:00+00:00",
            "e-signature",
            "refused: locked out after too many wrong passwords",
            "technician",
            "technician",
            ADDRESS,
        ),
        (
            "2026-03-01T12:02:00+00:00",
            "e-signature",
            "wrong password",
            "technician",
            "technician",
            ADDRESS,
        ),
    ]


def test_prune_deletes_only_failures_recorded_before_the_cut(admin, recorded):
    with unit_of_work():
        deleted = auth_failures.prune_failures(T0 + timedelta(minutes=2))
    assert deleted == 2
    assert _usernames(auth_failures.list_failures(admin)) == [
        "=cmd|x",
        "collector",
        "technician",
        "technician",
    ]

"""Electronic signatures (21 CFR Part 11-style) on dispatch, receipt close and disposal."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Forbidden, TooManyAttempts, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    AuthFailure,
    Event,
    PasswordThrottle,
    Role,
    SampleStatus,
    ShipmentStatus,
    ThrottlePurpose,
    User,
)
from biobank.services.core import accounts
from biobank.services.shipping import receiving, sending
from biobank.services.storage import lifecycle, placing
from biobank.unit_of_work import unit_of_work
from tests.concurrency import outcome as _outcome
from tests.concurrency import race
from tests.conftest import PASSWORD

WRONG = "not-my-password-at-all"


def _last(kind: str, **where) -> Event:
    stmt = sa.select(Event).where(Event.type == kind)
    for key, value in where.items():
        stmt = stmt.where(getattr(Event, key) == value)
    return db.session.scalars(stmt.order_by(Event.id.desc())).first()


def _packed(collector, finalized_collection):
    tubes = finalized_collection(collector).samples
    with unit_of_work():
        shipment = sending.open_shipment(
            collector, destination="MAYO-BB", temperature="refrigerated"
        )
        for tube in tubes:
            sending.pack_sample(collector, shipment, tube.barcode)
    return shipment


def test_dispatch_is_signed_with_who_when_and_what_it_means(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    with unit_of_work():
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=PASSWORD,
        )
    signature = _last("dispatched", shipment_id=shipment.id, sample_id=None).details["signature"]
    assert signature["signer"] == "collector" and signature["name"] == "Collector"
    assert signature["meaning"] == accounts.Meaning.DISPATCH
    assert signature["signed_at"].endswith("+00:00")
    assert PASSWORD not in str(signature)
    per_tube = _last("dispatched", sample_id=shipment.items[0].sample_id)
    assert per_tube.details["signature"] == signature


@pytest.mark.parametrize("password", [None, "", "not-my-password"])
def test_an_unsigned_or_wrongly_signed_dispatch_changes_nothing(
    collector, biobank_site, finalized_collection, password
):
    shipment = _packed(collector, finalized_collection)
    with pytest.raises(ValidationFailed) as refused:
        sending.dispatch_shipment(
            collector,
            shipment,
            carrier="fedex",
            tracking_number="123456789012",
            signature_password=password,
        )
    assert "signature_password" in refused.value.errors
    db.session.rollback()
    assert shipment.status == ShipmentStatus.OPEN
    assert {i.sample.status for i in shipment.items} == {SampleStatus.FINALIZED}


def test_every_problem_is_reported_with_the_signature(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    with pytest.raises(ValidationFailed) as refused:
        sending.dispatch_shipment(collector, shipment, carrier="fedex", tracking_number="1")
    assert set(refused.value.errors) == {"tracking_number", "signature_password"}


def test_receipt_close_is_signed(technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    with pytest.raises(ValidationFailed) as refused:
        receiving.close_receipt(
            technician, shipment, condition="good", signature_password="wrong-password-42"
        )
    assert "That is not your password" in refused.value.errors["signature_password"][0]
    db.session.rollback()
    with unit_of_work():
        receiving.close_receipt(technician, shipment, condition="good", signature_password=PASSWORD)
    signature = _last("receipt_closed", shipment_id=shipment.id).details["signature"]
    assert signature["signer"] == "technician"
    assert signature["meaning"] == accounts.Meaning.RECEIPT


def test_disposal_is_signed(technician, collector, received_tubes, boxes):
    tube = received_tubes(collector)[0]
    with unit_of_work():
        placing.store_sample(technician, boxes[0], tube.barcode)
    with pytest.raises(ValidationFailed) as refused:
        lifecycle.dispose(technician, tube.barcode, "", signature_password=None)
    assert set(refused.value.errors) == {"reason", "signature_password"}
    db.session.rollback()
    with unit_of_work():
        lifecycle.dispose(technician, tube.barcode, "expired", signature_password=PASSWORD)
    signature = _last("disposed", sample_id=tube.id).details["signature"]
    assert signature["meaning"] == accounts.Meaning.DISPOSAL
    assert tube.status == SampleStatus.DISPOSED


# --- wrong signature passwords are throttled per user, in the database (issue 14) ----------


def _sign(user: User, password: str | None = PASSWORD) -> dict:
    """One signing attempt in its own unit of work, as a request makes it."""
    with unit_of_work():
        return accounts.sign(user, password, accounts.Meaning.DISPOSAL)


def _guess(user: User, times: int = 1) -> list[str]:
    refusals = []
    for _ in range(times):
        with pytest.raises(ValidationFailed) as refused:
            _sign(user, WRONG)
        refusals.append(refused.value.errors["signature_password"][0])
    return refusals


def _throttle(user: User) -> PasswordThrottle | None:
    db.session.rollback()  # read what is committed now
    return db.session.scalar(
        sa.select(PasswordThrottle).where(
            PasswordThrottle.user_id == user.id,
            PasswordThrottle.purpose == ThrottlePurpose.SIGNATURE,
        )
    )


def _age(user: User, **columns) -> None:
    """Move the user's throttle row back in time (as if minutes had passed)."""
    with unit_of_work():
        db.session.execute(
            sa.update(PasswordThrottle).where(PasswordThrottle.user_id == user.id).values(**columns)
        )


def test_a_wrong_signature_password_is_counted_though_its_request_rolls_back(technician):
    [message] = _guess(technician)
    assert message.startswith("That is not your password: nothing was signed or saved.")
    assert "4 more tries before signing is locked for 15 minutes" in message
    row = _throttle(technician)
    assert row.failures == 1 and row.locked_until is None
    assert row.window_started_at.utcoffset() == timedelta(0)


def test_a_refused_dispatch_still_counts_its_wrong_password(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    for _ in range(2):
        with pytest.raises(ValidationFailed), unit_of_work():
            sending.dispatch_shipment(
                collector,
                sending.get_shipment(collector, shipment.id),
                carrier="fedex",
                tracking_number="123456789012",
                signature_password=WRONG,
            )
    assert _throttle(collector).failures == 2
    assert sending.get_shipment(collector, shipment.id).status == ShipmentStatus.OPEN


def test_after_five_wrong_passwords_even_the_right_one_is_refused_until_the_lock_passes(
    technician, collector, received_tubes, boxes
):
    tube = received_tubes(collector)[0]
    messages = _guess(technician, 5)
    assert "1 more try before signing is locked" in messages[3]
    assert "That makes 5 wrong passwords: signing is locked for 15 minutes" in messages[4]
    assert "An administrator can unlock it sooner." in messages[4]
    row = _throttle(technician)
    assert row.failures == 5
    assert timedelta(minutes=14) < row.locked_until - utcnow() <= timedelta(minutes=15)
    with pytest.raises(TooManyAttempts) as locked, unit_of_work():
        lifecycle.dispose(technician, tube.barcode, "expired", signature_password=PASSWORD)
    refusal = locked.value
    assert refusal.status == 429
    assert 14 * 60 < refusal.retry_after <= 15 * 60
    assert refusal.headers == {"Retry-After": str(refusal.retry_after)}
    assert "Too many wrong passwords: signing is locked for your account until" in refusal.detail
    assert "(America/Chicago time)" in refusal.detail  # the biobank's own clock
    assert "Try again in 15 minutes, or ask an administrator to unlock it" in refusal.detail
    assert refusal.errors == {"signature_password": [refusal.detail]}
    assert refusal.to_problem()["locked_until"] == row.locked_until.isoformat()
    assert PASSWORD not in str(refusal.to_problem())
    db.session.rollback()
    assert tube.status == SampleStatus.RECEIVED
    assert _throttle(technician).failures == 5  # a refused attempt is not another failure

    _age(technician, locked_until=utcnow() - timedelta(seconds=1))
    assert _sign(technician)["signer"] == "technician"
    assert _throttle(technician) is None  # nothing left to remember


def test_a_right_password_clears_the_count(technician):
    _guess(technician, 4)
    _sign(technician)
    assert _throttle(technician) is None
    messages = _guess(technician, 4)
    assert "1 more try" in messages[-1]  # four new tries, not one
    assert _throttle(technician).locked_until is None


def test_a_right_password_clears_the_count_though_the_act_is_refused_for_another_reason(
    collector, biobank_site, finalized_collection
):
    shipment = _packed(collector, finalized_collection)
    _guess(collector, 4)
    with pytest.raises(ValidationFailed) as refused, unit_of_work():
        sending.dispatch_shipment(
            collector,
            sending.get_shipment(collector, shipment.id),
            carrier="fedex",
            tracking_number="1",
            signature_password=PASSWORD,
        )
    assert set(refused.value.errors) == {"tracking_number"}
    assert _throttle(collector) is None


def test_wrong_passwords_older_than_the_window_start_a_new_count(technician):
    _guess(technician, 4)
    _age(technician, window_started_at=utcnow() - timedelta(minutes=15, seconds=1))
    [message] = _guess(technician)
    assert "4 more tries" in message
    assert _throttle(technician).failures == 1


def test_the_limits_are_settings(app, technician):
    app.config.update(
        BIOBANK_SIGNATURE_MAX_FAILURES=2,
        BIOBANK_SIGNATURE_WINDOW_MINUTES=60,
        BIOBANK_SIGNATURE_LOCK_MINUTES=120,
    )
    messages = _guess(technician, 2)
    assert "1 more try before signing is locked for 120 minutes" in messages[0]
    with pytest.raises(TooManyAttempts) as locked:
        _sign(technician)
    assert 119 * 60 < locked.value.retry_after <= 120 * 60


def test_each_user_is_counted_alone(technician, make_user, biobank_site):
    colleague = make_user("technician.two", Role.TECHNICIAN, biobank_site)
    _guess(technician, 5)
    with pytest.raises(TooManyAttempts):
        _sign(technician)
    assert _sign(colleague)["signer"] == "technician.two"


def test_an_unsigned_attempt_is_not_a_wrong_password(technician):
    for password in (None, ""):
        with pytest.raises(ValidationFailed):
            _sign(technician, password)
    assert _throttle(technician) is None


def test_an_admin_unlocks_a_locked_out_user_and_the_log_says_who(app, technician, admin, caplog):
    _guess(technician, 5)
    logger = logging.getLogger("biobank")
    caplog.set_level(logging.INFO)
    logger.propagate = True  # let caplog see what the app logs
    try:
        with unit_of_work():
            cleared = accounts.unlock_user(admin, accounts.get_user("technician"))
        with unit_of_work():
            again = accounts.unlock_user(admin, accounts.get_user("technician"), "signature")
    finally:
        logger.propagate = False
    assert cleared == [ThrottlePurpose.SIGNATURE] and again == []
    lines = [r.getMessage() for r in caplog.records if r.name == "biobank.services.core.accounts"]
    assert "admin unlocked technician: signature" in lines
    assert "admin unlocked technician: nothing was locked" in lines
    assert not any(PASSWORD in line or WRONG in line for line in lines)
    assert _sign(technician)["signer"] == "technician"


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator"])
def test_only_an_admin_can_unlock(request, role, technician):
    _guess(technician, 5)
    actor = request.getfixturevalue(role)
    with pytest.raises(Forbidden), unit_of_work():
        accounts.unlock_user(actor, technician)
    assert _throttle(technician).locked_until is not None


def test_unlocking_for_an_unknown_purpose_names_the_field(admin, technician):
    with pytest.raises(ValidationFailed) as refused:
        accounts.unlock_user(admin, technician, "everything")
    assert "purpose" in refused.value.errors


def _sign_sixteen_at_once(app, user_id: int, password: str) -> list[str]:
    results = race(
        app,
        16,
        lambda _: accounts.sign(db.session.get(User, user_id), password, accounts.Meaning.DISPOSAL),
    )
    return [_outcome(result, won="signed", wrong=ValidationFailed) for result in results]


@pytest.mark.postgres
def test_sixteen_right_passwords_at_once_all_sign(app, technician):
    """A person signing from several stations at once is not a guesser: attempts in flight are
    not failures, so none of the sixteen is locked out."""
    outcomes = _sign_sixteen_at_once(app, technician.id, PASSWORD)
    assert outcomes == ["signed"] * 16, outcomes
    assert _throttle(technician) is None


@pytest.mark.postgres
def test_sixteen_guesses_at_once_get_no_more_than_five_tries(app, technician):
    """Sixteen requests with wrong passwords, released together: five are checked (and
    fail), the other eleven are refused without a look at the password."""
    outcomes = _sign_sixteen_at_once(app, technician.id, WRONG)
    assert sorted(outcomes) == ["locked"] * 11 + ["wrong"] * 5, outcomes
    row = _throttle(technician)
    assert row.failures == 5 and row.locked_until is not None
    # Each of the sixteen is recorded for admins, as what it was.
    recorded = db.session.scalars(sa.select(AuthFailure.reason)).all()
    assert sorted(recorded) == ["locked_out"] * 11 + ["wrong_password"] * 5
    with pytest.raises(TooManyAttempts):
        _sign(technician)


def test_a_user_made_in_the_same_transaction_can_sign(biobank_site):
    """The demo data makes its users and signs with them in one transaction: the count, kept
    on a connection of its own on PostgreSQL, cannot see such a user yet, and need not."""
    with unit_of_work():
        user = accounts.create_user(
            username="new.signer",
            full_name="New Signer",
            role=Role.TECHNICIAN,
            site=biobank_site,
            password=PASSWORD,
        )
        signature = accounts.sign(user, PASSWORD, accounts.Meaning.DISPOSAL)
        with pytest.raises(ValidationFailed, match="not your password"):
            accounts.sign(user, WRONG, accounts.Meaning.DISPOSAL)
    assert signature["signer"] == "new.signer"

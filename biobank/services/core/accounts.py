"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import timedelta
from functools import cache
from importlib import resources

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from biobank import account_cache
from biobank.db import utcnow
from biobank.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from biobank.extensions import db
from biobank.models import ApiToken, AuthFailureReason, Role, Site, ThrottlePurpose, User
from biobank.models.users import new_session_key
from biobank.services.core import policy, throttle
from biobank.unit_of_work import get_record

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_TOKEN_HOURS = 24 * 90
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")

# argon2id with the library's defaults (RFC 9106 "low memory" profile) in service; the test
# suite sets BIOBANK_PASSWORD_HASHING=fast: still argon2id, at a cost that keeps tests quick.
_HASHERS = {
    "standard": PasswordHasher(),
    "fast": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}


def _hasher() -> PasswordHasher:
    return _HASHERS[current_app.config.get("BIOBANK_PASSWORD_HASHING", "standard")]


@cache
def _dummy_hash(profile: str) -> str:
    """Verified against when the username does not exist, so both paths take the same time."""
    return _HASHERS[profile].hash("not-a-real-password-only-for-timing")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("biobank.data").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Why a password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    # "password1234!" is "password" with decoration: refuse the base word too.
    base = re.sub(r"[\d\W_]+$", "", lowered)
    if lowered in common_passwords() or (base and base in common_passwords()):
        problems.append("This password is too common; choose one that is not on breach lists.")
    elif len(set(lowered)) <= 2:
        problems.append("Use more than one or two different characters.")
    if username and username.lower() in lowered:
        problems.append("Do not put your username in your password.")
    return problems


def hash_password(password: str, username: str | None = None) -> str:
    problems = password_problems(password, username)
    if problems:
        raise ValidationFailed(" ".join(problems), errors={"password": problems})
    return _hasher().hash(password)


def create_user(
    *,
    username: str,
    full_name: str,
    role: Role | str,
    site: Site,
    password: str,
    actor: User | None = None,
) -> User:
    """``actor`` is None only for the command line, which runs with the operator's authority."""
    if actor is not None:
        policy.require(actor, policy.Action.MANAGE_USERS)
    username = username.strip().lower()
    errors: dict[str, list[str]] = {}
    if not USERNAME_PATTERN.match(username):
        errors["username"] = [
            "Use 3-64 characters: lower-case letters, digits, '.', '_' or '-', starting with "
            "a letter."
        ]
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = [f"Choose one of: {', '.join(r.value for r in Role)}."]
    if not full_name.strip():
        errors["full_name"] = ["Give the person's name as shown to colleagues."]
    problems = password_problems(password, username)
    if problems:
        errors["password"] = problems
    if errors:
        raise ValidationFailed.for_fields(errors)
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise Conflict(f"The username {username!r} is taken.")
    user = User(
        username=username,
        full_name=full_name.strip(),
        role=role,
        site=site,
        password_hash=_hasher().hash(password),
    )
    db.session.add(user)
    db.session.flush()
    return user


NOT_SIGNED_IN = "The username or password is not right, or the account is inactive."


def authenticate(username: str, password: str, *, client_address: str | None = None) -> User:
    """The active user with these credentials, or ``Unauthorized`` not saying which was wrong.

    Every failure is recorded (``services.core.throttle``, read on the admins' failed-attempts
    page): the username as typed, the account it names if any, ``client_address``, and why;
    never the password."""
    name = username.strip().lower()
    # No username holds a NUL (PostgreSQL refuses one in any text it is sent): no such user.
    user = (
        None if "\x00" in name else db.session.scalar(sa.select(User).where(User.username == name))
    )
    source = throttle.Source.typed(username, password, client_address)
    # A known user's wrong passwords are counted in the database (services.core.throttle): past
    # BIOBANK_LOGIN_MAX_FAILURES within the window, even the right one is refused for a while.
    attempt = (
        throttle.take_attempt(user, ThrottlePurpose.LOGIN, source, field="password")
        if user
        else None
    )
    try:
        profile = current_app.config.get("BIOBANK_PASSWORD_HASHING", "standard")
        _hasher().verify(user.password_hash if user else _dummy_hash(profile), password)
    except (VerificationError, InvalidHashError):
        right = False
    else:
        right = True
    if attempt is not None:
        if right:
            attempt.succeeded()
        else:
            attempt.failed()  # counted, and recorded as a wrong password
    if user is None:
        throttle.record_failure(ThrottlePurpose.LOGIN, AuthFailureReason.UNKNOWN_USER, source)
        raise Unauthorized(NOT_SIGNED_IN)
    if not right:
        raise Unauthorized(NOT_SIGNED_IN)
    if not user.active:
        throttle.record_failure(
            ThrottlePurpose.LOGIN, AuthFailureReason.INACTIVE_ACCOUNT, source, user
        )
        raise Unauthorized(NOT_SIGNED_IN)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def change_password(user: User, new_password: str) -> None:
    user.password_hash = hash_password(new_password, user.username)
    user.session_key = new_session_key()
    db.session.flush()


def deactivate_user(actor: User | None, user: User) -> None:
    """Ends every session and token the user has. ``actor`` None: the command line."""
    if actor is not None:
        policy.require(actor, policy.Action.MANAGE_USERS)
        if actor.id == user.id:
            raise Conflict("You cannot deactivate yourself: ask another administrator.")
    user.active = False
    user.session_key = new_session_key()
    now = utcnow()
    for token in db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now
    db.session.flush()


def reactivate_user(actor: User, user: User) -> None:
    """Let a deactivated user log in again (their old sessions and tokens stay ended)."""
    policy.require(actor, policy.Action.MANAGE_USERS)
    user.active = True
    db.session.flush()


def unlock_user(
    actor: User, user: User, purpose: ThrottlePurpose | str | None = None
) -> list[ThrottlePurpose]:
    """Forget the user's wrong passwords now instead of when their lock passes (all purposes,
    or one): the purposes that had any. Logged with who unlocked whom."""
    policy.require(actor, policy.Action.MANAGE_USERS)
    if purpose is not None:
        try:
            purpose = ThrottlePurpose(purpose)
        except ValueError:
            raise ValidationFailed.for_field(
                "purpose", f"Choose one of: {', '.join(p.value for p in ThrottlePurpose)}."
            ) from None
    cleared = throttle.clear(user, purpose)
    log.info(
        "%s unlocked %s: %s",
        actor.username,
        user.username,
        ", ".join(cleared) if cleared else "nothing was locked",
    )
    return cleared


def get_user(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user


def list_users(actor: User) -> list[User]:
    policy.require(actor, policy.Action.MANAGE_USERS)
    return list(db.session.scalars(sa.select(User).order_by(User.username)))


def user_for_session(session_key: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.session_key == session_key))
    return user if user is not None and user.active else None


# --- API tokens ---------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, no KDF needed.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, *, hours: int, name: str | None = None) -> tuple[str, ApiToken]:
    """A new bearer token; the plain token exists only in the return value."""
    if not 1 <= hours <= MAX_TOKEN_HOURS:
        raise ValidationFailed.for_field(
            "expires_in_hours", f"Choose between 1 and {MAX_TOKEN_HOURS} hours."
        )
    token = "bbk_" + secrets.token_urlsafe(32)
    record = ApiToken(
        user=user,
        token_hash=_token_digest(token),
        name=name,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(record)
    db.session.flush()
    return token, record


# Every API request runs it: built once, not on each request.
_TOKEN_BY_DIGEST = sa.select(ApiToken).where(ApiToken.token_hash == sa.bindparam("digest"))


def user_for_token(token: str) -> User | None:
    """The active user whose token this is, if it is neither expired nor revoked. Remembered
    by the process between requests where that is safe (``biobank.account_cache``)."""
    digest = _token_digest(token)
    now = utcnow()
    remembered = account_cache.in_use()
    if remembered is not None and (user := remembered.user(db.session(), digest, now)):
        return user
    generation = remembered.generation if remembered is not None else 0
    record = db.session.scalar(_TOKEN_BY_DIGEST, {"digest": digest})
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    if not record.user.active:
        return None
    if remembered is not None:
        remembered.remember(digest, record, generation, now)
    return record.user


def revoke_token(user: User, token_id: int) -> None:
    record = get_record(ApiToken, token_id)
    if record is None or (record.user_id != user.id and user.role != Role.ADMIN):
        raise NotFound("No such token.")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
    db.session.flush()


# --- electronic signatures ------------------------------------------------------------------


class Meaning:
    """What a signature attests, recorded with it (21 CFR Part 11-style)."""

    DISPATCH = "Dispatched: I packed the tubes on this manifest and handed them to the carrier."
    RECEIPT = "Received: I checked this shipment in as recorded, and its condition on arrival."
    DISPOSAL = "Disposed: I destroyed this tube for the reason given."
    DISTRIBUTION = (
        "Distributed: I packed the tubes on this manifest for the study and handed them to the "
        "carrier."
    )


def sign(
    actor: User, password: str | None, meaning: str, *, client_address: str | None = None
) -> dict[str, str | int]:
    """An electronic signature: the signer re-enters their password at the moment of the act.

    Returned as the record kept with the act's events: who, when, and what it means.

    Wrong passwords are counted per user in the database (``services.core.throttle``): after
    ``BIOBANK_SIGNATURE_MAX_FAILURES`` of them within the window, signing is refused with
    ``TooManyAttempts``, even with the right password, until the lock passes or an admin
    unlocks the user. A right password clears the count. Each wrong password and each
    refusal is recorded with the signer and ``client_address`` for admins (never the password).
    """
    if not password:
        raise ValidationFailed.for_field(
            "signature_password", "Re-enter your password to sign this (electronic signature)."
        )
    attempt = throttle.take_attempt(
        actor,
        ThrottlePurpose.SIGNATURE,
        throttle.Source(actor.username, client_address),
        field="signature_password",
    )
    try:
        _hasher().verify(actor.password_hash, password)
    except (VerificationError, InvalidHashError):
        left = attempt.failed()
        raise ValidationFailed.for_field(
            "signature_password",
            f"That is not your password: nothing was signed or saved. {left}",
        ) from None
    attempt.succeeded()
    return {
        "signer_id": actor.id,
        "signer": actor.username,
        "name": actor.full_name,
        "signed_at": utcnow().isoformat(),
        "meaning": meaning,
        "method": "password re-entry",
    }


def sign_after_checks(
    actor: User,
    password: str | None,
    meaning: str,
    errors: dict[str, list[str]],
    *,
    client_address: str | None = None,
) -> dict[str, str | int]:
    """``sign``, once the act's other fields were checked into ``errors``: a wrong password and
    those errors are refused together, one 422 that names every field to fix."""
    signature = None
    try:
        signature = sign(actor, password, meaning, client_address=client_address)
    except ValidationFailed as unsigned:
        errors = {**errors, **(unsigned.errors or {})}
    if errors:
        raise ValidationFailed.for_fields(errors)
    assert signature is not None  # signing raised otherwise
    return signature

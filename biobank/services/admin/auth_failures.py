"""Failed sign-ins and electronic signatures, as admins read them (``models.AuthFailure``).

``services.core.throttle`` records each one as it happens; here they are listed newest first with
filters (the admin page, its CSV and the API), and old ones pruned (the command line). Only
admins read them: a username typed by mistake, or a colleague's address, is nobody else's
business.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from biobank.db import rows_affected
from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import AuthFailure, AuthFailureReason, ThrottlePurpose, User
from biobank.services.core import policy
from biobank.services.core.pages import MAX_PER_PAGE, Page, paginate
from biobank.services.reporting.reports import ReportTable

PURPOSE_NAMES = {ThrottlePurpose.LOGIN: "sign-in", ThrottlePurpose.SIGNATURE: "e-signature"}
REASON_NAMES = {
    AuthFailureReason.WRONG_PASSWORD: "wrong password",
    AuthFailureReason.UNKNOWN_USER: "unknown username",
    AuthFailureReason.LOCKED_OUT: "refused: locked out after too many wrong passwords",
    AuthFailureReason.INACTIVE_ACCOUNT: "account deactivated",
}
CSV_COLUMNS = ("at_utc", "purpose", "reason", "username", "account", "address")


def _purpose(purpose: ThrottlePurpose | str | None) -> ThrottlePurpose | None:
    if purpose in (None, ""):
        return None
    try:
        return ThrottlePurpose(purpose)
    except ValueError:
        raise ValidationFailed.for_field(
            "purpose", f"Choose one of: {', '.join(p.value for p in ThrottlePurpose)}."
        ) from None


def _failures(
    *,
    purpose: ThrottlePurpose | str | None = None,
    username: str | None = None,
    address: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> sa.Select[Any]:
    stmt = sa.select(AuthFailure)
    chosen = _purpose(purpose)
    if chosen is not None:
        stmt = stmt.where(AuthFailure.purpose == chosen)
    for field, typed in (("username", username), ("address", address)):
        if typed and "\x00" in typed:  # nothing recorded holds one; PostgreSQL refuses it
            raise ValidationFailed.for_field(field, "Remove the NUL character (\\0).")
    if username and username.strip():
        stmt = stmt.where(sa.func.lower(AuthFailure.username) == username.strip().lower())
    if address and address.strip():
        stmt = stmt.where(AuthFailure.address == address.strip())
    if since is not None and until is not None and since >= until:
        raise ValidationFailed.for_field(
            "until", "The end of the time range must come after its start."
        )
    if since is not None:
        stmt = stmt.where(AuthFailure.at >= since)
    if until is not None:
        stmt = stmt.where(AuthFailure.at < until)
    # Newest first; the id orders attempts recorded in the same microsecond.
    return stmt.order_by(AuthFailure.at.desc(), AuthFailure.id.desc())


def list_failures(
    actor: User,
    *,
    page: int = 1,
    per_page: int = 50,
    most: int = MAX_PER_PAGE,
    **filters: Any,
) -> Page[AuthFailure]:
    """Failed sign-ins and signatures, newest first (admins). Filters: ``purpose``
    (``login`` or ``signature``), ``username`` (as typed, any case), ``address`` (exact), and
    ``since`` (included) / ``until`` (excluded), aware datetimes."""
    policy.require(actor, policy.Action.READ_AUTH_FAILURES)
    return paginate(_failures(**filters), page=page, per_page=per_page, most=most)


def failures_table(actor: User, *, limit: int = 100_000, **filters: Any) -> ReportTable:
    """The same list as one table, for the CSV download (times in UTC, to the second)."""
    found = list_failures(actor, per_page=limit, most=limit, **filters)
    return ReportTable(
        "failed-sign-ins-and-signatures",
        "Failed sign-ins and electronic signatures",
        CSV_COLUMNS,
        [
            (
                failure.at.isoformat(timespec="seconds"),
                PURPOSE_NAMES[failure.purpose],
                REASON_NAMES[failure.reason],
                failure.username,
                failure.user.username if failure.user is not None else "",
                failure.address or "",
            )
            for failure in found.items
        ],
        note="Newest first. Usernames as typed; passwords are never recorded.",
    )


def prune_failures(before: datetime) -> int:
    """Delete the failed attempts recorded before ``before``; how many were deleted. For the
    command line, which runs with the operator's authority."""
    deleted = db.session.execute(
        sa.delete(AuthFailure).where(AuthFailure.at < before),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    return rows_affected(deleted)

"""Administration pages: user accounts and the failed sign-ins and signatures (the rest is on
the admin home page and storage)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from biobank.downloads import send_report
from biobank.errors import DomainError, ValidationFailed
from biobank.models import User
from biobank.security import current_actor
from biobank.services.admin import auth_failures
from biobank.services.core import accounts, policy
from biobank.services.core.timebounds import days_in
from biobank.unit_of_work import unit_of_work
from biobank.web.forms import FailedAttemptFilterForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


def _change(username: str, change, done: str):
    actor = current_actor()
    form = FlaskForm()  # the CSRF token is all a button posts
    if not form.validate_on_submit():
        flash("The page was out of date: try again.", "error")
        return redirect(url_for("home.index"))
    try:
        with unit_of_work():
            user = accounts.get_user(username)
            change(actor, user)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        flash(refused.detail, "error")
    else:
        flash(done.format(user=user.username), "success")
    return redirect(url_for("home.index") + "#users")


@bp.post("/users/<username>/deactivate")
@login_required
def deactivate_user(username: str):
    return _change(
        username,
        accounts.deactivate_user,
        "{user} is deactivated: their sessions and tokens are ended.",
    )


@bp.post("/users/<username>/reactivate")
@login_required
def reactivate_user(username: str):
    return _change(username, accounts.reactivate_user, "{user} can log in again.")


@bp.post("/users/<username>/unlock")
@login_required
def unlock_user(username: str):
    return _change(
        username,
        accounts.unlock_user,
        "{user} is unlocked: their wrong passwords are forgotten, and they can sign in and sign "
        "again now.",
    )


# --- failed sign-ins and electronic signatures -------------------------------------------------


def _failure_filters(actor: User) -> tuple[FailedAttemptFilterForm, dict[str, Any] | None]:
    """The page's filters from the query string, as the service takes them (None when they
    are not valid: the form says why). Dates are days in the admin's site time zone, both
    included."""
    policy.require(actor, policy.Action.READ_AUTH_FAILURES)  # the 403 page before anything
    form = FailedAttemptFilterForm(formdata=request.args)
    if not form.validate():
        return form, None
    try:
        since, until = days_in(actor.site.timezone, form.since.data, form.until.data)
    except ValidationFailed as refused:
        for name, messages in (refused.errors or {}).items():
            form[name].errors = list(messages)
        return form, None
    return form, {
        "purpose": form.purpose.data or None,
        "username": form.username.data or None,
        "address": form.address.data or None,
        "since": since,
        "until": until,
    }


def _refusal(form: FailedAttemptFilterForm) -> ValidationFailed:
    return ValidationFailed.for_fields(form.errors)


@bp.get("/failed-attempts")
@login_required
def failed_attempts():
    """Failed sign-ins and e-signatures, newest first, with filters (admins)."""
    actor = current_actor()
    form, filters = _failure_filters(actor)
    found = None
    if filters is not None:
        try:
            found = auth_failures.list_failures(
                actor, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, **filters
            )
        except ValidationFailed as refused:
            for name, messages in (refused.errors or {}).items():
                form[name].errors = list(messages)
    return render_template(
        "admin/failed_attempts.html",
        form=form,
        found=found,
        purposes=auth_failures.PURPOSE_NAMES,
        reasons=auth_failures.REASON_NAMES,
    ), (200 if found is not None else 422)


@bp.get("/failed-attempts.csv")
@login_required
def failed_attempts_csv():
    """The same list, with the page's filters, as CSV (times in UTC)."""
    actor = current_actor()
    form, filters = _failure_filters(actor)
    if filters is None:
        raise _refusal(form)
    table = auth_failures.failures_table(actor, **filters)
    return send_report(table, "csv", zone=actor.site.timezone)

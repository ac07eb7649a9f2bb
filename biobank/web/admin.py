"""Administration pages: user accounts (the rest is on the admin home page and storage)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from biobank.db import unit_of_work
from biobank.errors import DomainError
from biobank.security import current_actor
from biobank.services import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")


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

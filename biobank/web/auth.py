from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required, login_user, logout_user

from biobank.errors import TooManyAttempts, Unauthorized
from biobank.extensions import limiter
from biobank.services.core import accounts
from biobank.unit_of_work import unit_of_work
from biobank.web.forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")


def _login_limit() -> str:
    return current_app.config["BIOBANK_LOGIN_LIMIT"]


def _username_key() -> str:
    return "user:" + request.form.get("username", "-").strip().lower()[:64]


def _only_posts() -> bool:
    return request.method != "POST"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, exempt_when=_only_posts)
@limiter.limit(_login_limit, key_func=_username_key, exempt_when=_only_posts)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                user = accounts.authenticate(
                    form.username.data, form.password.data, client_address=request.remote_addr
                )
        except Unauthorized as refused:
            form.password.errors.append(refused.detail)
            return render_template("login.html", form=form), 401
        except TooManyAttempts as refused:
            form.password.errors.append(refused.detail)
            response = make_response(render_template("login.html", form=form), 429)
            response.headers.update(refused.headers)
            return response
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.errors else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))

"""Who is asking: the web session (Flask-Login) or an API bearer token."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from biobank.errors import Unauthorized
from biobank.extensions import login_manager
from biobank.models import User
from biobank.services.core import accounts

API_PREFIX = "/api/v1"
# Reachable without credentials: getting a token, and the API's own description.
PUBLIC_API_PATHS = (
    f"{API_PREFIX}/auth/tokens",
    f"{API_PREFIX}/openapi.json",
    f"{API_PREFIX}/health",  # a load balancer polls it without an account
)
PUBLIC_API_PREFIXES = (f"{API_PREFIX}/docs",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def current_actor() -> User:
    """The authenticated user of this request (API token or web session)."""
    actor = g.get("actor")
    if actor is not None:
        return actor
    if current_user.is_authenticated:
        return current_user._get_current_object()
    raise Unauthorized("Log in first.")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate_api_request() -> None:
    path = request.path
    if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
        return
    if path in PUBLIC_API_PATHS or path.startswith(PUBLIC_API_PREFIXES):
        return
    if request.routing_exception is not None:
        return  # an unknown route or method answers its own 404 / 405, token or not
    token = _bearer_token()
    if token is not None:
        user = accounts.user_for_token(token)
        if user is None:
            raise Unauthorized(
                "The bearer token is not valid, has expired or was revoked: get a new one from "
                "POST /api/v1/auth/tokens."
            )
        g.actor = user
        return
    if current_user.is_authenticated:
        # The app's own pages call the API with the session cookie; a cookie is sent by the
        # browser on its own, so writes must also prove they come from our page.
        if request.method in UNSAFE_METHODS:
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except (ValidationError, CSRFError):
                raise Unauthorized(
                    "Session-authenticated writes need the page's CSRF token in X-CSRFToken."
                ) from None
        g.actor = current_user._get_current_object()
        return
    raise Unauthorized(
        "Send a bearer token (Authorization: Bearer …) from POST /api/v1/auth/tokens."
    )


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script anywhere: every page's JS is a static file
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Swagger UI sets inline styles on its elements; still no inline script, nothing from outside.
API_DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    policy = (
        API_DOCS_POLICY
        if request.path.startswith(PUBLIC_API_PREFIXES)
        else (CONTENT_SECURITY_POLICY)
    )
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype == "text/html" and current_user.is_authenticated:
        # Pages show participant IDs and custody details: never from a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_security(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to continue."
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(session_key: str) -> User | None:
        return accounts.user_for_session(session_key)

    app.before_request(authenticate_api_request)
    app.after_request(add_security_headers)

    @app.teardown_request
    def forget_identity(_error: BaseException | None) -> None:
        # Identity is per request, even where one app context serves several (tests, CLI).
        g.pop("actor", None)
        g.pop("_login_user", None)
        g.pop("csrf_token", None)  # Flask-WTF caches the session's token here

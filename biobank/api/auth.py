from __future__ import annotations

from flask import current_app, request

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.extensions import limiter
from biobank.schemas.accounts import (
    AuthFailureQuerySchema,
    AuthFailureSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from biobank.schemas.common import page_schema
from biobank.security import current_actor
from biobank.services.admin import auth_failures
from biobank.services.core import accounts
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_auth",
    __name__,
    url_prefix=f"{API_PREFIX}/auth",
    description="API tokens; failed sign-ins and signatures (admin)",
)


def _login_limit() -> str:
    return current_app.config["BIOBANK_LOGIN_LIMIT"]


def _username_key() -> str:
    body = request.get_json(silent=True) or {}
    username = body.get("username") if isinstance(body, dict) else None
    return f"user:{str(username).strip().lower()[:64]}" if username else "user:-"


@blp.post("/tokens")
@limiter.limit(_login_limit)
@limiter.limit(_login_limit, key_func=_username_key)
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenSchema)
@blp.doc(security=[])
@blp.problems(401, 422, 429)
def create_token(body):
    """Exchange a username and password for a bearer token (shown once)."""
    with unit_of_work():
        user = accounts.authenticate(
            body["username"], body["password"], client_address=request.remote_addr
        )
        hours = body.get("expires_in_hours") or current_app.config["BIOBANK_TOKEN_HOURS"]
        token, record = accounts.issue_token(user, hours=hours, name=body.get("name"))
    return {"id": record.id, "token": token, "expires_at": record.expires_at, "name": record.name}


@blp.delete("/tokens/<id:token_id>")
@blp.response(204)
@blp.problems(401, 404)
def revoke_token(token_id: int):
    """Revoke one of your tokens (admins: anyone's)."""
    with unit_of_work():
        accounts.revoke_token(current_actor(), token_id)


@blp.get("/me")
@blp.response(200, UserSchema)
@blp.problems(401)
def who_am_i():
    """The user the token belongs to."""
    return current_actor()


@blp.get("/failures")
@blp.arguments(AuthFailureQuerySchema, location="query")
@blp.response(200, page_schema(AuthFailureSchema))
@blp.problems(401, 403, 422)
def list_failures(args):
    """Failed sign-ins and electronic signatures, newest first (admin): when, what for, why,
    the username as typed, the account it named and the client's address. Never a password."""
    return page_body(auth_failures.list_failures(current_actor(), **args))

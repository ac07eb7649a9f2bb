from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.accounts import (
    UnlockedSchema,
    UnlockSchema,
    UserCreateSchema,
    UserDetailSchema,
)
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.security import current_actor
from biobank.services.core import accounts
from biobank.services.core.pages import page_of
from biobank.services.core.sites import site_field
from biobank.unit_of_work import unit_of_work

blp = Blueprint("api_users", __name__, url_prefix=f"{API_PREFIX}/users", description="Users")


@blp.get("")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(UserDetailSchema))
@blp.problems(401, 403, 422)
def list_users(args):
    """Every user (admin)."""
    return page_body(page_of(accounts.list_users(current_actor()), **args))


@blp.post("")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserDetailSchema)
@blp.problems(401, 403, 409, 422)
def create_user(body):
    """Create a user (admin). Passwords: 12+ characters, not a common one."""
    actor = current_actor()
    with unit_of_work():
        site = site_field(body.pop("site"))
        user = accounts.create_user(actor=actor, site=site, **body)
    return user


@blp.post("/<username>/deactivate")
@blp.response(200, UserDetailSchema)
@blp.problems(401, 403, 404, 409)
def deactivate_user(username: str):
    """End every session and token of the user at once; they can no longer log in."""
    actor = current_actor()
    with unit_of_work():
        user = accounts.get_user(username)
        accounts.deactivate_user(actor, user)
    return user


@blp.post("/<username>/reactivate")
@blp.response(200, UserDetailSchema)
@blp.problems(401, 403, 404)
def reactivate_user(username: str):
    """Let a deactivated user log in again."""
    actor = current_actor()
    with unit_of_work():
        user = accounts.get_user(username)
        accounts.reactivate_user(actor, user)
    return user


@blp.post("/<username>/unlock")
@blp.arguments(UnlockSchema)
@blp.response(200, UnlockedSchema)
@blp.problems(401, 403, 404, 422)
def unlock_user(body, username: str):
    """Let a user locked out by wrong passwords (signing, or signing in) try again now,
    instead of when the lock passes (admin). Logged with who unlocked whom."""
    actor = current_actor()
    with unit_of_work():
        user = accounts.get_user(username)
        unlocked = accounts.unlock_user(actor, user, body.get("purpose"))
    return {"username": user.username, "unlocked": unlocked}

from __future__ import annotations

from marshmallow import Schema, fields, validate

from biobank.models import AuthFailureReason, Role, ThrottlePurpose
from biobank.schemas.common import Moment, PageArgsSchema
from biobank.services.core.accounts import MAX_TOKEN_HOURS


class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )
    name = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "What the token is for, e.g. 'receiving bench scanner 2'."},
    )
    expires_in_hours = fields.Integer(
        validate=validate.Range(min=1, max=MAX_TOKEN_HOURS),
        metadata={"description": "Lifetime; defaults to the server's BIOBANK_TOKEN_HOURS."},
    )


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True, metadata={"description": "Shown once; store it now."})
    expires_at = fields.AwareDateTime(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)


class UserSchema(Schema):
    username = fields.String(dump_only=True)
    full_name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    site = fields.Function(lambda user: user.site.code, dump_only=True)


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=3, max=64))
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.Enum(Role, by_value=True, required=True)
    site = fields.String(required=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class UserDetailSchema(UserSchema):
    active = fields.Boolean(dump_only=True)
    last_login_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class UnlockSchema(Schema):
    purpose = fields.Enum(
        ThrottlePurpose,
        by_value=True,
        metadata={"description": "Unlock only this ('signature' or 'login'); all when left out."},
    )


class UnlockedSchema(Schema):
    username = fields.String(dump_only=True)
    unlocked = fields.List(
        fields.String(),
        dump_only=True,
        metadata={
            "description": "What had wrong passwords counted or was locked, now cleared; "
            "empty when nothing was."
        },
    )


class AuthFailureQuerySchema(PageArgsSchema):
    purpose = fields.Enum(
        ThrottlePurpose,
        by_value=True,
        metadata={"description": "Only sign-ins ('login') or e-signatures ('signature')."},
    )
    username = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The username as typed (any case, surrounding spaces ignored)."},
    )
    address = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The client address, exactly."},
    )
    since = Moment(metadata={"description": "From this time (included)."})
    until = Moment(metadata={"description": "Up to this time (excluded)."})


class AuthFailureSchema(Schema):
    """One failed sign-in or electronic signature. Never holds a password."""

    id = fields.Integer(dump_only=True)
    at = fields.AwareDateTime(dump_only=True)
    purpose = fields.Enum(
        ThrottlePurpose,
        by_value=True,
        dump_only=True,
        metadata={"description": "'login' (web or token sign-in) or 'signature'."},
    )
    reason = fields.Enum(
        AuthFailureReason,
        by_value=True,
        dump_only=True,
        metadata={
            "description": "Why it failed: a wrong password, an unknown username, refused "
            "while locked out after too many wrong passwords, or a deactivated account."
        },
    )
    username = fields.String(
        dump_only=True,
        metadata={
            "description": "As typed (trimmed, at most 64 characters); where it held the "
            "password, '(withheld)' stands in its place."
        },
    )
    account = fields.Function(
        lambda failure: failure.user.username if failure.user is not None else None,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The account the username named; null when none."},
    )
    address = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The client's address as the server saw it."},
    )

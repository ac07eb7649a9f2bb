"""One family of domain errors, and the one place they become HTTP answers.

API callers get RFC 9457 ``application/problem+json``; browsers get an error page. Nothing in
either holds a stack trace, a password, a token or a cookie.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, g, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


# Members every problem has that a rule's context may not stand in for: request_id is the
# HTTP request's own (X-Request-ID, in the logs), set as the answer is made.
OWN_MEMBERS = frozenset({"type", "title", "status", "detail", "errors", "request_id"})


class DomainError(Exception):
    """A rule said no. ``detail`` is a sentence the person at the bench can act on."""

    status = 400
    title = "Bad request"
    slug = "bad-request"
    headers: Mapping[str, str] = {}

    def __init__(self, detail: str, *, errors: Mapping[str, list[str]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": f"urn:biobank:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            problem["errors"] = self.errors
        for key, value in self.extra.items():  # context never overrides the standard members
            if key not in OWN_MEMBERS:
                problem.setdefault(key, value)
        return problem


class ValidationFailed(DomainError):
    status = 422
    title = "Invalid input"
    slug = "validation-failed"

    @classmethod
    def for_field(cls, field: str, message: str, **extra: Any) -> ValidationFailed:
        return cls(message, errors={field: [message]}, **extra)

    @classmethod
    def for_fields(cls, errors: Mapping[str, Sequence[str]], **extra: Any) -> ValidationFailed:
        """Every field's messages; the first one is the sentence on top (``detail``)."""
        listed = {field: list(messages) for field, messages in errors.items() if messages}
        return cls(next(iter(listed.values()))[0], errors=listed, **extra)


class Unauthorized(DomainError):
    status = 401
    title = "Authentication required"
    slug = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="biobank"'}


class Forbidden(DomainError):
    status = 403
    title = "Not allowed"
    slug = "forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class InvalidTransition(Conflict):
    title = "Not possible in this state"
    slug = "invalid-transition"


class ChangedMeanwhile(Conflict):
    """The client said what it saw (a position, a count, a volume) and it has changed since:
    someone else acted on the same record a moment ago."""

    title = "Changed by someone else"
    slug = "changed-meanwhile"


class PositionTaken(Conflict):
    title = "Position taken"
    slug = "position-taken"


class TooManyAttempts(DomainError):
    """Too many wrong passwords: refused, even a right one, until ``retry_after`` seconds pass
    (or an admin unlocks the user). Answered with a ``Retry-After`` header."""

    status = 429
    title = "Too many attempts"
    slug = "too-many-attempts"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any):
        super().__init__(detail, retry_after=retry_after, **kwargs)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class ServiceUnavailable(DomainError):
    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"


class PrinterUnavailable(DomainError):
    """A label printer did not take a print job (switched off, unreachable, refusing, or
    stopping midway): nothing was recorded as printed, and the failed job is kept with its
    reason. 502: the server reached out to the printer for the caller, and it failed."""

    status = 502
    title = "The printer did not take the labels"
    slug = "printer-unavailable"


def wants_json() -> bool:
    """API paths always answer JSON; elsewhere, callers that prefer JSON over HTML get it."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def problem_response(problem: dict[str, Any], headers: Mapping[str, str] | None = None):
    problem.setdefault("request_id", g.get("request_id"))
    if wants_json():
        response = jsonify(problem)
        response.status_code = problem["status"]
        response.mimetype = PROBLEM_JSON
    else:
        response = make_response(render_template("error.html", problem=problem), problem["status"])
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _field_errors(messages: Any) -> dict[str, list[str]]:
    """Flatten webargs messages ({location: {field: [msg]}}) into {field: [msg]}."""
    errors: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            errors.setdefault(prefix or "_schema", []).extend(value)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(prefix, inner)
        else:
            errors.setdefault(prefix or "_schema", []).append(str(value))

    if isinstance(messages, Mapping) and set(messages) <= {
        "json",
        "query",
        "form",
        "files",
        "headers",
        "path",
        "view_args",
        "cookies",
    }:
        for location_messages in messages.values():
            walk("", location_messages)
    else:
        walk("", messages)
    return errors


def _http_problem(error: HTTPException) -> dict[str, Any]:
    status = error.code or 500
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": error.name,
        "status": status,
        "detail": error.description,
    }
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages is not None:
        problem["type"] = "urn:biobank:problem:validation-failed"
        problem["title"] = "Invalid input"
        problem["errors"] = _field_errors(messages)
        fields = ", ".join(sorted(problem["errors"]))
        problem["detail"] = f"Some fields are not valid: {fields}. Fix them and try again."
    elif status == 404:
        problem["detail"] = "Nothing is here: check the address."
    elif status == 405:
        allowed = getattr(error, "valid_methods", None)
        problem["detail"] = f"{request.method} is not allowed here" + (
            f"; use {', '.join(sorted(allowed))}." if allowed else "."
        )
    elif status == 413:
        limit = request.max_content_length
        problem["detail"] = (
            f"The request body is too large (the limit is {limit} bytes)."
            if limit
            else "The request body is too large."
        )
    elif status == 429:
        problem["detail"] = "Too many attempts. Wait a little and try again."
    elif status == 400 and (messages is not None or "JSON" in (error.description or "")):
        problem["title"] = "Malformed JSON"
        problem["detail"] = data.get("detail") or (
            "The request body is not valid JSON. Send one JSON object with "
            "Content-Type: application/json."
        )
    return problem


def describe_exception(error: BaseException) -> str:
    """Type and innermost frame only: messages and tracebacks can carry data we must not log."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        name = f"{type(error).__name__}({type(error.orig).__name__})"
    else:
        name = type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return name + where


def handle_http_exception(error: HTTPException):
    headers = {}
    if error.code == 429:
        response = getattr(error, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        headers["Retry-After"] = retry_after or "60"
    valid_methods = getattr(error, "valid_methods", None)
    if error.code == 405 and valid_methods:
        headers["Allow"] = ", ".join(sorted(valid_methods))
    return problem_response(_http_problem(error), headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return problem_response(error.to_problem(), error.headers)

    app.register_error_handler(HTTPException, handle_http_exception)

    @app.errorhandler(OperationalError)
    def handle_database_unavailable(error: OperationalError):
        log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        return problem_response(
            ServiceUnavailable(
                "The database cannot be reached right now. Nothing was saved; try again in a "
                "minute."
            ).to_problem(),
            {"Retry-After": "30"},
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.error("unhandled %s", describe_exception(error))
        return problem_response(
            {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "Something went wrong on our side and nothing was saved. If it "
                "happens again, report the request id.",
            }
        )

"""What every HTML form page does with a POST: parse, one service call in one unit of work,
then the next page, or the same page again with the refusal shown where it belongs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, make_response, redirect
from flask.typing import ResponseReturnValue

from biobank.errors import Conflict, TooManyAttempts, ValidationFailed
from biobank.unit_of_work import unit_of_work
from biobank.web.forms import PageForm

# Refusals shown on the page; NotFound and Forbidden go to the error page instead.
REFUSALS = (ValidationFailed, Conflict, TooManyAttempts)


def submit(
    form: PageForm,
    service_call: Callable[[], Any],
    *,
    done: Callable[[Any], ResponseReturnValue],
    again: Callable[[int], ResponseReturnValue],
) -> ResponseReturnValue:
    """Validate ``form``, make the one service call in one unit of work, then ``done`` with
    its result; on bad input or a refusal, ``again`` shows the page with the messages."""
    if not form.validate_on_submit():
        return again(422)
    try:
        with unit_of_work():
            result = service_call()
    except REFUSALS as refused:
        if not form.show_refusal(refused):
            flash(refused.detail, "error")
        response = make_response(again(refused.status))
        response.headers.update(refused.headers)  # e.g. Retry-After on a 429
        return response
    return done(result)


def redirect_saying(message: str, target: str) -> ResponseReturnValue:
    """After a change: say what happened on the next page, and go there (POST/redirect/GET)."""
    flash(message, "success")
    return redirect(target)

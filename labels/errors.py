"""Exceptions raised by the labels package.

Both are ``ValueError`` subclasses so callers that already map ``ValueError`` to a 400
response keep working; the messages are written to be shown to the person who has to
fix the input.
"""

from __future__ import annotations


class LabelError(ValueError):
    """The labels, stock or print options cannot be rendered as given."""


class UnknownStock(LabelError):
    """A stock code that is not in ``STOCKS`` was requested."""

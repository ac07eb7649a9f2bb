"""What goes on one tube label, and nothing more.

A label is deliberately anonymous: the sample ID, the tube code and the collection date
are the only facts it carries. ``LabelSpec`` has no other field, so there is nowhere to
put a participant identifier even by mistake.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from labels.errors import LabelError

# Crockford base-32: no I, L, O or U, so IDs survive being read aloud or hand-copied.
SAMPLE_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SAMPLE_ID_LENGTH = 10
_SAMPLE_ID_CHARS = frozenset(SAMPLE_ID_ALPHABET)

# Long enough for real tube codes ("1SST8", "2EDTA10"), short enough to stay legible at
# the smallest stock's text size.
MAX_TUBE_CODE_LENGTH = 12

# Printed when a pre-printed kit label has no collection date yet; the shape shows the
# collector which format to write the date in by hand.
BLANK_DATE_TEXT = "____-__-__"


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """One sample's label: printed ``copies`` times.

    ``date`` is the collection date already converted to the site's time zone, or
    ``None`` for kit labels printed before collection (the date field is left blank).
    """

    sample_id: str
    tube_code: str
    date: datetime.date | None
    copies: int = 1

    def __post_init__(self) -> None:
        _check_sample_id(self.sample_id)
        _check_tube_code(self.tube_code)
        _check_date(self.date)
        if isinstance(self.copies, bool) or not isinstance(self.copies, int) or self.copies < 1:
            raise LabelError(f"copies must be a whole number of at least 1, not {self.copies!r}.")

    @property
    def display_id(self) -> str:
        """The sample ID grouped for people: ``7KQ2M9XD3E`` -> ``7KQ2M-9XD3E``."""
        half = SAMPLE_ID_LENGTH // 2
        return f"{self.sample_id[:half]}-{self.sample_id[half:]}"

    @property
    def display_date(self) -> str:
        """The date as printed: ISO 8601, or a blank to fill in by hand."""
        return BLANK_DATE_TEXT if self.date is None else self.date.isoformat()


def is_valid_sample_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == SAMPLE_ID_LENGTH
        and all(char in _SAMPLE_ID_CHARS for char in value)
    )


def _check_sample_id(sample_id: object) -> None:
    if is_valid_sample_id(sample_id):
        return
    hint = ""
    if isinstance(sample_id, str) and "-" in sample_id:
        hint = " Remove the hyphen: labels take the ID without grouping."
    elif isinstance(sample_id, str) and sample_id.upper() != sample_id:
        hint = " Use upper-case letters."
    raise LabelError(
        f"Sample ID {sample_id!r} is not valid: it must be {SAMPLE_ID_LENGTH} characters "
        f"from {SAMPLE_ID_ALPHABET}.{hint}"
    )


def _check_tube_code(tube_code: object) -> None:
    if not isinstance(tube_code, str) or not tube_code.strip():
        raise LabelError(f"Tube code {tube_code!r} is not valid: give a non-empty code.")
    if len(tube_code) > MAX_TUBE_CODE_LENGTH:
        raise LabelError(
            f"Tube code {tube_code!r} is too long for a label: use at most "
            f"{MAX_TUBE_CODE_LENGTH} characters."
        )
    # Printable ASCII only: the built-in PDF fonts and ZPL's default code page both
    # cover it exactly, so what is printed is what was asked for.
    if not all(" " <= char <= "~" for char in tube_code):
        raise LabelError(
            f"Tube code {tube_code!r} contains characters a label printer cannot print: "
            "use printable ASCII letters, digits and punctuation only."
        )
    if tube_code != tube_code.strip():
        raise LabelError(f"Tube code {tube_code!r} has surrounding spaces: remove them.")


def _check_date(date: object) -> None:
    # datetime.datetime is a date subclass; a timestamp here almost certainly has not
    # been converted to the site's time zone, which would print the wrong day.
    if isinstance(date, datetime.datetime):
        raise LabelError(
            "The label date must be a datetime.date in the site's time zone, not a "
            "datetime: convert it with .astimezone(site_zone).date() first."
        )
    if date is not None and not isinstance(date, datetime.date):
        raise LabelError(f"The label date must be a datetime.date or None, not {date!r}.")

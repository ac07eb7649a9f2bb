"""Free text must not carry personal data: this system knows participants by pseudonym only."""

from __future__ import annotations

import re
from datetime import date

from biobank.errors import ValidationFailed

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w/.-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w/-])"
    r"|(?<!\w)\+\d{1,3}(?:[\s.-]?\d{2,4}){3,5}(?!\w)"
)
_SSN = re.compile(r"(?<!\w)\d{3}-\d{2}-\d{4}(?!\w)|\bSSN\b|social security", re.IGNORECASE)
_BIRTH_WORDS = re.compile(r"\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born)\b", re.IGNORECASE)
_DATE = re.compile(
    r"(?<!\d)(?:(?P<m>\d{1,2})[/.-](?P<d>\d{1,2})[/.-](?P<y>(?:19|20)\d{2})"
    r"|(?P<y2>(?:19|20)\d{2})-(?P<m2>\d{1,2})-(?P<d2>\d{1,2}))(?!\d)"
)


def _old_dates(text: str) -> bool:
    """A full date years in the past reads like a date of birth, not a lab note."""
    for match in _DATE.finditer(text):
        year = int(match.group("y") or match.group("y2"))
        if year <= date.today().year - 2:
            return True
    return False


def personal_data_in(text: str | None) -> list[str]:
    """What kinds of personal data the text seems to hold (never the data itself)."""
    if not text:
        return []
    found = []
    if _EMAIL.search(text):
        found.append("an e-mail address")
    if _SSN.search(text):
        found.append("a social security number")
    elif _PHONE.search(text):
        found.append("a phone number")
    if _BIRTH_WORDS.search(text) or _old_dates(text):
        found.append("a date of birth")
    return found


def check_free_text(text: str | None, field: str) -> str | None:
    """The text stripped, or a 422 saying what kind of personal data to remove."""
    found = personal_data_in(text)
    if found:
        raise ValidationFailed.for_field(
            field,
            f"Remove {' and '.join(found)}: notes must not hold personal data. Participants are "
            "known here only by their pseudonymous ID.",
        )
    return text.strip() if text and text.strip() else None

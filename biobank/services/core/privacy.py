"""Free text must not carry personal data: this system knows participants by pseudonym only.

The screen reads text as people write it: normalised first (NFKC, so full-width digits and
``＠`` read as ``0-9`` and ``@``), then matched for four kinds of identifier. It names the kind
it found and never repeats the text, so an error message or a log line cannot leak it either.

- a social security number: ``123-45-6789``, ``123 45 6789``, ``123.45.6789``, or the words;
- an e-mail address: ``jane@example.com``, also written ``jane at example dot com``,
  ``jane (at) example (dot) org``, ``jane[at]example[.]com``;
- a phone number: North American ``(555) 123-4567``, ``555.123.4567``, ``+1 555 123 4567``
  and international ``+44 20 7946 0958``;
- a date of birth: the words (DOB, born, date of birth, birthday …), or a full date far enough
  back to be one (``AGE_OF_A_BIRTH_DATE`` years): lab notes name recent dates (a reagent lot, an
  expiry, a receipt), not decades-old ones.

Ordinary lab text must pass: tube IDs, participant pseudonyms (``P`` + 9 digits), tracking
numbers, "spun at 1500 g", "stored at -80 C", "rack 12 at bench 3".
tests/services/core/test_privacy.py holds both tables.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from biobank.errors import ValidationFailed

# A full date at least this many years back reads like a date of birth.
AGE_OF_A_BIRTH_DATE = 15

_SSN = re.compile(
    r"(?<![\w.+-])\d{3}[ .-]\d{2}[ .-]\d{4}(?![\w-]|\.\d)|\bSSN\b|\bsocial security\b",
    re.IGNORECASE,
)

# Each pattern starts only where its first run of characters starts, so a long run of digits or
# letters is read once, not once per character (no quadratic time on a pasted blob).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+\s*@\s*[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# "at" and "dot" spelled out or bracketed. An address with a spelled-out "at" must end in a
# common top-level domain (after a bare "." only in a generic one), so "left at bench 4. Box 2"
# or "placed at A1.in box 3" stays a lab note.
_OPEN, _CLOSE = r"[(\[{<]", r"[)\]}>]"
_BRACKETED_AT = rf"\s*{_OPEN}\s*(?:at|@)\s*{_CLOSE}\s*"
_SPELLED_DOT = rf"(?:\s*{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}\s*|\s+dot\s+)"
_DOT = rf"(?:{_SPELLED_DOT}|\.)"
_LABEL = r"[A-Za-z0-9-]+"
_GENERIC_TLDS = "com|org|net|edu|gov|mil|info|biz|io"
_TLDS = (
    f"{_GENERIC_TLDS}|int|co|me|us|uk|ca|au|nz|ie|de|fr|nl|be|at|ch|es|it|pt|se|no|dk|fi|pl|"
    "cz|jp|cn|in|br|mx|za|eu|ac"
)
_SPELLED_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+"
    rf"(?:{_BRACKETED_AT}{_LABEL}(?:{_DOT}{_LABEL})*?(?:{_SPELLED_DOT}(?:{_TLDS})|\.[A-Za-z]{{2,}})"
    rf"|\s+at\s+{_LABEL}(?:{_DOT}{_LABEL})*?(?:{_SPELLED_DOT}(?:{_TLDS})|\.(?:{_GENERIC_TLDS})))"
    r"(?!\w)",
    re.IGNORECASE,
)

_PHONE = re.compile(
    r"(?<![\w/.-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w/-])"
    r"|(?<!\w)\+\d{1,3}(?:[\s.-]?\d{2,4}){3,5}(?!\w)"
)

_BIRTH_WORDS = re.compile(
    r"\b(?:DOB|D\.O\.B\.?|D/O/B|date of birth|birth ?date|birthday|born)\b", re.IGNORECASE
)
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_YEAR = r"(?:19|20)\d{2}"
_DATE = re.compile(
    rf"(?<![\d.])(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?P<y1>{_YEAR})"  # 03/14/1980, 14.03.1980
    rf"|(?P<y2>{_YEAR})[/.-]\d{{1,2}}[/.-]\d{{1,2}}"  # 1980-03-14
    rf"|\d{{1,2}}[\s-]*\b(?:{_MONTHS})\b\.?[\s,-]*(?P<y3>{_YEAR})"  # 14 March 1980, 14-Mar-1980
    rf"|\b(?:{_MONTHS})\b\.?\s*\d{{1,2}}(?:st|nd|rd|th)?,?\s*(?P<y4>{_YEAR}))(?![\d.]\d)",
    re.IGNORECASE,
)

NOTES_WHY = (
    "Free text here must not hold personal data: participants are known only by their "
    "pseudonymous ID."
)
NAMES_WHY = "Names print on labels and must not hold personal data."


def _old_dates(text: str) -> bool:
    """A full date many years back reads like a date of birth, not a lab note."""
    oldest = date.today().year - AGE_OF_A_BIRTH_DATE
    for match in _DATE.finditer(text):
        year = next(int(y) for y in match.group("y1", "y2", "y3", "y4") if y)
        if year <= oldest:
            return True
    return False


def personal_data_in(text: str | None) -> list[str]:
    """What kinds of personal data the text seems to hold (never the data itself)."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text)
    found = []
    if _EMAIL.search(text) or _SPELLED_EMAIL.search(text):
        found.append("an e-mail address")
    if _SSN.search(text):
        found.append("a social security number")
    elif _PHONE.search(text):
        found.append("a phone number")
    if _BIRTH_WORDS.search(text) or _old_dates(text):
        found.append("a date of birth")
    return found


def _message(found: list[str], field: str, why: str) -> str:
    what = field.replace("_", " ")
    them = "it" if len(found) == 1 else "them"
    return f"The {what} looks like it holds {' and '.join(found)}: remove {them}. {why}"


def check_free_text(text: str | None, field: str) -> str | None:
    """The text stripped, or a 422 saying what kind of personal data to remove."""
    found = personal_data_in(text)
    if found:
        raise ValidationFailed.for_field(field, _message(found, field, NOTES_WHY))
    return text.strip() if text and text.strip() else None


def name_problem(name: str | None, field: str = "name") -> str | None:
    """Why a name that prints on a label (a freezer, a box, a site) may not be used, or None."""
    found = personal_data_in(name)
    return _message(found, field, NAMES_WHY) if found else None


def check_name(name: str, field: str = "name") -> str:
    """The name, or a 422 naming the field when it seems to hold personal data."""
    problem = name_problem(name, field)
    if problem:
        raise ValidationFailed.for_field(field, problem)
    return name

"""Sample IDs (DESIGN §4): a contract, because labels are physical and outlive code.

Ten Crockford base-32 characters: nine random ones from ``secrets`` and a Luhn mod 32 check
character. Manifest and box barcodes use the same codec behind a two-letter prefix (MN, BX), so
one scan field can tell the three apart by shape.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable

from biobank.errors import ValidationFailed
from biobank.services.core.settings import setting

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE = len(ALPHABET)
VALUE = {char: index for index, char in enumerate(ALPHABET)}
PAYLOAD_LENGTH = 9
SAMPLE_ID_LENGTH = PAYLOAD_LENGTH + 1
MANIFEST_PREFIX = "MN"
BOX_PREFIX = "BX"
PREFIXED_PAYLOAD_LENGTH = 8
# Crockford's forgiving reading of what people and scanners type.
_CROCKFORD_READS = str.maketrans({"I": "1", "L": "1", "O": "0"})


class InvalidCode(ValueError):
    """A scanned or typed code that cannot be a valid ID; the message says why."""


def _luhn_sum(values: Iterable[int], *, double_first: bool) -> int:
    total = 0
    double = double_first
    for value in values:  # right to left
        addend = value * 2 if double else value
        total += addend // BASE + addend % BASE
        double = not double
    return total


def check_character(payload: str) -> str:
    """Luhn mod 32 over the payload: doubling starts at its rightmost character."""
    total = _luhn_sum((VALUE[c] for c in reversed(payload)), double_first=True)
    return ALPHABET[(BASE - total % BASE) % BASE]


def is_valid(code: str) -> bool:
    """Payload plus check character: doubling from the second-rightmost sums to 0 mod 32."""
    if not code or any(c not in VALUE for c in code):
        return False
    return _luhn_sum((VALUE[c] for c in reversed(code)), double_first=False) % BASE == 0


def random_payload(length: int = PAYLOAD_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_sample_id() -> str:
    payload = random_payload()
    return payload + check_character(payload)


def new_sample_ids(count: int) -> list[str]:
    """Many IDs from one draw of random bytes (``secrets``): 256 is a multiple of 32, so
    ``byte % 32`` is uniform over the alphabet."""
    raw = secrets.token_bytes(count * PAYLOAD_LENGTH)
    codes = []
    for start in range(0, len(raw), PAYLOAD_LENGTH):
        payload = "".join(ALPHABET[b % BASE] for b in raw[start : start + PAYLOAD_LENGTH])
        codes.append(payload + check_character(payload))
    return codes


def normalise(text: str) -> str:
    """Upper case, I/L → 1, O → 0, hyphens and spaces dropped (what a person meant)."""
    cleaned = "".join(text.split()).replace("-", "").upper()
    return cleaned.translate(_CROCKFORD_READS)


def parse_sample_id(text: str) -> str:
    """The canonical 10-character sample ID from forgiving input, or ``InvalidCode``."""
    code = normalise(text)
    if not code:
        raise InvalidCode("Scan or type a sample ID (10 characters, e.g. 7KQ2M-9XD3E).")
    for prefix, what in ((MANIFEST_PREFIX, "a shipment's manifest"), (BOX_PREFIX, "a box")):
        if parse_prefixed_code(code, prefix):
            raise InvalidCode(
                f"{text.strip()!r} is the barcode of {what}, not a tube label: scan the label "
                "on the tube."
            )
    bad = sorted({c for c in code if c not in VALUE})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidCode(
            f"{text.strip()!r} is not a sample ID: {shown} is not used in sample IDs "
            "(they use 0-9 and A-Z without I, L, O and U)."
        )
    if len(code) != SAMPLE_ID_LENGTH:
        raise InvalidCode(
            f"A sample ID has {SAMPLE_ID_LENGTH} characters (e.g. 7KQ2M-9XD3E); "
            f"{text.strip()!r} has {len(code)}."
        )
    expected = check_character(code[:PAYLOAD_LENGTH])
    if code[-1] != expected:
        raise InvalidCode(
            f"{display(code)} is not a valid sample ID: its check character is {code[-1]} but "
            f"should be {expected}. The ID was mistyped or misread; scan it again."
        )
    return code


def display(code: str) -> str:
    """``7KQ2M9XD3E`` → ``7KQ2M-9XD3E`` for people; barcodes carry it without the hyphen."""
    return f"{code[:5]}-{code[5:]}" if len(code) == SAMPLE_ID_LENGTH else code


def looks_like_participant_id(text: str) -> bool:
    """Whether ``text`` has the shape of the program's participant IDs (the setting
    BIOBANK_PARTICIPANT_ID_PATTERN), as the enrollment system issues them."""
    return bool(
        re.fullmatch(setting("BIOBANK_PARTICIPANT_ID_PATTERN"), (text or "").strip().upper())
    )


def sample_id_field(text: str, field: str = "barcode") -> str:
    """``parse_sample_id`` for request input: a bad ID is a 422 naming the field, and says
    when what was scanned is a participant's ID rather than a tube's."""
    try:
        return parse_sample_id(text)
    except InvalidCode as invalid:
        message = str(invalid)
        if looks_like_participant_id(text):
            message = (
                f"{text.strip()!r} is a participant ID, not a tube label: scan the label on "
                "the tube (a sample ID has 10 characters, e.g. 7KQ2M-9XD3E)."
            )
        raise ValidationFailed.for_field(field, message) from None


def new_prefixed_code(prefix: str) -> str:
    payload = random_payload(PREFIXED_PAYLOAD_LENGTH)
    return prefix + payload + check_character(payload)


def parse_prefixed_code(text: str, prefix: str) -> str | None:
    """A manifest (MN…) or box (BX…) code from scanner input, or None when it is not one."""
    code = normalise(text)
    if not code.startswith(prefix) or len(code) != len(prefix) + PREFIXED_PAYLOAD_LENGTH + 1:
        return None
    return code if is_valid(code[len(prefix) :]) else None


def unique_codes(
    count: int, make: Callable[[], str], taken: Callable[[list[str]], set[str]]
) -> list[str]:
    """``count`` fresh codes none of which ``taken`` reports as used; collisions are redrawn.

    The unique constraint in the database stays the last word; this keeps a collision (about
    one in 35 trillion per pair) from ever reaching it in practice.
    """
    codes: list[str] = []
    while len(codes) < count:
        wanted = count - len(codes)
        candidates = list(dict.fromkeys(make() for _ in range(wanted)))
        used = taken(candidates) | set(codes)
        codes.extend(c for c in candidates if c not in used)
    return codes

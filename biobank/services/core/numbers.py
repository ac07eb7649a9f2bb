"""Numbers as people type them into a form or an API client sends them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def finite_decimal(value: Any) -> Decimal | None:
    """``value`` as a decimal, or None when it is not a number. ``NaN`` and ``Infinity``
    parse as decimals but are no reading or weight, and comparing NaN raises: both are None.
    """
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None

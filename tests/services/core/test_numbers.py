"""Typed numbers: what is not a finite number is refused with a sentence, never a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest

from biobank.errors import ValidationFailed
from biobank.services.core.numbers import finite_decimal
from biobank.services.shipping import sending
from biobank.services.storage import freezer_tree
from tests.conftest import PASSWORD


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("-80", Decimal("-80")),
        (" 2.5 ", Decimal("2.5")),
        (3, Decimal(3)),
        (Decimal("0.1"), Decimal("0.1")),
    ],
)
def test_numbers_are_read(typed, read):
    assert finite_decimal(typed) == read


@pytest.mark.parametrize("typed", ["", "abc", "NaN", "sNaN", "Infinity", "-inf", "1,5", None])
def test_what_is_not_a_finite_number_is_none(typed):
    assert finite_decimal(typed) is None


@pytest.mark.parametrize("typed", ["NaN", "Infinity"])
def test_a_freezer_set_to_nan_is_refused(technician, typed):
    with pytest.raises(ValidationFailed, match="set temperature in °C") as error:
        freezer_tree.create_freezer(technician, name="Freezer 9", temperature_c=typed)
    assert list(error.value.errors) == ["temperature_c"]


def test_dry_ice_of_nan_kg_is_refused(collector, biobank_site):
    frozen = sending.open_shipment(collector, destination="MAYO-BB", temperature="frozen")
    with pytest.raises(ValidationFailed) as error:
        sending.dispatch_shipment(
            collector,
            frozen,
            carrier="ups",
            tracking_number="1Z999AA10123456784",
            dry_ice_kg="NaN",
            signature_password=PASSWORD,
        )
    assert error.value.errors["dry_ice_kg"] == ["Give the dry ice weight in kilograms, e.g. 2.5."]

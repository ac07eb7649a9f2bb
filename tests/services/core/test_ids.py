"""Sample IDs are a contract printed on tubes: test vectors, and properties over all inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biobank.services.core import ids
from biobank.services.core.ids import ALPHABET, InvalidCode, check_character, parse_sample_id

payloads = st.text(alphabet=ALPHABET, min_size=9, max_size=9)


@pytest.mark.parametrize(
    ("payload", "sample_id"),
    [
        ("7KQ2M9XD3", "7KQ2M9XD3E"),
        ("ABCDEFGHJ", "ABCDEFGHJT"),
        ("ZZZZZZZZZ", "ZZZZZZZZZ9"),
        ("000000000", "0000000000"),
    ],
)
def test_design_test_vectors(payload, sample_id):
    assert payload + check_character(payload) == sample_id
    assert ids.is_valid(sample_id)


@given(payloads)
def test_round_trip(payload):
    sample_id = payload + check_character(payload)
    assert parse_sample_id(sample_id) == sample_id


@given(payloads, st.data())
def test_every_single_character_substitution_is_caught(payload, data):
    sample_id = payload + check_character(payload)
    position = data.draw(st.integers(0, len(sample_id) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != sample_id[position]))
    mistyped = sample_id[:position] + replacement + sample_id[position + 1 :]
    assert not ids.is_valid(mistyped)
    with pytest.raises(InvalidCode, match="check character"):
        parse_sample_id(mistyped)


@given(payloads)
def test_display_form_parses_back(payload):
    sample_id = payload + check_character(payload)
    shown = ids.display(sample_id)
    assert shown[5] == "-" and len(shown) == 11
    assert parse_sample_id(shown) == sample_id
    assert parse_sample_id(f"  {shown.lower()} ") == sample_id


def test_crockford_forgiveness():
    assert parse_sample_id("7kq2m-9xd3e") == "7KQ2M9XD3E"
    assert parse_sample_id("ABCDE FGHJT") == "ABCDEFGHJT"
    # I and L read as 1, O as 0
    sample_id = "1" * 9 + check_character("1" * 9)
    assert parse_sample_id("IL1IL1IL1" + sample_id[-1]) == sample_id
    assert parse_sample_id("OOOOOOOOOO") == "0000000000"


def test_wrong_check_character_names_the_right_one():
    with pytest.raises(InvalidCode) as error:
        parse_sample_id("7KQ2M9XD3A")
    assert "is A but should be E" in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "Scan or type"), ("7KQ2M", "has 5"), ("7KQ2M9XD3U", "'U' is not used")],
)
def test_bad_input_says_what_is_wrong(text, message):
    with pytest.raises(InvalidCode, match=message):
        parse_sample_id(text)


def test_generated_ids_are_valid_and_random():
    generated = {ids.new_sample_id() for _ in range(1000)}
    assert len(generated) == 1000
    assert all(ids.is_valid(code) for code in generated)


def test_unique_codes_redraws_collisions():
    draws = iter(["AAA", "BBB", "AAA", "CCC"])
    codes = ids.unique_codes(2, lambda: next(draws), lambda c: {"AAA"} & set(c))
    assert codes == ["BBB", "CCC"]


@given(st.text(alphabet=ALPHABET, min_size=8, max_size=8))
def test_prefixed_codes_round_trip(payload):
    code = "MN" + payload + check_character(payload)
    assert ids.parse_prefixed_code(code.lower(), "MN") == code
    assert ids.parse_prefixed_code(code, "BX") is None


@pytest.mark.parametrize(
    ("prefix", "what"), [(ids.MANIFEST_PREFIX, "a shipment's manifest"), (ids.BOX_PREFIX, "a box")]
)
def test_a_manifest_or_box_barcode_is_named_as_such_not_called_a_bad_sample_id(prefix, what):
    code = ids.new_prefixed_code(prefix)
    with pytest.raises(InvalidCode) as refused:
        parse_sample_id(code.lower())
    assert str(refused.value) == (
        f"{code.lower()!r} is the barcode of {what}, not a tube label: scan the label on the tube."
    )

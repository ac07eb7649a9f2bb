import dataclasses
import datetime

import pytest

from labels import LabelError, LabelSpec

COLLECTED = datetime.date(2025, 3, 14)


def test_display_id_groups_the_id_in_fives():
    assert LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED).display_id == "7KQ2M-9XD3E"


def test_label_spec_has_no_field_that_could_carry_personal_data():
    # Privacy by construction: adding a field here must be a deliberate, reviewed change.
    names = {field.name for field in dataclasses.fields(LabelSpec)}
    assert names == {"sample_id", "tube_code", "date", "copies"}


def test_label_spec_is_frozen():
    spec = LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sample_id = "0000000000"  # type: ignore[misc]


def test_missing_date_prints_a_blank_to_fill_in():
    assert LabelSpec("7KQ2M9XD3E", "1SST8", None).display_date == "____-__-__"
    assert LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED).display_date == "2025-03-14"


@pytest.mark.parametrize(
    ("sample_id", "hint"),
    [
        ("7KQ2M-9XD3E", "Remove the hyphen"),
        ("7kq2m9xd3e", "upper-case"),
        ("7KQ2M9XD3", "10 characters"),
        ("7KQ2M9XD3EE", "10 characters"),
        ("7KQ2M9XD3I", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),  # I, L, O, U are not Crockford
        ("7KQ2M9XDOU", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
    ],
)
def test_invalid_sample_ids_are_refused_with_a_hint(sample_id, hint):
    with pytest.raises(LabelError, match=hint):
        LabelSpec(sample_id, "1SST8", COLLECTED)


def test_a_datetime_is_refused_because_its_zone_is_unknown():
    moment = datetime.datetime(2025, 3, 14, 23, 30, tzinfo=datetime.UTC)
    with pytest.raises(LabelError, match="site's time zone"):
        LabelSpec("7KQ2M9XD3E", "1SST8", moment)


@pytest.mark.parametrize("copies", [0, -1, 1.5, True])
def test_copies_must_be_a_positive_whole_number(copies):
    with pytest.raises(LabelError, match="copies"):
        LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED, copies=copies)


@pytest.mark.parametrize(
    ("tube_code", "hint"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("X" * 13, "at most 12"),
        ("SST\n8", "printable ASCII"),
        ("SSTé", "printable ASCII"),
        (" SST", "surrounding spaces"),
    ],
)
def test_unprintable_tube_codes_are_refused(tube_code, hint):
    with pytest.raises(LabelError, match=hint):
        LabelSpec("7KQ2M9XD3E", tube_code, COLLECTED)


def test_label_error_is_a_value_error():
    assert issubclass(LabelError, ValueError)

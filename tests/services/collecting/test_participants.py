"""Participant IDs: the configured pattern said in words, and refusals that say what to fix."""

from __future__ import annotations

import pytest

from biobank.errors import ValidationFailed
from biobank.services.collecting import participants


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"^P\d{9}$", "P followed by 9 digits (e.g. P123456789)"),
        (r"^AOU-[0-9]{6}$", "AOU- followed by 6 digits (e.g. AOU-123456)"),
        (
            r"^[A-Z]{2}\d{4}X$",
            "2 capital letters followed by 4 digits followed by X (e.g. AB1234X)",
        ),
        (r"^S\d$", "S followed by 1 digit (e.g. S1)"),
    ],
)
def test_the_participant_id_pattern_is_said_in_words_with_an_example(app, pattern, words):
    app.config["BIOBANK_PARTICIPANT_ID_PATTERN"] = pattern
    assert participants.participant_id_rule() == words
    example = words.rsplit("e.g. ", 1)[1].rstrip(")")
    assert participants.participant_id_field(example) == example  # the example is valid


def test_a_pattern_too_rich_for_words_is_shown_as_it_is(app):
    app.config["BIOBANK_PARTICIPANT_ID_PATTERN"] = r"^(P|Q)\d+$"
    assert participants.participant_id_rule() == (
        r"the pattern ^(P|Q)\d+$ (BIOBANK_PARTICIPANT_ID_PATTERN)"
    )


def test_a_wrong_participant_id_is_refused_with_the_rule_in_words(app):
    with pytest.raises(ValidationFailed) as refused:
        participants.participant_id_field("12345")
    message = refused.value.errors["participant_id"][0]
    assert message == (
        "'12345' is not a participant ID: a participant ID is P followed by 9 digits "
        "(e.g. P123456789). Scan the participant's barcode or type the ID."
    )
    assert "\\d" not in message

from __future__ import annotations

import re

from biobank.services.distribution.pseudonyms import study_pseudonym


def test_a_pseudonym_is_stable_within_a_study_and_different_across_studies(app, make_protocol):
    first, second = make_protocol(), make_protocol(approval_number="IRB-2026-0999")
    here = study_pseudonym("P123456789", first)
    assert study_pseudonym(" p123456789 ", first.id) == here
    assert study_pseudonym("P123456789", second) != here
    assert study_pseudonym("P123456780", first) != here


def test_a_pseudonym_is_short_readable_and_never_the_participant_id(app):
    made = study_pseudonym("P123456789", 7)
    assert re.fullmatch(r"SP(-[0-9A-HJKMNP-TV-Z]{4}){4}", made)
    assert "123456789" not in made.replace("-", "")


def test_the_pseudonym_key_is_its_own_setting_or_derived_from_the_secret(app):
    derived = study_pseudonym("P123456789", 7)
    app.config["BIOBANK_PSEUDONYM_KEY"] = "a dedicated key"
    dedicated = study_pseudonym("P123456789", 7)
    app.config["BIOBANK_PSEUDONYM_KEY"] = ""
    app.config["SECRET_KEY"] = "another secret"
    assert len({derived, dedicated, study_pseudonym("P123456789", 7)}) == 3

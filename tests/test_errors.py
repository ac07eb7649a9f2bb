from biobank.errors import ValidationFailed


def test_field_errors_become_one_refusal_led_by_the_first_message():
    refused = ValidationFailed.for_fields(
        {"carrier": [], "tracking_number": ["A FedEx tracking number has 12 to 14 digits."]}
        | {"dry_ice_kg": ["Give the dry ice weight for a frozen box.", "Use kilograms."]}
    )
    assert refused.status == 422
    assert refused.detail == "A FedEx tracking number has 12 to 14 digits."
    assert refused.errors == {
        "tracking_number": ["A FedEx tracking number has 12 to 14 digits."],
        "dry_ice_kg": ["Give the dry ice weight for a frozen box.", "Use kilograms."],
    }

"""The forms every page builds on (``PageForm``, which shows a service's refusal beside its
fields, and ``ListedChoiceField``), and the small forms of signing in, list filters and
participants. Each workflow's own forms live beside it (``collection_forms``,
``shipping_forms``, ``storage_forms``, ``inventory_forms``, ``printer_forms``)."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from biobank.errors import DomainError
from biobank.models import ThrottlePurpose

# --- what every page's forms are made of ---------------------------------------------------


class PageForm(FlaskForm):
    """A form that can show a service's refusal beside the fields it names."""

    def show_refusal(self, refused: DomainError) -> bool:
        """Put each message beside its field; the rest go on top of the form.

        False when the refusal names no field (a conflict): the page shows it as an alert.
        """
        if not refused.errors:
            return False
        for name, messages in refused.errors.items():
            field = self._fields.get(name)
            if field is not None and name != "csrf_token":
                field.errors = [*field.errors, *messages]
            else:
                self.form_errors.extend(messages)
        return True

    @property
    def has_errors(self) -> bool:
        # Form.errors is computed once and cached; refusals are added after validation.
        return bool(self.form_errors) or any(field.errors for field in self)


# --- starting a collection ------------------------------------------------------------------


class ListedChoiceField(SelectField):
    """A select whose value must be one of its options, with a sentence that says what to do."""

    def __init__(self, label: str, *, unlisted: str, **kwargs) -> None:
        super().__init__(label, **kwargs)
        self.unlisted = unlisted

    def pre_validate(self, form) -> None:
        if not any(match for _, _, match, *_ in self.iter_choices()):
            raise ValidationError(self.unlisted)


# --- signing in, filters and participants ---------------------------------------------------


class LoginForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


EARLIEST_FILTER_DATE = date(2000, 1, 1)
LATEST_FILTER_DATE = date(2999, 12, 31)


def _filter_date(form: FlaskForm, field: DateField) -> None:
    if field.data is not None and not EARLIEST_FILTER_DATE <= field.data <= LATEST_FILTER_DATE:
        raise ValidationError("Give a date from 2000-01-01 on, e.g. 2026-03-01.")


def _day_field(label: str) -> DateField:
    """A day of a filter's range (``timebounds.days_in`` turns the pair into instants)."""
    return DateField(
        label,
        validators=[Optional(), _filter_date],
        render_kw={"min": EARLIEST_FILTER_DATE.isoformat()},
    )


def _participant_id_field() -> StringField:
    """A participant ID to look for (scanned or typed; the service checks its pattern)."""
    return StringField(
        "Participant ID",
        validators=[Optional(), Length(max=32)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


class FailedAttemptFilterForm(FlaskForm):
    """The failed-attempts page's filters, read from the query string: nothing is written,
    so no CSRF token. Dates are days in the admin's site time zone, both included."""

    class Meta:
        csrf = False

    purpose = ListedChoiceField(
        "Attempt",
        default="",
        unlisted="Choose sign-ins, e-signatures, or both.",
        choices=[
            SelectChoice("", "Sign-ins and e-signatures"),
            SelectChoice(ThrottlePurpose.LOGIN.value, "Sign-ins"),
            SelectChoice(ThrottlePurpose.SIGNATURE.value, "E-signatures"),
        ],
    )
    username = StringField(
        "Username", validators=[Optional(), Length(max=64)], render_kw={"autocomplete": "off"}
    )
    address = StringField(
        "Address", validators=[Optional(), Length(max=64)], render_kw={"autocomplete": "off"}
    )
    since = _day_field("From")
    until = _day_field("To (included)")


class CollectionFilterForm(FlaskForm):
    """The collections list's search, read from the query string (no CSRF token: nothing is
    written). Dates are days in the user's site time zone, both included."""

    class Meta:
        csrf = False

    participant_id = _participant_id_field()
    since = _day_field("Started from")
    until = _day_field("To (included)")


class ParticipantLookupForm(FlaskForm):
    """Which participant: read from the query string, so nothing is written."""

    class Meta:
        csrf = False

    participant_id = _participant_id_field()


class ParticipantForm(PageForm):
    """A participant's consent and withdrawal, as the enrollment system says."""

    biospecimen_consent = BooleanField("Has given biospecimen consent")
    withdrawn_at = _day_field("Withdrew on (leave empty if not withdrawn)")
    withdrawal_reason = TextAreaField("Reason for withdrawing", render_kw={"rows": 2})
    disposal_ceremony = BooleanField("Asks for their samples to be disposed of with ceremony")

"""Forms of the conversion pages: list filters, the postback log search, the CSV upload,
conversion types, a forward's retry."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from tracker.conversions.params import STATUSES
from tracker.conversions.services import RESULTS

ANY = SelectChoice("", "Any")
STATUS_CHOICES = [ANY, *(SelectChoice(status, status) for status in STATUSES)]
RESULT_CHOICES = [ANY, *(SelectChoice(result, result.replace("_", " ")) for result in RESULTS)]
FORWARD_STATUS_CHOICES = [
    ANY,
    *(SelectChoice(s, s) for s in ("pending", "sending", "sent", "failed")),
]


class FilterForm(FlaskForm):
    """Filters read from the query string (GET): no CSRF token needed."""

    class Meta:
        csrf = False


class ConversionFilterForm(FilterForm):
    campaign_id = SelectField("Campaign", choices=[ANY], validate_choice=False)
    status = SelectField("Status", choices=STATUS_CHOICES, validate_choice=False)
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    click_id = StringField("Click ID", validators=[Optional(), Length(max=64)])
    live = BooleanField("Refresh every 15 s")


class LogFilterForm(FilterForm):
    click_id = StringField("Click ID", validators=[Optional(), Length(max=64)])
    result = SelectField("Result", choices=RESULT_CHOICES, validate_choice=False)
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


class ForwardFilterForm(FilterForm):
    status = SelectField("Status", choices=FORWARD_STATUS_CHOICES, validate_choice=False)


class UploadForm(FlaskForm):
    csv_text = TextAreaField("Paste CSV rows", validators=[Optional()])
    csv_file = FileField("…or choose a CSV file")
    apply = BooleanField("Record them (otherwise only check)", default=True)


class ConversionTypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    et_values = StringField("et values", validators=[DataRequired(), Length(max=2000)])
    counts_as_conversion = BooleanField("Counts in conversions", default=True)
    counts_in_revenue = BooleanField("Counts in revenue", default=True)


class DeleteForm(FlaskForm):
    """A button that deletes (the CSRF token is the form)."""


class RetryForm(FlaskForm):
    message_id = HiddenField(validators=[DataRequired()])

"""Forms of the costs page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DecimalField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class CostUpdateForm(FlaskForm):
    campaign_id = SelectField("Campaign", coerce=int, validators=[DataRequired()])
    cost = DecimalField(
        "Total cost", places=6, validators=[DataRequired(), NumberRange(min=0, max=99999999)]
    )
    date_from = DateField("From", validators=[DataRequired()])
    date_to = DateField("To (inclusive)", validators=[DataRequired()])
    tz = StringField("Time zone", validators=[DataRequired(), Length(max=64)])
    variable = StringField(
        "Variable (optional)", validators=[Optional(), Length(max=40)], description="var1 or zone"
    )
    value = StringField("Value", validators=[Optional(), Length(max=255)])
    submit = SubmitField("Apply cost")


class CostImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired()])
    tz = StringField("Time zone of the dates", validators=[DataRequired(), Length(max=64)])
    upload = SubmitField("Import")


class UndoForm(FlaskForm):
    pass

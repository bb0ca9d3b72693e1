"""Forms of the settings pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

ROLE_CHOICES = [
    SelectChoice("viewer", "Viewer: reads reports"),
    SelectChoice("buyer", "Buyer: manages setup, reads reports"),
    SelectChoice("admin", "Admin: manages users and everything"),
]


class AddMemberForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="buyer")


class MemberRoleForm(FlaskForm):
    user_id = HiddenField(validators=[DataRequired()])
    role = SelectField("Role", choices=ROLE_CHOICES)


class RemoveMemberForm(FlaskForm):
    user_id = HiddenField(validators=[DataRequired()])


class NewTokenForm(FlaskForm):
    name = StringField("Label", validators=[Optional(), Length(max=120)])


class RevokeTokenForm(FlaskForm):
    token_id = HiddenField(validators=[DataRequired()])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=1024)])
    confirm = PasswordField(
        "Repeat the new password", validators=[EqualTo("new", message="The two do not match.")]
    )
